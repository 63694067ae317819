package judge

import (
	"fmt"
	"math"
	"slices"
)

// latencyPriorSD is the standard deviation of the normal mixture over the
// effect A - ½ (A = P(canary slower) + ½·P(tie)).
const latencyPriorSD = 0.1

// latencyTest is the sequential Mann-Whitney test (see the package
// comment). It keeps the largest likelihood ratio seen in the canary-slower
// direction, for the always-valid p-value.
type latencyTest struct {
	alpha float64
	maxLR float64
}

// observe runs the rank test on the window's histograms and decides.
func (t *latencyTest) observe(cfg Config, canary, stable []Bucket) CheckResult {
	if t.maxLR == 0 {
		t.maxLR = 1
	}
	r := CheckResult{Alpha: t.alpha, Threshold: 1 / t.alpha, LikelihoodRatio: 1}
	nc, ns := total(canary), total(stable)
	if need := math.Max(cfg.MinRequests, 2); nc < need || ns < need {
		r.MaxLikelihoodRatio, r.PValue = t.maxLR, math.Min(1, 1/t.maxLR)
		r.Phase = Running
		r.Reason = fmt.Sprintf("latency: waiting for data: canary %g, stable %g of the %g successful requests each side needs", nc, ns, cfg.MinRequests)
		return r
	}
	a, variance := mannWhitney(canary, stable)
	d := a - 0.5
	r.ProbSlower = &a
	if variance > 0 {
		z := d / math.Sqrt(variance)
		r.Z = &z
		r.LikelihoodRatio = finite(mixtureLR(d, variance, latencyPriorSD*latencyPriorSD))
	}
	if d > 0 {
		t.maxLR = math.Max(t.maxLR, r.LikelihoodRatio)
	}
	r.MaxLikelihoodRatio, r.PValue = t.maxLR, math.Min(1, 1/t.maxLR)
	q := cfg.Latency.Quantile
	qc, qs := quantile(canary, q), quantile(stable, q)
	if math.IsNaN(qc) || math.IsNaN(qs) { // only a +Inf bucket: no quantile to compare
		qc, qs = 0, 0
	}
	r.Observed, r.Tolerated = qc, tolerated(qs, cfg.Latency.RelativeTolerance, cfg.Latency.AbsoluteTolerance)
	if r.PValue <= r.Alpha && qc > r.Tolerated {
		r.Phase = Failed
		r.Reason = fmt.Sprintf("latency: canary p%g %.4g above the tolerated %.4g (stable %.4g); P(canary slower) %.3f, always-valid p-value %.2g ≤ alpha %g",
			100*q, qc, r.Tolerated, qs, a, r.PValue, r.Alpha)
		return r
	}
	r.Phase = Successful
	r.Reason = fmt.Sprintf("latency: canary p%g %.4g, stable %.4g, P(canary slower) %.3f, p-value %.2g", 100*q, qc, qs, a, r.PValue)
	return r
}

// mannWhitney returns A = U/(n_c·n_s), the probability that a canary
// observation is above a stable one with ties (same bucket) counting
// half, and its variance under the null of identical distributions with
// the tie correction: Var(U) = n_c·n_s/12 · ((N+1) - Σ(t³-t)/(N(N-1))).
func mannWhitney(canary, stable []Bucket) (a, variance float64) {
	nc, ns := total(canary), total(stable)
	n := nc + ns
	var u, ties, below, prevC, prevS float64
	for i := range canary {
		c, s := canary[i].Count-prevC, stable[i].Count-prevS
		prevC, prevS = canary[i].Count, stable[i].Count
		u += c * (below + s/2)
		below += s
		t := c + s
		ties += t*t*t - t
	}
	varU := nc * ns / 12 * ((n + 1) - ties/(n*(n-1)))
	pairs := nc * ns
	return u / pairs, math.Max(0, varU) / (pairs * pairs)
}

// mixtureLR is the normal-mixture likelihood ratio of an estimate d with
// variance v against 0, with a N(0, tau2) prior on the effect:
// sqrt(v/(v+τ²)) · exp(τ²·d² / (2v(v+τ²))).
func mixtureLR(d, v, tau2 float64) float64 {
	return math.Sqrt(v/(v+tau2)) * math.Exp(tau2*d*d/(2*v*(v+tau2)))
}

// finite keeps likelihood ratios representable in JSON.
func finite(f float64) float64 {
	if math.IsInf(f, 1) || f > math.MaxFloat64 {
		return math.MaxFloat64
	}
	return f
}

// total is the number of observations of a cumulative histogram.
func total(h []Bucket) float64 {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].Count
}

// quantile estimates the q-quantile from cumulative buckets as
// Prometheus' histogram_quantile does: linear interpolation inside the
// bucket holding the rank, from 0 (or the previous bound) to the bound;
// in the +Inf bucket, the largest finite bound. NaN without data.
func quantile(h []Bucket, q float64) float64 {
	n := total(h)
	if n == 0 || len(h) < 2 {
		return math.NaN()
	}
	rank := q * n
	i := slices.IndexFunc(h, func(b Bucket) bool { return b.Count >= rank })
	if i == len(h)-1 {
		return h[len(h)-2].UpperBound
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = h[i-1].UpperBound, h[i-1].Count
	} else if h[0].UpperBound <= 0 {
		return h[0].UpperBound
	}
	inBucket := h[i].Count - below
	if inBucket == 0 {
		return h[i].UpperBound
	}
	return lower + (h[i].UpperBound-lower)*(rank-below)/inBucket
}

// checkBuckets: bounds strictly increasing and ending with +Inf, counts
// cumulative (never decreasing), finite and not negative.
func checkBuckets(name string, h []Bucket) error {
	if len(h) == 0 {
		return nil
	}
	if !math.IsInf(h[len(h)-1].UpperBound, 1) {
		return fmt.Errorf("%s: latency: the last bucket is le=%g, want le=+Inf", name, h[len(h)-1].UpperBound)
	}
	for i, b := range h {
		if math.IsNaN(b.UpperBound) || math.IsNaN(b.Count) || math.IsInf(b.Count, 0) || b.Count < 0 {
			return fmt.Errorf("%s: latency: bucket le=%g has count %g", name, b.UpperBound, b.Count)
		}
		if i == 0 {
			continue
		}
		if b.UpperBound <= h[i-1].UpperBound {
			return fmt.Errorf("%s: latency: bucket le=%g follows le=%g: bounds must increase", name, b.UpperBound, h[i-1].UpperBound)
		}
		if b.Count < h[i-1].Count {
			return fmt.Errorf("%s: latency: bucket le=%g counts %g, less than le=%g's %g: buckets must be cumulative",
				name, b.UpperBound, b.Count, h[i-1].UpperBound, h[i-1].Count)
		}
	}
	return nil
}

// sameBounds: the rank test needs both histograms on the same buckets.
// A side without data has no buckets and matches anything.
func sameBounds(canary, stable []Bucket) error {
	if len(canary) == 0 || len(stable) == 0 {
		return nil
	}
	bounds := func(h []Bucket) []float64 {
		out := make([]float64, len(h))
		for i, b := range h {
			out[i] = b.UpperBound
		}
		return out
	}
	if bc, bs := bounds(canary), bounds(stable); !slices.Equal(bc, bs) {
		return fmt.Errorf("%w: canary le=%v, stable le=%v", errBounds, bc, bs)
	}
	return nil
}

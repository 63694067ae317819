package judge

import (
	"fmt"
	"math"
)

// mixtureSize is the number of alternatives in the error test's mixture:
// the canary is (1+tolerance)·2^k times worse than the stable, k = 1..10.
const mixtureSize = 10

// errorTest is the mixture SPRT on the stream of errors (see the package
// comment). It keeps the log likelihood ratio of every alternative and the
// counts last seen, so each interval is weighed with its own traffic split.
type errorTest struct {
	null  float64 // φ0 = 1 + relative tolerance
	alpha float64
	alts  [mixtureSize]float64 // φ_k
	logLR [mixtureSize]float64
	maxLR float64
	seenC Sample
	seenS Sample
}

func newErrorTest(null, alpha float64) errorTest {
	t := errorTest{null: null, alpha: alpha, maxLR: 1}
	for k := range t.alts {
		t.alts[k] = null * math.Exp2(float64(k+1))
	}
	return t
}

// observe adds the interval since the last call and returns the evidence
// (phase not yet decided). The receiver is only changed on success.
func (t *errorTest) observe(canary, stable Sample) (CheckResult, error) {
	dnc, dec := canary.Requests-t.seenC.Requests, canary.Errors-t.seenC.Errors
	dns, des := stable.Requests-t.seenS.Requests, stable.Errors-t.seenS.Errors
	for _, d := range []struct {
		what string
		v    float64
	}{{"canary requests", dnc}, {"canary errors", dec}, {"stable requests", dns}, {"stable errors", des}} {
		if d.v < 0 {
			return CheckResult{}, fmt.Errorf("%s went down from the last observation (by %g): counts are cumulative since the window started", d.what, -d.v)
		}
	}
	// Without traffic on both sides an interval says nothing about which
	// side errs more; its errors are left out, as the conditional test
	// requires.
	if dnc > 0 && dns > 0 && dec+des > 0 {
		q0 := t.null * dnc / (t.null*dnc + dns)
		for k, phi := range t.alts {
			q := phi * dnc / (phi*dnc + dns)
			t.logLR[k] += xlogy(dec, q/q0) + xlogy(des, (1-q)/(1-q0))
		}
	}
	t.seenC, t.seenS = canary, stable
	lr := finite(t.mixture())
	t.maxLR = math.Max(t.maxLR, lr)
	return CheckResult{
		Alpha: t.alpha, Threshold: 1 / t.alpha,
		LikelihoodRatio: lr, MaxLikelihoodRatio: t.maxLR, PValue: math.Min(1, 1/t.maxLR),
	}, nil
}

// xlogy is x·ln(y) with 0·ln(0) = 0.
func xlogy(x, y float64) float64 {
	if x == 0 {
		return 0
	}
	return x * math.Log(y)
}

// mixture is the equal-weight average of the alternatives' likelihood
// ratios, computed in log space.
func (t *errorTest) mixture() float64 {
	m := math.Inf(-1)
	for _, l := range t.logLR {
		m = math.Max(m, l)
	}
	var s float64
	for _, l := range t.logLR {
		s += math.Exp(l - m)
	}
	return math.Exp(m) * s / mixtureSize
}

// decide sets the check's phase: Failed when the test has rejected (the
// always-valid p-value is at most alpha) and the canary's observed error
// rate is above the tolerated one.
func (c *CheckResult) decide(cfg ErrorConfig, canary, stable Sample, enough bool) {
	var pc, ps float64
	if canary.Requests > 0 {
		pc = canary.Errors / canary.Requests
	}
	if stable.Requests > 0 {
		ps = stable.Errors / stable.Requests
	}
	c.Observed, c.Tolerated = pc, tolerated(ps, cfg.RelativeTolerance, cfg.AbsoluteTolerance)
	switch {
	case !enough:
		c.Phase, c.Reason = Running, "waiting for traffic"
	case c.PValue <= c.Alpha && pc > c.Tolerated:
		c.Phase = Failed
		c.Reason = fmt.Sprintf("error rate: canary %s (%g of %g) above the tolerated %s (stable %s), always-valid p-value %.2g ≤ alpha %g",
			percent(pc), canary.Errors, canary.Requests, percent(c.Tolerated), percent(ps), c.PValue, c.Alpha)
	default:
		c.Phase = Successful
		c.Reason = fmt.Sprintf("error rate: canary %s, stable %s, p-value %.2g", percent(pc), percent(ps), c.PValue)
	}
}

func percent(f float64) string { return fmt.Sprintf("%.3g%%", 100*f) }

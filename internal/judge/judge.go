// Package judge is Graylane's canary judge: it compares a canary against
// its stable version over the same window of traffic and says whether the
// canary is worse, as a pure function of the counts it is given (no I/O,
// no clock: the caller passes the time).
//
// Two checks, each valid under continuous monitoring - the judge may be
// asked every second for as long as the canary runs without its false
// failure rate growing past the configured alpha:
//
//   - Errors: a mixture sequential probability ratio test on the stream of
//     errors. Given that an error happened in an interval where the canary
//     served n_c requests and the stable n_s, it came from the canary with
//     probability q = φ·n_c / (φ·n_c + n_s), where φ = p_canary / p_stable
//     is how many times worse the canary is. The null hypothesis is
//     φ ≤ 1 + errors.relativeTolerance; the alternatives are a mixture with
//     equal weights over φ = (1+tolerance)·2^k, k = 1..10. The product of
//     the per-interval likelihood ratios, averaged over the mixture, is a
//     nonnegative supermartingale under the null whatever the stable's own
//     error rate (the likelihood ratio is monotone in the canary's share of
//     the errors, and conditioning on the total errors removes the unknown
//     stable rate), so by Ville's inequality it exceeds 1/alpha at any time
//     with probability at most alpha. Counting errors conditionally makes
//     the test exact for rare errors, where a normal approximation of two
//     proportions is not (at 0.1% errors a second of traffic has one error).
//   - Latency: a Mann-Whitney U test on histogram buckets. Every bucket is
//     a group of ties, so the U statistic and its tie-corrected variance
//     come straight from Prometheus' cumulative `le` buckets. The effect is
//     A = P(canary slower) + ½·P(same bucket); the null is A ≤ ½. For
//     sequential use the standardised effect goes through a normal-mixture
//     likelihood ratio (the mSPRT of Johari et al., "Always valid
//     inference", 2017) with prior standard deviation 0.1 on A - ½, which
//     is again compared with 1/alpha; this bound is asymptotic (it relies
//     on the normal approximation of U, hence the minimum sample size).
//
// A check fails only when its test rejects AND the observed difference is
// larger than the tolerated one (max(stable·(1+relative), stable+absolute)),
// so an identical version never fails beyond alpha and a small, harmless
// difference does not fail at all. Alpha is split equally between the
// enabled checks (Bonferroni), so it bounds the judge's false failures as a
// whole.
package judge

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Phase is a verdict, named as Argo names measurement phases.
type Phase string

// Verdicts.
const (
	// Running: not enough traffic yet to judge.
	Running Phase = "Running"
	// Successful: enough traffic and no degradation detected so far.
	Successful Phase = "Successful"
	// Failed: the canary is worse than tolerated, at the configured alpha.
	Failed Phase = "Failed"
	// Inconclusive: still not enough traffic after InconclusiveAfter.
	Inconclusive Phase = "Inconclusive"
)

// Checks the judge can run.
const (
	CheckErrors  = "errors"
	CheckLatency = "latency"
)

// Defaults of Config.
const (
	DefaultAlpha                    = 0.01
	DefaultMinRequests              = 100
	DefaultInconclusiveAfter        = 5 * time.Minute
	DefaultErrorRelativeTolerance   = 0.5
	DefaultErrorAbsoluteTolerance   = 0.005
	DefaultLatencyRelativeTolerance = 0.2
	DefaultLatencyAbsoluteTolerance = 5
	DefaultLatencyQuantile          = 0.5
)

// Config is how the judge decides. The zero value of every field means its
// default (see WithDefaults).
type Config struct {
	// Checks to run: "errors", "latency". Default: both.
	Checks []string `json:"checks,omitempty"`
	// Alpha bounds the probability that a canary as good as the stable
	// ever fails, over the whole run however often it is judged. Split
	// equally between the checks. Default 0.01.
	Alpha float64 `json:"alpha,omitempty"`
	// MinRequests is how many requests each side must have served in the
	// window before any verdict but Running. Default 100.
	MinRequests float64 `json:"minRequests,omitempty"`
	// InconclusiveAfter: a window this long without MinRequests on both
	// sides gives Inconclusive. Default 5m; negative: never.
	InconclusiveAfter Duration `json:"inconclusiveAfter,omitempty"`
	// Errors configures the error-rate check.
	Errors ErrorConfig `json:"errors,omitzero"`
	// Latency configures the latency check.
	Latency LatencyConfig `json:"latency,omitzero"`
}

// ErrorConfig is the tolerated error-rate degradation: the canary fails
// only above max(stable·(1+RelativeTolerance), stable+AbsoluteTolerance).
type ErrorConfig struct {
	// RelativeTolerance: the canary may have up to 1+this times the
	// stable's error rate. Default 0.5.
	RelativeTolerance float64 `json:"relativeTolerance,omitempty"`
	// AbsoluteTolerance: and up to this much more, as a fraction (0.005 is
	// half a percentage point). Default 0.005.
	AbsoluteTolerance float64 `json:"absoluteTolerance,omitempty"`
}

// LatencyConfig is the tolerated latency degradation at Quantile: the
// canary fails only above max(stable·(1+RelativeTolerance),
// stable+AbsoluteTolerance).
type LatencyConfig struct {
	// Quantile compared for the tolerance, 0 < q < 1. Default 0.5 (median).
	Quantile float64 `json:"quantile,omitempty"`
	// RelativeTolerance: the canary's quantile may be up to 1+this times
	// the stable's. Default 0.2.
	RelativeTolerance float64 `json:"relativeTolerance,omitempty"`
	// AbsoluteTolerance: and up to this much more, in the histogram's unit
	// (milliseconds for Istio). Default 5.
	AbsoluteTolerance float64 `json:"absoluteTolerance,omitempty"`
}

// Duration is a time.Duration written as "30s", "5m" in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "30s"-style strings.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"30s\" or \"5m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// WithDefaults fills the fields left zero.
func (c Config) WithDefaults() Config {
	if len(c.Checks) == 0 {
		c.Checks = []string{CheckErrors, CheckLatency}
	}
	c.Alpha = or(c.Alpha, DefaultAlpha)
	c.MinRequests = or(c.MinRequests, DefaultMinRequests)
	if c.InconclusiveAfter == 0 {
		c.InconclusiveAfter = Duration(DefaultInconclusiveAfter)
	}
	c.Errors.RelativeTolerance = or(c.Errors.RelativeTolerance, DefaultErrorRelativeTolerance)
	c.Errors.AbsoluteTolerance = or(c.Errors.AbsoluteTolerance, DefaultErrorAbsoluteTolerance)
	c.Latency.Quantile = or(c.Latency.Quantile, DefaultLatencyQuantile)
	c.Latency.RelativeTolerance = or(c.Latency.RelativeTolerance, DefaultLatencyRelativeTolerance)
	c.Latency.AbsoluteTolerance = or(c.Latency.AbsoluteTolerance, DefaultLatencyAbsoluteTolerance)
	return c
}

func or(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// Validate reports the first bad field, with its JSON path.
func (c Config) Validate() error {
	for i, ch := range c.Checks {
		if ch != CheckErrors && ch != CheckLatency {
			return fmt.Errorf("checks[%d]: unknown check %q (want %q or %q)", i, ch, CheckErrors, CheckLatency)
		}
	}
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case bad(c.Alpha) || c.Alpha < 0 || c.Alpha >= 1:
		return fmt.Errorf("alpha: %v must be between 0 and 1", c.Alpha)
	case bad(c.MinRequests) || c.MinRequests < 0:
		return fmt.Errorf("minRequests: %v must not be negative", c.MinRequests)
	case bad(c.Errors.RelativeTolerance) || c.Errors.RelativeTolerance < 0:
		return fmt.Errorf("errors.relativeTolerance: %v must not be negative", c.Errors.RelativeTolerance)
	case bad(c.Errors.AbsoluteTolerance) || c.Errors.AbsoluteTolerance < 0 || c.Errors.AbsoluteTolerance >= 1:
		return fmt.Errorf("errors.absoluteTolerance: %v must be a fraction between 0 and 1", c.Errors.AbsoluteTolerance)
	case bad(c.Latency.Quantile) || c.Latency.Quantile < 0 || c.Latency.Quantile >= 1:
		return fmt.Errorf("latency.quantile: %v must be between 0 and 1", c.Latency.Quantile)
	case bad(c.Latency.RelativeTolerance) || c.Latency.RelativeTolerance < 0:
		return fmt.Errorf("latency.relativeTolerance: %v must not be negative", c.Latency.RelativeTolerance)
	case bad(c.Latency.AbsoluteTolerance) || c.Latency.AbsoluteTolerance < 0:
		return fmt.Errorf("latency.absoluteTolerance: %v must not be negative", c.Latency.AbsoluteTolerance)
	}
	return nil
}

// Sample is what one side (canary or stable) served since the window
// started: cumulative counts, never decreasing from one call to the next.
type Sample struct {
	// Requests answered, errors included.
	Requests float64
	// Errors among them (for Istio: response_code 5xx).
	Errors float64
	// Latency histogram of the requests that did not fail, as Prometheus'
	// cumulative buckets (count of observations ≤ UpperBound), sorted, the
	// last one +Inf. Empty: no latency data.
	Latency []Bucket
}

// Bucket is one cumulative histogram bucket (Prometheus' le).
type Bucket struct {
	UpperBound float64 `json:"le"`
	Count      float64 `json:"count"`
}

// Judge judges one canary over one window. Create it with New and call
// Observe with the window's cumulative counts whenever a verdict is wanted.
type Judge struct {
	cfg     Config
	start   time.Time
	errors  errorTest
	latency latencyTest
}

// New starts a judge whose window begins at start.
func New(cfg Config, start time.Time) (*Judge, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	alpha := cfg.Alpha / float64(len(cfg.Checks))
	j := &Judge{cfg: cfg, start: start}
	j.errors = newErrorTest(1+cfg.Errors.RelativeTolerance, alpha)
	j.latency = latencyTest{alpha: alpha}
	return j, nil
}

// Config is the configuration in use, defaults filled.
func (j *Judge) Config() Config { return j.cfg }

// Observe judges the window from its start to now, given what each side
// has served since the start. Request or error counts that go down, errors
// above requests, negative or NaN counts, and histograms that are not
// cumulative or whose buckets do not match are errors; the judge's state
// is unchanged then.
func (j *Judge) Observe(now time.Time, canary, stable Sample) (Verdict, error) {
	if err := checkSample("canary", canary); err != nil {
		return Verdict{}, err
	}
	if err := checkSample("stable", stable); err != nil {
		return Verdict{}, err
	}
	if err := sameBounds(canary.Latency, stable.Latency); err != nil {
		return Verdict{}, err
	}
	errs, err := j.errors.observe(canary, stable)
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{
		Elapsed: Duration(now.Sub(j.start)),
		Alpha:   j.cfg.Alpha,
		Canary:  side(canary, j.cfg.Latency.Quantile),
		Stable:  side(stable, j.cfg.Latency.Quantile),
	}
	enough := canary.Requests >= j.cfg.MinRequests && stable.Requests >= j.cfg.MinRequests
	if slices.Contains(j.cfg.Checks, CheckErrors) {
		errs.decide(j.cfg.Errors, canary, stable, enough)
		v.Errors = &errs
	}
	if slices.Contains(j.cfg.Checks, CheckLatency) {
		lat := j.latency.observe(j.cfg, canary.Latency, stable.Latency)
		v.Latency = &lat
	}
	v.Phase, v.Reason = j.overall(&v, enough)
	return v, nil
}

// overall combines the checks: any failure fails; a check still waiting
// for data keeps the verdict Running (Inconclusive after
// InconclusiveAfter); otherwise Successful.
func (j *Judge) overall(v *Verdict, enough bool) (Phase, string) {
	var waiting string
	for _, c := range []*CheckResult{v.Errors, v.Latency} {
		if c == nil {
			continue
		}
		if c.Phase == Failed {
			return Failed, c.Reason
		}
		if c.Phase == Running && waiting == "" {
			waiting = c.Reason
		}
	}
	if !enough {
		waiting = fmt.Sprintf("waiting for traffic: canary %g, stable %g of the %g requests each side needs",
			v.Canary.Requests, v.Stable.Requests, j.cfg.MinRequests)
	}
	if waiting == "" {
		return Successful, "no degradation detected"
	}
	if after := time.Duration(j.cfg.InconclusiveAfter); after >= 0 && time.Duration(v.Elapsed) >= after {
		return Inconclusive, fmt.Sprintf("after %s: %s", time.Duration(v.Elapsed).Round(time.Second), waiting)
	}
	return Running, waiting
}

func checkSample(name string, s Sample) error {
	for _, f := range []struct {
		field string
		v     float64
	}{{"requests", s.Requests}, {"errors", s.Errors}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("%s: %s: %v is not a count", name, f.field, f.v)
		}
	}
	if s.Errors > s.Requests {
		return fmt.Errorf("%s: %g errors but only %g requests", name, s.Errors, s.Requests)
	}
	return checkBuckets(name, s.Latency)
}

// Verdict is the judge's answer and its evidence.
type Verdict struct {
	Phase  Phase  `json:"phase"`
	Reason string `json:"reason"`
	// Elapsed is the length of the window judged.
	Elapsed Duration `json:"elapsed"`
	// Alpha is the overall false-failure bound.
	Alpha  float64 `json:"alpha"`
	Canary Side    `json:"canary"`
	Stable Side    `json:"stable"`
	// Errors and Latency are the checks' results (nil when not enabled).
	Errors  *CheckResult `json:"errors,omitempty"`
	Latency *CheckResult `json:"latency,omitempty"`
}

// Side is what one version served in the window.
type Side struct {
	Requests  float64 `json:"requests"`
	Errors    float64 `json:"errors"`
	ErrorRate float64 `json:"errorRate"`
	// Latency quantiles of the successful requests, estimated from the
	// buckets by linear interpolation as histogram_quantile does; absent
	// without latency data.
	LatencyCount float64  `json:"latencyCount,omitempty"`
	P50          *float64 `json:"p50,omitempty"`
	P90          *float64 `json:"p90,omitempty"`
	P99          *float64 `json:"p99,omitempty"`
	// Quantile is the value at the configured latency.quantile.
	Quantile *float64 `json:"quantile,omitempty"`
}

func side(s Sample, q float64) Side {
	out := Side{Requests: s.Requests, Errors: s.Errors}
	if s.Requests > 0 {
		out.ErrorRate = s.Errors / s.Requests
	}
	if n := total(s.Latency); n > 0 {
		out.LatencyCount = n
		out.P50, out.P90, out.P99 = number(quantile(s.Latency, 0.5)), number(quantile(s.Latency, 0.9)), number(quantile(s.Latency, 0.99))
		out.Quantile = number(quantile(s.Latency, q))
	}
	return out
}

// number is nil for NaN, which JSON cannot carry.
func number(f float64) *float64 {
	if math.IsNaN(f) {
		return nil
	}
	return &f
}

// CheckResult is one check's verdict and the numbers behind it.
type CheckResult struct {
	Phase  Phase  `json:"phase"`
	Reason string `json:"reason,omitempty"`
	// Alpha is this check's share of the overall alpha; Threshold = 1/Alpha
	// is what the likelihood ratio must reach.
	Alpha     float64 `json:"alpha"`
	Threshold float64 `json:"threshold"`
	// LikelihoodRatio is the current mixture likelihood ratio (evidence
	// that the canary is worse than tolerated); MaxLikelihoodRatio the
	// largest so far, and PValue = min(1, 1/MaxLikelihoodRatio) the
	// always-valid p-value.
	LikelihoodRatio    float64 `json:"likelihoodRatio"`
	MaxLikelihoodRatio float64 `json:"maxLikelihoodRatio"`
	PValue             float64 `json:"pValue"`
	// Observed and Tolerated: the canary's error rate (or latency at the
	// quantile) and the most the tolerance allows, from the stable's.
	Observed  float64 `json:"observed"`
	Tolerated float64 `json:"tolerated"`
	// Latency only: the estimated probability that a canary request is
	// slower than a stable one (ties count half), and its z score.
	ProbSlower *float64 `json:"probSlower,omitempty"`
	Z          *float64 `json:"z,omitempty"`
}

// tolerated is the largest value the tolerance allows over a stable value.
func tolerated(stable, relative, absolute float64) float64 {
	return math.Max(stable*(1+relative), stable+absolute)
}

// errBounds is returned when the two histograms do not have the same buckets.
var errBounds = errors.New("latency: canary and stable histograms have different buckets")

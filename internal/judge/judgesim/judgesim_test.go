package judgesim

import (
	"slices"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/judge"
)

var (
	good = Version{ErrorRate: 0.001, MedianMs: 20, Sigma: 0.5}
	bad  = Version{ErrorRate: 0.05, MedianMs: 20, Sigma: 0.5}
)

// Identical versions never fail, over many seeds, traffic splits and error
// rates (the judge's alpha is 0.01: at most ~1% of these runs could fail;
// the tolerances make it far rarer, and these seeds fail none).
func TestIdenticalNeverFails(t *testing.T) {
	seeds := 20
	if testing.Short() {
		seeds = 10
	}
	for _, tc := range []struct {
		name  string
		share float64
		v     Version
	}{
		{"10% share, 0.1% errors", 0.1, good},
		{"50% share, 0.1% errors", 0.5, good},
		{"10% share, 5% errors", 0.1, bad},
		{"50% share, 30% errors, wide latency", 0.5, Version{ErrorRate: 0.3, MedianMs: 40, Sigma: 1.5}},
		{"1% share, 0.1% errors", 0.01, good},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var failed []uint64
			for seed := range uint64(seeds) {
				res, err := Run(Scenario{RPS: 1000, CanaryShare: tc.share, Canary: tc.v, Stable: tc.v, Seconds: 60}, seed)
				if err != nil {
					t.Fatal(err)
				}
				if res.Phase == judge.Failed {
					failed = append(failed, seed)
					t.Logf("seed %d: %s", seed, res.Verdict.Reason)
				}
			}
			if len(failed) > 0 {
				t.Errorf("identical versions failed with seeds %v", failed)
			}
		})
	}
}

// Clearly worse canaries fail within seconds, for every seed.
func TestWorseCanaryFails(t *testing.T) {
	slow := good
	slow.MedianMs = 60
	for _, tc := range []struct {
		name   string
		share  float64
		canary Version
		check  string
		within time.Duration
	}{
		{"5% errors, 10% share", 0.1, bad, judge.CheckErrors, 10 * time.Second},
		{"5% errors, 50% share", 0.5, bad, judge.CheckErrors, 10 * time.Second},
		{"3x slower, 10% share", 0.1, slow, judge.CheckLatency, 10 * time.Second},
		{"3x slower, 50% share", 0.5, slow, judge.CheckLatency, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var times []time.Duration
			for seed := range uint64(20) {
				res, err := Run(Scenario{RPS: 1000, CanaryShare: tc.share, Canary: tc.canary, Stable: good, Seconds: 60}, seed)
				if err != nil {
					t.Fatal(err)
				}
				var c *judge.CheckResult
				if tc.check == judge.CheckErrors {
					c = res.Verdict.Errors
				} else {
					c = res.Verdict.Latency
				}
				if res.Phase != judge.Failed || c.Phase != judge.Failed {
					t.Fatalf("seed %d: %s after %s (%s), want the %s check to fail", seed, res.Phase, res.At, res.Verdict.Reason, tc.check)
				}
				times = append(times, res.At)
			}
			slices.Sort(times)
			t.Logf("detected in %v (median %v)", times, times[len(times)/2])
			if last := times[len(times)-1]; last > tc.within {
				t.Errorf("slowest detection %v, want within %v", last, tc.within)
			}
		})
	}
}

// Without any tolerance the tests themselves keep their promise: checked
// every second for a minute, identical versions fail at most alpha of the
// time (here alpha 0.05 over 60 seeds: at most 3 failures).
func TestAlphaHoldsWithoutTolerance(t *testing.T) {
	const seeds, alpha = 60, 0.05
	for _, tc := range []struct {
		check string
		share float64
		v     Version
	}{
		{judge.CheckErrors, 0.1, good},
		{judge.CheckErrors, 0.5, Version{ErrorRate: 0.02, MedianMs: 20, Sigma: 0.5}},
		{judge.CheckLatency, 0.1, good},
		{judge.CheckLatency, 0.5, Version{ErrorRate: 0.1, MedianMs: 3, Sigma: 1}},
	} {
		cfg := judge.Config{Checks: []string{tc.check}, Alpha: alpha,
			Errors:  judge.ErrorConfig{RelativeTolerance: 1e-12, AbsoluteTolerance: 1e-12},
			Latency: judge.LatencyConfig{RelativeTolerance: 1e-12, AbsoluteTolerance: 1e-12}}
		fails := 0
		for seed := range uint64(seeds) {
			res, err := Run(Scenario{RPS: 1000, CanaryShare: tc.share, Canary: tc.v, Stable: tc.v, Seconds: 60, Config: cfg}, seed)
			if err != nil {
				t.Fatal(err)
			}
			if res.Phase == judge.Failed {
				fails++
			}
		}
		if fails > seeds*alpha {
			t.Errorf("%s, share %v, error rate %v: %d of %d identical runs failed, want at most %v", tc.check, tc.share, tc.v.ErrorRate, fails, seeds, seeds*alpha)
		}
	}
}

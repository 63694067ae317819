package bench

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/judge"
	"github.com/graylane/graylane/internal/judge/judgesim"
)

// The judge's quality in virtual time (issue 5): seeded per-request draws
// at 1000 rps, judged once per virtual second, 50 runs per case.
//
//	go test ./bench -run '^$' -bench JudgeSim -benchtime 1x
//
// detect-*: a canary failing 5% of its requests against a stable at 0.1%:
// the median, p90 and max time to the Failed verdict (target: median ≤ 5 s).
// identical-*: the same version on both sides for 10 minutes each run:
// false failures (target 0).
func BenchmarkJudgeSim(b *testing.B) {
	const runs = 50
	stable := judgesim.Version{ErrorRate: 0.001, MedianMs: 20, Sigma: 0.5}
	canary := judgesim.Version{ErrorRate: 0.05, MedianMs: 20, Sigma: 0.5}
	for _, share := range []float64{0.1, 0.5} {
		b.Run(fmt.Sprintf("detect-share=%d%%", int(share*100)), func(b *testing.B) {
			for range b.N {
				var times []time.Duration
				for seed := range uint64(runs) {
					res, err := judgesim.Run(judgesim.Scenario{RPS: 1000, CanaryShare: share, Canary: canary, Stable: stable, Seconds: 120}, seed)
					if err != nil {
						b.Fatal(err)
					}
					if res.Phase != judge.Failed {
						b.Fatalf("seed %d: not detected in 120 s: %s", seed, res.Verdict.Reason)
					}
					times = append(times, res.At)
				}
				reportTimes(b, times)
			}
		})
		b.Run(fmt.Sprintf("identical-share=%d%%", int(share*100)), func(b *testing.B) {
			for range b.N {
				failures := 0
				for seed := range uint64(runs) {
					res, err := judgesim.Run(judgesim.Scenario{RPS: 1000, CanaryShare: share, Canary: stable, Stable: stable, Seconds: 600}, 1000+seed)
					if err != nil {
						b.Fatal(err)
					}
					if res.Phase == judge.Failed {
						failures++
					}
				}
				b.ReportMetric(float64(failures), "false-failures")
				b.ReportMetric(runs, "runs")
			}
		})
	}
}

func reportTimes(b *testing.B, times []time.Duration) {
	slices.Sort(times)
	at := func(q float64) float64 { return times[int(q*float64(len(times)-1)+0.5)].Seconds() }
	b.ReportMetric(at(0.5), "median-s")
	b.ReportMetric(at(0.9), "p90-s")
	b.ReportMetric(times[len(times)-1].Seconds(), "max-s")
}

// BenchmarkJudgeObserve is the cost of one verdict on Istio's 20 buckets.
func BenchmarkJudgeObserve(b *testing.B) {
	j, err := judge.New(judge.Config{}, time.Unix(0, 0))
	if err != nil {
		b.Fatal(err)
	}
	hist := func(scale float64) []judge.Bucket {
		out := make([]judge.Bucket, len(judgesim.Buckets))
		for i, ub := range judgesim.Buckets {
			out[i] = judge.Bucket{UpperBound: ub, Count: scale * float64(min(i+1, 8))}
		}
		return out
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		n := float64(i + 1)
		c := judge.Sample{Requests: 100 * n, Errors: n, Latency: hist(12 * n)}
		s := judge.Sample{Requests: 900 * n, Errors: n, Latency: hist(110 * n)}
		if _, err := j.Observe(time.Unix(int64(i), 0), c, s); err != nil {
			b.Fatal(err)
		}
	}
}

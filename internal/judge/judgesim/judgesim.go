// Package judgesim replays canary traffic in virtual time for the judge:
// seeded per-request draws (which side serves it, whether it fails, how
// long it takes) at a fixed rate, judged once per virtual second. Tests
// and bench/ use it to measure how fast the judge detects a bad canary and
// how often it fails a good one, reproducibly and in milliseconds.
package judgesim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/graylane/graylane/internal/judge"
)

// Buckets are Istio's default istio_request_duration_milliseconds buckets.
var Buckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000, math.Inf(1)}

// Version is how one side behaves.
type Version struct {
	// ErrorRate is the probability that a request fails.
	ErrorRate float64
	// MedianMs and Sigma: successful requests take a log-normal time in
	// milliseconds with this median and log standard deviation.
	MedianMs, Sigma float64
}

// Scenario is one replay.
type Scenario struct {
	// RPS is the total request rate, split between the sides.
	RPS int
	// CanaryShare is the fraction of requests the canary serves.
	CanaryShare float64
	Canary      Version
	Stable      Version
	// Seconds is how long to run when nothing fails.
	Seconds int
	// Config is the judge's configuration.
	Config judge.Config
}

// Result is how a replay ended.
type Result struct {
	// Phase is the last verdict: Failed when the judge failed the canary.
	Phase judge.Phase
	// At is the virtual time of the last verdict (the failure, if any).
	At time.Duration
	// Verdict is the last verdict in full.
	Verdict judge.Verdict
}

type side struct {
	requests, errors float64
	perBucket        []float64
}

func (s *side) sample() judge.Sample {
	out := judge.Sample{Requests: s.requests, Errors: s.errors, Latency: make([]judge.Bucket, len(Buckets))}
	var cum float64
	for i, b := range Buckets {
		cum += s.perBucket[i]
		out.Latency[i] = judge.Bucket{UpperBound: b, Count: cum}
	}
	return out
}

func (s *side) serve(r *rand.Rand, v Version) {
	s.requests++
	if r.Float64() < v.ErrorRate {
		s.errors++
		return
	}
	ms := v.MedianMs * math.Exp(v.Sigma*r.NormFloat64())
	i := 0
	for ms > Buckets[i] {
		i++
	}
	s.perBucket[i]++
}

// Run replays the scenario with the seed and stops at the first Failed
// verdict or after Seconds.
func Run(sc Scenario, seed uint64) (Result, error) {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	start := time.Unix(0, 0)
	j, err := judge.New(sc.Config, start)
	if err != nil {
		return Result{}, err
	}
	c := &side{perBucket: make([]float64, len(Buckets))}
	s := &side{perBucket: make([]float64, len(Buckets))}
	var res Result
	for sec := 1; sec <= sc.Seconds; sec++ {
		for range sc.RPS {
			if r.Float64() < sc.CanaryShare {
				c.serve(r, sc.Canary)
			} else {
				s.serve(r, sc.Stable)
			}
		}
		now := start.Add(time.Duration(sec) * time.Second)
		v, err := j.Observe(now, c.sample(), s.sample())
		if err != nil {
			return Result{}, fmt.Errorf("second %d: %w", sec, err)
		}
		res = Result{Phase: v.Phase, At: now.Sub(start), Verdict: v}
		if v.Phase == judge.Failed {
			break
		}
	}
	return res, nil
}

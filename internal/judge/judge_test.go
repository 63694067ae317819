package judge

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// hist builds cumulative buckets over bounds from per-bucket counts.
func hist(bounds []float64, per ...float64) []Bucket {
	out := make([]Bucket, len(bounds))
	var cum float64
	for i, b := range bounds {
		if i < len(per) {
			cum += per[i]
		}
		out[i] = Bucket{UpperBound: b, Count: cum}
	}
	return out
}

var inf = math.Inf(1)
var bounds = []float64{5, 10, 25, 50, 100, inf}

type step struct {
	at             time.Duration
	canary, stable Sample
}

func TestObserve(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		steps   []step // the last one is checked
		want    Phase
		errs    Phase // "" = do not check
		lat     Phase
		reason  string // substring of the reason
		wantErr string
	}{
		{name: "zero traffic", steps: []step{{at: time.Second}},
			want: Running, errs: Running, lat: Running, reason: "waiting for traffic: canary 0, stable 0 of the 100"},
		{name: "zero traffic for too long", steps: []step{{at: 6 * time.Minute}},
			want: Inconclusive, reason: "after 6m0s: waiting for traffic"},
		{name: "never inconclusive", cfg: Config{InconclusiveAfter: Duration(-1)}, steps: []step{{at: time.Hour}}, want: Running},
		{name: "canary without traffic", steps: []step{{at: time.Second, stable: Sample{Requests: 900, Errors: 1, Latency: hist(bounds, 0, 0, 899)}}},
			want: Running, reason: "canary 0, stable 900"},
		{name: "identical", steps: []step{
			{at: time.Second, canary: Sample{Requests: 500, Errors: 1, Latency: hist(bounds, 0, 100, 399)}, stable: Sample{Requests: 500, Errors: 1, Latency: hist(bounds, 0, 100, 399)}}},
			want: Successful, errs: Successful, lat: Successful, reason: "no degradation detected"},
		{name: "all canary requests fail", steps: []step{
			{at: time.Second, canary: Sample{Requests: 100, Errors: 100}, stable: Sample{Requests: 900, Latency: hist(bounds, 0, 900)}}},
			want: Failed, errs: Failed, lat: Running, reason: "error rate: canary 100% (100 of 100) above the tolerated 0.5%"},
		{name: "errors only", cfg: Config{Checks: []string{CheckErrors}}, steps: []step{
			{at: time.Second, canary: Sample{Requests: 100, Errors: 100}, stable: Sample{Requests: 900}}},
			want: Failed, errs: Failed},
		{name: "a few errors on a tiny canary are tolerated", cfg: Config{Checks: []string{CheckErrors}}, steps: []step{
			// 4 of 4 errors on the canary is strong evidence, but 0.2% is under the 0.5-point tolerance
			{at: 10 * time.Second, canary: Sample{Requests: 2000, Errors: 4}, stable: Sample{Requests: 18000}}},
			want: Successful, errs: Successful},
		{name: "both fail everything", steps: []step{
			{at: time.Second, canary: Sample{Requests: 500, Errors: 500}, stable: Sample{Requests: 500, Errors: 500}}},
			want: Running, errs: Successful, lat: Running, reason: "latency: waiting for data"},
		{name: "empty buckets", steps: []step{
			{at: time.Second, canary: Sample{Requests: 500, Latency: hist(bounds)}, stable: Sample{Requests: 500, Latency: hist(bounds)}}},
			want: Running, lat: Running, reason: "latency: waiting for data: canary 0, stable 0"},
		{name: "only +Inf observations", steps: []step{
			{at: time.Second, canary: Sample{Requests: 500, Latency: hist(bounds, 0, 0, 0, 0, 0, 500)}, stable: Sample{Requests: 500, Latency: hist(bounds, 0, 0, 0, 0, 0, 500)}}},
			want: Successful, lat: Successful},
		{name: "canary much slower", steps: []step{
			{at: time.Second, canary: Sample{Requests: 500, Latency: hist(bounds, 0, 0, 0, 100, 400)}, stable: Sample{Requests: 500, Latency: hist(bounds, 100, 400)}}},
			want: Failed, errs: Successful, lat: Failed, reason: "latency: canary p50 68.75 above the tolerated 11.88 (stable 6.875)"},
		{name: "slower but within tolerance", steps: []step{
			// every canary request is one bucket slower (5→10 ms): significant, but 2.5 ms more is tolerated
			{at: time.Second, canary: Sample{Requests: 1000, Latency: hist(bounds, 0, 1000)}, stable: Sample{Requests: 1000, Latency: hist(bounds, 1000)}}},
			want: Successful, lat: Successful},
		{name: "canary faster", steps: []step{
			{at: time.Second, canary: Sample{Requests: 500, Latency: hist(bounds, 500)}, stable: Sample{Requests: 500, Latency: hist(bounds, 0, 0, 0, 500)}}},
			want: Successful, lat: Successful},
		{name: "mismatched bucket boundaries", steps: []step{
			{at: time.Second, canary: Sample{Requests: 1, Latency: hist([]float64{5, 10, inf}, 1)}, stable: Sample{Requests: 1, Latency: hist([]float64{5, 20, inf}, 1)}}},
			wantErr: "latency: canary and stable histograms have different buckets: canary le=[5 10 +Inf], stable le=[5 20 +Inf]"},
		{name: "no +Inf bucket", steps: []step{{at: time.Second, canary: Sample{Requests: 1, Latency: hist([]float64{5, 10}, 1)}}},
			wantErr: "canary: latency: the last bucket is le=10, want le=+Inf"},
		{name: "not cumulative", steps: []step{{at: time.Second, stable: Sample{Requests: 3, Latency: []Bucket{{5, 3}, {10, 2}, {inf, 3}}}}},
			wantErr: "stable: latency: bucket le=10 counts 2, less than le=5's 3: buckets must be cumulative"},
		{name: "bounds out of order", steps: []step{{at: time.Second, stable: Sample{Requests: 3, Latency: []Bucket{{10, 1}, {5, 2}, {inf, 3}}}}},
			wantErr: "stable: latency: bucket le=5 follows le=10: bounds must increase"},
		{name: "more errors than requests", steps: []step{{at: time.Second, canary: Sample{Requests: 10, Errors: 12}}},
			wantErr: "canary: 12 errors but only 10 requests"},
		{name: "negative", steps: []step{{at: time.Second, stable: Sample{Requests: -1}}},
			wantErr: "stable: requests: -1 is not a count"},
		{name: "NaN", steps: []step{{at: time.Second, canary: Sample{Requests: math.NaN()}}},
			wantErr: "canary: requests: NaN is not a count"},
		{name: "counts go down", steps: []step{
			{at: time.Second, canary: Sample{Requests: 100, Errors: 3}, stable: Sample{Requests: 100}},
			{at: 2 * time.Second, canary: Sample{Requests: 100, Errors: 2}, stable: Sample{Requests: 200}}},
			wantErr: "canary errors went down from the last observation (by 1)"},
		{name: "bad config", cfg: Config{Checks: []string{"cpu"}}, wantErr: `checks[0]: unknown check "cpu"`},
		{name: "bad alpha", cfg: Config{Alpha: 2}, wantErr: "alpha: 2 must be between 0 and 1"},
		{name: "bad quantile", cfg: Config{Latency: LatencyConfig{Quantile: 1.5}}, wantErr: "latency.quantile: 1.5 must be between 0 and 1"},
		{name: "bad absolute tolerance", cfg: Config{Errors: ErrorConfig{AbsoluteTolerance: 5}}, wantErr: "errors.absoluteTolerance: 5 must be a fraction"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := run(tc.cfg, tc.steps)
			if tc.wantErr != "" || err != nil {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || tc.wantErr == "" {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			got := []Phase{v.Phase, phase(v.Errors, tc.errs), phase(v.Latency, tc.lat)}
			if diff := cmp.Diff([]Phase{tc.want, tc.errs, tc.lat}, got); diff != "" {
				t.Errorf("phases (overall, errors, latency) -want +got:\n%s\nverdict: %+v", diff, v)
			}
			if !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("reason %q lacks %q", v.Reason, tc.reason)
			}
			if _, err := json.Marshal(v); err != nil {
				t.Errorf("the verdict does not encode: %v", err)
			}
		})
	}
}

func run(cfg Config, steps []step) (Verdict, error) {
	j, err := New(cfg, t0)
	if err != nil {
		return Verdict{}, err
	}
	var v Verdict
	for _, s := range steps {
		if v, err = j.Observe(t0.Add(s.at), s.canary, s.stable); err != nil {
			return v, err
		}
	}
	return v, nil
}

// phase is the check's phase when the case checks it.
func phase(c *CheckResult, want Phase) Phase {
	if want == "" || c == nil {
		return ""
	}
	return c.Phase
}

// An error does not change the judge: the next good observation is judged
// as if the bad one never came.
func TestErrorLeavesStateAlone(t *testing.T) {
	good := []step{
		{at: time.Second, canary: Sample{Requests: 100, Errors: 5}, stable: Sample{Requests: 900}},
		{at: 2 * time.Second, canary: Sample{Requests: 200, Errors: 10}, stable: Sample{Requests: 1800, Errors: 1}},
	}
	want, err := run(Config{}, good)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := New(Config{}, t0)
	if _, err := j.Observe(t0.Add(time.Second), good[0].canary, good[0].stable); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Observe(t0.Add(time.Second), Sample{Requests: 150, Errors: 2}, good[0].stable); err == nil {
		t.Fatal("no error for errors going down")
	}
	got, err := j.Observe(t0.Add(2*time.Second), good[1].canary, good[1].stable)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("-want +got:\n%s", diff)
	}
}

func TestMannWhitney(t *testing.T) {
	for _, tc := range []struct {
		name                string
		canary, stable      []Bucket
		wantA, wantVariance float64
	}{
		// U counts canary-above-stable pairs, ties half. One bucket each,
		// canary above: every pair; the tie correction removes nothing.
		{"separated", hist(bounds, 0, 2), hist(bounds, 2), 1, 2*2/12.0*5/16*0 + 2*2/12.0*(5-(8-2+8-2)/12.0)/16},
		// Everything in one bucket: all ties, A = ½, no variance left.
		{"all ties", hist(bounds, 3), hist(bounds, 3), 0.5, 0},
		// canary {b1, b2}, stable {b1, b2}: pairs (c1,s1) tie, (c1,s2) below,
		// (c2,s1) above, (c2,s2) tie → U = 2; t = 2 per bucket.
		{"mixed", hist(bounds, 1, 1), hist(bounds, 1, 1), 0.5, 1.0 / 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, v := mannWhitney(tc.canary, tc.stable)
			if diff := cmp.Diff([]float64{tc.wantA, tc.wantVariance}, []float64{a, v}); diff != "" {
				t.Errorf("A, variance -want +got:\n%s", diff)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	h := hist(bounds, 10, 10, 0, 0, 0, 5) // 25 observations
	for _, tc := range []struct {
		q, want float64
	}{
		{0.2, 2.5},    // rank 5, halfway through [0,5]
		{0.6, 7.5},    // rank 15, halfway through (5,10]
		{0.8, 10},     // rank 20, the top of (5,10]
		{0.9, 100},    // in +Inf: the largest finite bound
		{0.79, 9.875}, // rank 19.75: 5 + 5·9.75/10
	} {
		if got := quantile(h, tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := quantile(nil, 0.5); !math.IsNaN(got) {
		t.Errorf("quantile of nothing = %v, want NaN", got)
	}
}

func TestConfigJSON(t *testing.T) {
	var c Config
	if err := json.Unmarshal([]byte(`{"checks":["errors"],"alpha":0.02,"inconclusiveAfter":"90s","errors":{"relativeTolerance":1}}`), &c); err != nil {
		t.Fatal(err)
	}
	want := Config{Checks: []string{"errors"}, Alpha: 0.02, MinRequests: DefaultMinRequests, InconclusiveAfter: Duration(90 * time.Second),
		Errors:  ErrorConfig{RelativeTolerance: 1, AbsoluteTolerance: DefaultErrorAbsoluteTolerance},
		Latency: LatencyConfig{Quantile: 0.5, RelativeTolerance: 0.2, AbsoluteTolerance: 5}}
	if diff := cmp.Diff(want, c.WithDefaults()); diff != "" {
		t.Errorf("-want +got:\n%s", diff)
	}
	if err := json.Unmarshal([]byte(`{"inconclusiveAfter":"soon"}`), &c); err == nil {
		t.Error("no error for a bad duration")
	}
}

// FuzzObserve: whatever the counts, Observe never panics; it accepts every
// valid observation (non-negative cumulative counts, errors within
// requests); a verdict it returns reports the counts it was given, has a
// known phase and encodes as JSON (no NaN or Inf in the evidence); and an
// observation it refuses leaves the judge as it was. Counts are fuzzed up
// to 2^53, the counts a float64 (a Prometheus counter) holds exactly;
// beyond that the evidence is not claimed to stay finite.
func FuzzObserve(f *testing.F) {
	f.Add(100.0, 5.0, 900.0, 1.0, 10.0, 80.0, 300.0, 600.0, 200.0, 50.0, 50.0, 0.0)
	f.Add(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
	f.Add(1e12, 1e12, 1.0, 0.0, 1e12, 0.0, 1.0, 0.0, 2.0, 0.0, 1.0, 0.0)
	f.Add(10.0, 20.0, 5.0, 0.0, 1.0, 1.0, 1.0, 1.0, 100.0, 0.0, 100.0, 0.0) // errors above requests, then not
	f.Add(maxCount, 0.0, maxCount, 0.0, maxCount/2, maxCount/2, maxCount, 0.0, 0.0, 0.0, 0.0, 0.0)
	f.Fuzz(func(t *testing.T, nc, ec, ns, es, c1, c2, s1, s2, nc2, ec2, ns2, es2 float64) {
		for _, v := range []float64{nc, ec, ns, es, c1, c2, s1, s2, nc2, ec2, ns2, es2} {
			if math.Abs(v) > maxCount {
				t.Skip("beyond the counts a float64 holds exactly")
			}
		}
		b := []float64{10, 100, inf}
		obs := [][2]Sample{
			{{Requests: nc, Errors: ec, Latency: hist(b, c1, c2)}, {Requests: ns, Errors: es, Latency: hist(b, s1, s2)}},
			{{Requests: nc + nc2, Errors: ec + ec2, Latency: hist(b, c1, c2, 1)}, {Requests: ns + ns2, Errors: es + es2, Latency: hist(b, s1, s2, 1)}},
		}
		j := newJudge(t)
		refusedFirst := false
		var last [2]Sample // the last accepted observation
		for i, o := range obs {
			now := t0.Add(time.Duration(i+1) * time.Second)
			v, err := j.Observe(now, o[0], o[1])
			if err != nil {
				if validObservation(last, o) {
					t.Fatalf("observation %d %+v refused after %+v: %v", i, o, last, err)
				}
				refusedFirst = refusedFirst || i == 0
				continue
			}
			last = o
			if i == 1 && refusedFirst {
				// The refused first observation changed nothing: the same
				// verdict as a judge that never saw it.
				fresh, ferr := newJudge(t).Observe(now, o[0], o[1])
				if ferr != nil {
					t.Fatalf("a fresh judge refuses what this one accepted: %v", ferr)
				}
				if diff := cmp.Diff(fresh, v); diff != "" {
					t.Fatalf("a refused observation changed the judge (-fresh +after refusal):\n%s", diff)
				}
			}
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("verdict %+v does not encode: %v", v, err)
			}
			if v.Phase != Running && v.Phase != Successful && v.Phase != Failed && v.Phase != Inconclusive {
				t.Fatalf("phase %q", v.Phase)
			}
			got := [4]float64{v.Canary.Requests, v.Canary.Errors, v.Stable.Requests, v.Stable.Errors}
			want := [4]float64{o[0].Requests, o[0].Errors, o[1].Requests, o[1].Errors}
			if got != want {
				t.Fatalf("verdict reports counts %v, observed %v", got, want)
			}
		}
	})
}

// maxCount is 2^53: above it a float64 no longer counts one by one.
const maxCount float64 = 1 << 53

func newJudge(t *testing.T) *Judge {
	t.Helper()
	j, err := New(Config{MinRequests: 1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// validObservation: after the last accepted observation, both sides'
// counts are finite, non-negative and not below the last ones, errors do
// not exceed requests, and the histograms are cumulative with finite
// counts.
func validObservation(last, o [2]Sample) bool {
	count := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 }
	for side, s := range o {
		if !count(s.Requests) || !count(s.Errors) || s.Errors > s.Requests ||
			s.Requests < last[side].Requests || s.Errors < last[side].Errors {
			return false
		}
		for i, bk := range s.Latency {
			if !count(bk.Count) || (i > 0 && bk.Count < s.Latency[i-1].Count) {
				return false
			}
		}
	}
	return true
}

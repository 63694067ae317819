package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/analysis"
	"github.com/graylane/graylane/internal/judge"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/measure"
	"github.com/graylane/graylane/internal/plan"
)

// judgeRollout is the pay Rollout (2 replicas, 50% canary, then a pause
// until promoted) whose background analysis is Graylane's judge,
// configured as an upstream Argo AnalysisTemplate (provider.plugin)
// comparing the canary's version against the stable's on the embedded
// Prometheus. The judge measures until the release ends; without enough
// traffic its verdict is Running, which neither passes nor fails.
func judgeRollout(version, errorRate, stableVersion string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: pay}
spec: {selector: {app: pay}, ports: [{port: 8080}]}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: judge}
spec:
  args: [{name: service}, {name: canary}, {name: stable}]
  metrics:
  - name: judge
    interval: 1s
    provider:
      plugin:
        graylane.io/judge:
          canary: destination_service_name="{{args.service}}",destination_version="{{args.canary}}"
          stable: destination_service_name="{{args.service}}",destination_version="{{args.stable}}"
          minRequests: 50
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: pay}
spec:
  replicas: 2
  selector: {matchLabels: {app: pay}}
  template:
    metadata: {labels: {app: pay, version: %[1]s}}
    spec:
      containers:
      - name: pay
        image: graylane/sample
        env: [{name: app, value: pay}, {name: version, value: %[1]s}, {name: error_rate, value: "%[2]s"}]
  strategy:
    canary:
      abortScaleDownDelaySeconds: 0
      analysis:
        templates: [{templateName: judge}]
        args:
        - {name: service, value: pay}
        - {name: canary, value: %[1]s}
        - {name: stable, value: %[3]s}
      steps:
      - setWeight: 50
      - pause: {}
`, version, errorRate, stableVersion)
}

// The judge aborts a canary failing 5% of its requests against a stable
// at 0.1%, with the evidence in the measurement; an identical canary gets a
// Successful verdict on traffic of both sides, and the judge still running
// in the background does not hold back its promotion. The canaries wait in
// an indefinite pause, so only the judge's verdicts (or the test's promote)
// move them: a verdict that waits for traffic never decides anything.
func TestJudgeAbortsAndPromotes(t *testing.T) {
	r := start(t, nil)
	if _, err := r.rt.Apply(mustLoadBytes(t, judgeRollout("v1", "0.001", "v1"))); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, r.rt, "healthy", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Healthy && s.Stable.Ready == 2 })
	defer sendTraffic(r, "pay:8080")()
	defer sendTraffic(r, "pay:8080")()

	if _, err := r.rt.Apply(mustLoadBytes(t, judgeRollout("v2", "0.05", "v1"))); err != nil {
		t.Fatal(err)
	}
	aborted := waitRolloutProgress(t, r.rt, "aborted by the judge", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Degraded })
	if !strings.Contains(aborted.Message, `metric "judge" assessed Failed`) || !strings.Contains(aborted.Message, "error rate: canary") {
		t.Fatalf("message: %q", aborted.Message)
	}
	ev := lastEvidence(t, aborted, judge.Failed)
	if ev.Errors.Phase != judge.Failed || ev.Canary.Requests < 50 || ev.Stable.Requests < 50 || ev.Canary.Errors == 0 ||
		ev.Canary.ErrorRate <= ev.Errors.Tolerated || ev.Errors.PValue > ev.Errors.Alpha {
		t.Errorf("evidence: %+v, errors %+v", ev, ev.Errors)
	}
	if aborted.CanaryWeight != 0 {
		t.Errorf("canary weight %d after the abort", aborted.CanaryWeight)
	}

	// An identical canary (v3, same error rate as v1): the judge finds no
	// degradation on at least 50 requests of each side...
	if _, err := r.rt.Apply(mustLoadBytes(t, judgeRollout("v3", "0.001", "v1"))); err != nil {
		t.Fatal(err)
	}
	judged := waitRolloutProgress(t, r.rt, "judged successful", func(s adminapi.RolloutStatus) bool { return hasMeasurement(s, judge.Successful) })
	if judged.Phase != plan.Paused || judged.Aborted {
		t.Fatalf("judged: %+v", judged)
	}
	ev = lastEvidence(t, judged, judge.Successful)
	if ev.Canary.Requests < 50 || ev.Stable.Requests < 50 || ev.Latency == nil || ev.Latency.ProbSlower == nil {
		t.Errorf("evidence: %+v", ev)
	}
	// ...and, promoted out of its pause, it becomes the stable.
	if _, err := r.rt.Command("default", "pay", plan.Promote); err != nil {
		t.Fatal(err)
	}
	promoted := waitRollout(t, r.rt, "promoted", func(s adminapi.RolloutStatus) bool {
		return s.Phase == plan.Healthy && s.CanaryHash == s.StableHash && s.StableHash == judged.CanaryHash
	})
	if promoted.Aborted {
		t.Errorf("promoted: %+v", promoted)
	}
}

func hasMeasurement(s adminapi.RolloutStatus, p judge.Phase) bool {
	for _, a := range s.Analysis {
		for _, m := range a.Metrics {
			for _, meas := range m.Measurements {
				if string(meas.Phase) == string(p) {
					return true
				}
			}
		}
	}
	return false
}

// lastEvidence decodes the judge's evidence from the last measurement of
// the given phase.
func lastEvidence(t *testing.T, s adminapi.RolloutStatus, p judge.Phase) judge.Verdict {
	t.Helper()
	for _, a := range s.Analysis {
		for _, m := range a.Metrics {
			for i := len(m.Measurements) - 1; i >= 0; i-- {
				if meas := m.Measurements[i]; string(meas.Phase) == string(p) {
					var v judge.Verdict
					if err := json.Unmarshal([]byte(meas.Value), &v); err != nil {
						t.Fatalf("measurement value is not the evidence: %v\n%s", err, meas.Value)
					}
					return v
				}
			}
		}
	}
	t.Fatalf("no %s measurement in %+v", p, s.Analysis)
	return judge.Verdict{}
}

// judgeBenchManifest runs pay v1 (0.1% errors), v2 (5% errors) and v3
// (identical to v1) as Deployments, and splits pay's traffic between the
// stable v1 and the given canary.
func judgeBenchManifest(canary string, share int) string {
	deploy := func(v, rate string) string {
		return fmt.Sprintf(`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: pay-%[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: pay, version: %[1]s}}
  template:
    metadata: {labels: {app: pay, version: %[1]s}}
    spec:
      containers:
      - name: pay
        image: graylane/sample
        env: [{name: app, value: pay}, {name: version, value: %[1]s}, {name: error_rate, value: "%[2]s"}]
`, v, rate)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: pay}
spec: {selector: {app: pay}, ports: [{port: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pay}
spec:
  host: pay
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pay}
spec:
  hosts: [pay]
  http:
  - route:
    - {destination: {host: pay, subset: v1}, weight: %[2]d}
    - {destination: {host: pay, subset: %[1]s}, weight: %[3]d}
%[4]s%[5]s%[6]s`, canary, 100-share, share, deploy("v1", "0.001"), deploy("v2", "0.05"), deploy("v3", "0.001"))
}

// load sends rps requests per second to pay through the client sidecar
// until stopped, open loop: requests that find every worker busy are
// dropped and counted.
type load struct {
	sent, dropped atomic.Int64
	stop          func()
}

func startLoad(r *running, rps int) *load {
	l := &load{}
	proxy, _ := url.Parse("http://" + r.client)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy), MaxIdleConnsPerHost: 128}}
	tokens := make(chan struct{}, 256)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range tokens {
				resp, err := client.Get("http://pay:8080/")
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				l.sent.Add(1)
			}
		}()
	}
	go func() {
		defer close(tokens)
		const tick = 10 * time.Millisecond
		t := time.NewTicker(tick)
		defer t.Stop()
		start, issued := time.Now(), 0
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				due := int(now.Sub(start).Seconds()*float64(rps)) - issued
				for range due {
					select {
					case tokens <- struct{}{}:
					default:
						l.dropped.Add(1)
					}
				}
				issued += due
			}
		}
	}()
	l.stop = func() { close(done); wg.Wait() }
	return l
}

// judgeOnce polls a fresh judge (the graylane.io/judge provider, on the
// embedded Prometheus) every second until it fails the canary or limit
// passes; it returns the time to the Failed verdict, or 0.
func judgeOnce(b *testing.B, rt *Runtime, canary string, limit time.Duration) (time.Duration, judge.Verdict) {
	b.Helper()
	cfg := fmt.Sprintf(`{"canary":"destination_service_name=\"pay\",destination_version=\"%s\"","stable":"destination_service_name=\"pay\",destination_version=\"v1\""}`, canary)
	metric := &rolloutsv1alpha1.Metric{Name: "judge", Provider: rolloutsv1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{judge.PluginName: json.RawMessage(cfg)}}}
	m := &measure.Measurer{PrometheusAddress: rt.prometheusAddress()}
	start := time.Now()
	var last judge.Verdict
	for i := 0; ; i++ {
		v, err := m.Measure(context.Background(), metric)
		if err != nil {
			b.Fatal(err)
		}
		a := v.(analysis.Assessed)
		if err := json.Unmarshal([]byte(a.Value), &last); err != nil {
			b.Fatal(err)
		}
		if a.Phase == analysis.Failed {
			return time.Since(start), last
		}
		if time.Since(start) >= limit {
			return 0, last
		}
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * time.Second)))
	}
}

// BenchmarkJudgeRealTraffic measures the judge on real traffic: the
// sample app behind the embedded sidecars at 1000 rps, the judge polling
// the embedded Prometheus every second. bench/judge-real.sh runs it and
// documents the knobs (JUDGE_RUNS, JUDGE_IDENTICAL_SECONDS, JUDGE_SHARES).
func BenchmarkJudgeRealTraffic(b *testing.B) {
	runs := envInt("JUDGE_RUNS", 50)
	identical := time.Duration(envInt("JUDGE_IDENTICAL_SECONDS", 10)) * time.Second
	r := startBench(b)
	for _, share := range strings.Split(envOr("JUDGE_SHARES", "10,50"), ",") {
		pct, _ := strconv.Atoi(share)
		b.Run("detect-share="+share+"%", func(b *testing.B) {
			apply(b, r.rt, judgeBenchManifest("v2", pct))
			l := startLoad(r, 1000)
			defer func() { l.stop(); b.ReportMetric(float64(l.dropped.Load()), "dropped-requests") }()
			time.Sleep(3 * time.Second) // the new pods are ready and scraped
			var times []time.Duration
			for i := range runs {
				d, v := judgeOnce(b, r.rt, "v2", time.Minute)
				if d == 0 {
					b.Fatalf("run %d: not detected in a minute: %s", i, v.Reason)
				}
				times = append(times, d)
			}
			reportDurations(b, times)
		})
		b.Run("identical-share="+share+"%", func(b *testing.B) {
			apply(b, r.rt, judgeBenchManifest("v3", pct))
			l := startLoad(r, 1000)
			defer func() { l.stop(); b.ReportMetric(float64(l.dropped.Load()), "dropped-requests") }()
			time.Sleep(3 * time.Second)
			failures := 0
			var requests float64
			for range runs {
				if d, v := judgeOnce(b, r.rt, "v3", identical); d != 0 {
					failures++
					b.Logf("false failure: %s", v.Reason)
				} else {
					requests += v.Canary.Requests + v.Stable.Requests
				}
			}
			b.ReportMetric(float64(failures), "false-failures")
			b.ReportMetric(requests/float64(runs)/identical.Seconds(), "judged-rps")
		})
	}
}

// startBench runs a runtime for a benchmark, as start does for tests.
func startBench(b *testing.B) *running {
	b.Helper()
	return startWith(b, nil, nil)
}

func apply(b *testing.B, rt *Runtime, doc string) {
	b.Helper()
	set, err := manifest.LoadBytes("bench.yaml", []byte(doc))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := rt.Apply(set); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(rt.NotReady()) > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("not ready: %v", rt.NotReady())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func reportDurations(b *testing.B, times []time.Duration) {
	slices.Sort(times)
	at := func(q float64) float64 { return times[int(q*float64(len(times)-1)+0.5)].Seconds() }
	b.ReportMetric(at(0.5), "median-s")
	b.ReportMetric(at(0.9), "p90-s")
	b.ReportMetric(times[len(times)-1].Seconds(), "max-s")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

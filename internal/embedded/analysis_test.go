package embedded

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/plan"
)

// analysisManifest is a Rollout gated by a web-provider AnalysisTemplate
// (seed 000's HTTP probe) at its second step.
func analysisManifest(version, probeURL string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: pay}
spec: {selector: {app: pay}, ports: [{port: 8080}]}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: probe}
spec:
  args: [{name: hash}]
  metrics:
  - name: health
    count: 2
    interval: 50ms
    successCondition: result == true
    provider:
      web:
        url: "%s?hash={{args.hash}}"
        jsonPath: "{$.ok}"
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: pay}
spec:
  replicas: 1
  selector: {matchLabels: {app: pay}}
  template:
    metadata: {labels: {app: pay}}
    spec:
      containers:
      - name: pay
        image: graylane/sample
        env: [{name: app, value: pay}, {name: version, value: %s}]
  strategy:
    canary:
      abortScaleDownDelaySeconds: 0
      steps:
      - setWeight: 50
      - analysis:
          templates: [{templateName: probe}]
          args: [{name: hash, valueFrom: {podTemplateHashValue: Latest}}]
`, probeURL, version)
}

func TestAnalysisGatesAStep(t *testing.T) {
	var healthy atomic.Bool
	var lastHash atomic.Value
	probe := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastHash.Store(r.URL.Query().Get("hash"))
		fmt.Fprintf(w, `{"ok": %v}`, healthy.Load())
	}))
	defer probe.Close()
	r := start(t, nil)
	if _, err := r.rt.Apply(mustLoadBytes(t, analysisManifest("v1", probe.URL))); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, r.rt, "healthy", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Healthy && s.Stable.Ready == 1 })

	// A healthy probe lets the canary through.
	healthy.Store(true)
	if _, err := r.rt.Apply(mustLoadBytes(t, analysisManifest("v2", probe.URL))); err != nil {
		t.Fatal(err)
	}
	done := waitRollout(t, r.rt, "promoted by the analysis", func(s adminapi.RolloutStatus) bool {
		return s.Phase == plan.Healthy && s.Stable.Ready == 1 && s.StableHash != "" && s.CanaryHash == s.StableHash && s.Step == 2
	})
	if got, _ := lastHash.Load().(string); got != done.StableHash {
		t.Errorf("the probe got hash %q, want the canary's %q (podTemplateHashValue: Latest)", got, done.StableHash)
	}

	// A failing probe aborts the next canary, with the reason.
	healthy.Store(false)
	if _, err := r.rt.Apply(mustLoadBytes(t, analysisManifest("v3", probe.URL))); err != nil {
		t.Fatal(err)
	}
	aborted := waitRollout(t, r.rt, "aborted by the analysis", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Degraded })
	if !strings.Contains(aborted.Message, `metric "health" assessed Failed`) || aborted.CanaryWeight != 0 {
		t.Errorf("aborted: %+v", aborted)
	}
}

// An analysis whose template does not exist fails with a message that says so.
func TestAnalysisMissingTemplate(t *testing.T) {
	r := start(t, nil)
	doc := strings.Replace(analysisManifest("v1", "http://127.0.0.1:1/"), "templateName: probe", "templateName: nope", 1)
	if _, err := r.rt.Apply(mustLoadBytes(t, doc)); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, r.rt, "healthy", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Healthy })
	if _, err := r.rt.Apply(mustLoadBytes(t, strings.Replace(doc, "value: v1", "value: v2", 1))); err != nil {
		t.Fatal(err)
	}
	aborted := waitRollout(t, r.rt, "aborted", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Degraded })
	if !strings.Contains(aborted.Message, "AnalysisTemplate default/nope not found") {
		t.Errorf("message %q", aborted.Message)
	}
}

// A canary answering 500 to a fifth of its requests is aborted by a
// Prometheus-style AnalysisTemplate (success rate from istio_requests_total,
// as written for a cluster) evaluated by the embedded Prometheus; traffic
// goes back to the stable. The analysis measures until the release ends and
// the canary waits in an indefinite pause, so only a measured success rate
// below 0.95 ends it: a window without data counts as a success, never as
// the end.
func TestPrometheusAnalysisAborts(t *testing.T) {
	doc := func(version, errorRate string) string {
		return successRateRollout(version, errorRate, successRateAnalysis{InitialDelay: "2s"})
	}

	r := start(t, nil)
	if _, err := r.rt.Apply(mustLoadBytes(t, doc("v1", "0"))); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, r.rt, "healthy", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Healthy && s.Stable.Ready == 2 })
	defer sendTraffic(r, "pay:8080")()
	if _, err := r.rt.Apply(mustLoadBytes(t, doc("v2", "0.2"))); err != nil {
		t.Fatal(err)
	}
	aborted := waitRolloutProgress(t, r.rt, "aborted by the success rate", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Degraded })
	if !strings.Contains(aborted.Message, `metric "success-rate" assessed Failed`) {
		t.Fatalf("message: %q", aborted.Message)
	}
	if rate := failedSuccessRate(t, aborted.Analysis); rate >= 0.95 {
		t.Errorf("the failed measurement's success rate is %v, want one below 0.95", rate)
	}
	if aborted.CanaryWeight != 0 {
		t.Errorf("canary weight %d after the abort", aborted.CanaryWeight)
	}
	waitRollout(t, r.rt, "canary scaled down", func(s adminapi.RolloutStatus) bool { return s.Canary.Ready == 0 })
	before := canaryRequests(t, r.rt)
	got := count(t, 100, func() (int, string) { return r.get(t, true, "pay:8080") })
	if got["200 pay(v1)"] != 100 {
		t.Errorf("after the abort: %v", got)
	}
	if after := canaryRequests(t, r.rt); after != before {
		t.Errorf("the canary served %v requests after the abort", after-before)
	}
}

// failedSuccessRate returns the success rate of the last Failed measurement
// of metric success-rate: the data the abort was decided on.
func failedSuccessRate(t *testing.T, runs []adminapi.AnalysisStatus) float64 {
	t.Helper()
	for _, a := range runs {
		for _, m := range a.Metrics {
			for i := len(m.Measurements) - 1; i >= 0; i-- {
				meas := m.Measurements[i]
				if m.Name != "success-rate" || meas.Phase != "Failed" {
					continue
				}
				rate, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(meas.Value, "["), "]"), 64)
				if err != nil {
					t.Fatalf("failed measurement value %q is not one success rate: %v", meas.Value, err)
				}
				return rate
			}
		}
	}
	t.Fatalf("no Failed success-rate measurement in %+v", runs)
	return 0
}

// canaryRequests reads from the embedded Prometheus how many requests the
// v2 pods answered.
func canaryRequests(t *testing.T, rt *Runtime) float64 {
	t.Helper()
	if err := rt.prom.ScrapeOnce(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	v, err := rt.prom.Query(context.Background(), `sum(istio_requests_total{reporter="destination",destination_version="v2"})`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	vec, ok := v.(promql.Vector)
	if !ok || len(vec) != 1 {
		t.Fatalf("query result %v", v)
	}
	return vec[0].F
}

// An analysis whose Prometheus cannot be reached counts errors up to
// consecutiveErrorLimit, then the Rollout is aborted saying why.
func TestUnreachablePrometheusAborts(t *testing.T) {
	doc := strings.Replace(analysisManifest("v1", "http://127.0.0.1:1/"), `    successCondition: result == true
    provider:
      web:
        url: "http://127.0.0.1:1/?hash={{args.hash}}"
        jsonPath: "{$.ok}"`, `    consecutiveErrorLimit: 2
    successCondition: result[0] > 0.95
    provider:
      prometheus:
        address: http://127.0.0.1:1
        query: up{hash="{{args.hash}}"}`, 1)
	if !strings.Contains(doc, "prometheus:") {
		t.Fatal("manifest substitution failed")
	}
	r := start(t, nil)
	if _, err := r.rt.Apply(mustLoadBytes(t, doc)); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, r.rt, "healthy", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Healthy })
	if _, err := r.rt.Apply(mustLoadBytes(t, strings.Replace(doc, "value: v1", "value: v2", 1))); err != nil {
		t.Fatal(err)
	}
	aborted := waitRollout(t, r.rt, "aborted", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Degraded })
	for _, want := range []string{`metric "health" assessed Error`, "3 consecutive errors exceed consecutiveErrorLimit 2", "127.0.0.1:1"} {
		if !strings.Contains(aborted.Message, want) {
			t.Errorf("message %q lacks %q", aborted.Message, want)
		}
	}
}

// successRateAnalysis varies the success-rate AnalysisTemplate of
// successRateRollout: where Prometheus is ("" = the embedded one) and the
// extra label matcher its query needs. The metric has no count: it
// measures until the release ends.
type successRateAnalysis struct {
	InitialDelay string
	Address      string
	Selector     string // e.g. `job="graylane",`
}

// successRateRollout is the pay Rollout (2 replicas, 50% canary, then a
// pause until promoted) whose background analysis is a success rate from
// istio_requests_total, as written for a cluster. No data yet (an empty
// result) counts as a success.
func successRateRollout(version, errorRate string, a successRateAnalysis) string {
	address := ""
	if a.Address != "" {
		address = "\n        address: " + a.Address
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: pay}
spec: {selector: {app: pay}, ports: [{port: 8080}]}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: service}]
  metrics:
  - name: success-rate
    initialDelay: %[4]s
    interval: 1s
    successCondition: len(result) == 0 || result[0] >= 0.95
    provider:
      prometheus:%[5]s
        query: |
          sum(rate(istio_requests_total{%[6]sreporter="source",destination_service=~"{{args.service}}",response_code!~"5.*"}[5s]))
          /
          sum(rate(istio_requests_total{%[6]sreporter="source",destination_service=~"{{args.service}}"}[5s]))
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
        env: [{name: app, value: pay}, {name: version, value: %[2]s}, {name: error_rate, value: "%[3]s"}]
  strategy:
    canary:
      abortScaleDownDelaySeconds: 0
      analysis:
        templates: [{templateName: success-rate}]
        args: [{name: service, value: pay.default.svc.cluster.local}]
      steps:
      - setWeight: 50
      - pause: {}
`, version, version, errorRate, a.InitialDelay, address, a.Selector)
}

// sendTraffic calls host through the client sidecar until the returned
// function is called (which waits for the last call to end).
func sendTraffic(r *running, host string) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _, _ = r.try(true, host)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() { close(stop); <-done }
}

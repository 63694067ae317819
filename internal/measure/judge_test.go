package measure

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/graylane/graylane/internal/analysis"
	"github.com/graylane/graylane/internal/judge"
	"github.com/graylane/graylane/internal/promstore"
)

func judgeMetric(config string) *rolloutsv1alpha1.Metric {
	return &rolloutsv1alpha1.Metric{Name: "judge", Provider: rolloutsv1alpha1.MetricProvider{
		Plugin: map[string]json.RawMessage{judge.PluginName: json.RawMessage(config)},
	}}
}

func TestJudgeConfigErrors(t *testing.T) {
	m := &Measurer{PrometheusAddress: "http://127.0.0.1:1"}
	for _, tc := range []struct{ name, config, want string }{
		{"unknown field", `{"canary":"a=\"1\"","stable":"a=\"2\"","aplha":0.1}`, `graylane.io/judge: json: unknown field "aplha"`},
		{"no canary", `{"stable":"a=\"2\""}`, "graylane.io/judge: canary: a PromQL label selector is required"},
		{"bad selector", `{"canary":"a=1","stable":"a=\"2\""}`, `graylane.io/judge: canary: "a=1" is not a list of PromQL label matchers`},
		{"same selector", `{"canary":"a=\"1\"","stable":"a=\"1\""}`, "canary and stable select the same series"},
		{"bad alpha", `{"canary":"a=\"1\"","stable":"a=\"2\"","alpha":3}`, "graylane.io/judge: alpha: 3 must be between 0 and 1"},
		{"bad tolerance", `{"canary":"a=\"1\"","stable":"a=\"2\"","errors":{"relativeTolerance":-1}}`, "errors.relativeTolerance: -1 must not be negative"},
		{"bad duration", `{"canary":"a=\"1\"","stable":"a=\"2\"","inconclusiveAfter":"later"}`, `time: invalid duration "later"`},
		{"bad errorCodes", `{"canary":"a=\"1\"","stable":"a=\"2\"","errorCodes":"5(("}`, "graylane.io/judge: errorCodes: error parsing regexp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Measure(context.Background(), judgeMetric(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "metric judge: ") {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	other := &rolloutsv1alpha1.Metric{Name: "x", Provider: rolloutsv1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"argoproj-labs/sample": json.RawMessage(`{}`)}}}
	if _, err := m.Measure(context.Background(), other); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "argoproj-labs/sample") {
		t.Errorf("another plugin: %v", err)
	}
}

// istio is a registry with Istio's two standard metrics, scraped into the
// embedded Prometheus and served over its HTTP API on loopback.
type istio struct {
	store    *promstore.Store
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	addr     string
	at       time.Time
}

func newIstio(t *testing.T) *istio {
	t.Helper()
	reg := prometheus.NewRegistry()
	labels := []string{"reporter", "destination_service_name", "destination_version", "destination_workload", "response_code"}
	i := &istio{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "istio_requests_total"}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "istio_request_duration_milliseconds",
			Buckets: []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000}}, labels),
		at: time.Now().Add(-3 * time.Minute),
	}
	reg.MustRegister(i.requests, i.duration)
	st, err := promstore.New(reg, promstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(st.Handler())
	t.Cleanup(func() { srv.Close(); _ = st.Close() })
	i.store, i.addr = st, srv.URL
	return i
}

// serve records n requests of a version (from one pod), errs of them 500.
func (i *istio) serve(version, pod string, n, errs int, ms float64) {
	for k := range n {
		code := "200"
		if k < errs {
			code = "500"
		}
		for _, rep := range []string{"source", "destination"} {
			i.requests.WithLabelValues(rep, "order", version, pod, code).Inc()
			i.duration.WithLabelValues(rep, "order", version, pod, code).Observe(ms)
		}
	}
}

func (i *istio) scrape(t *testing.T) {
	t.Helper()
	i.at = i.at.Add(time.Second)
	if err := i.store.ScrapeOnce(context.Background(), i.at); err != nil {
		t.Fatal(err)
	}
}

const orderJudge = `{"canary":"destination_service_name=\"order\",destination_version=\"v2\"","stable":"destination_service_name=\"order\",destination_version=\"v1\""}`

// The judge reads both sides' increases since its first measurement from
// Prometheus (the traffic before it is the baseline) and decides: a
// canary failing 5% of its requests against a stable at 0.1% fails, with
// the evidence in the value.
func TestJudgeMeasuresPrometheus(t *testing.T) {
	ist := newIstio(t)
	ist.serve("v1", "order-v1", 5000, 500, 3) // history before the window: ignored
	ist.scrape(t)
	m := &Measurer{PrometheusAddress: ist.addr}
	var last analysis.Assessed
	var phases []analysis.Phase
	for sec := range 5 {
		if sec > 0 {
			ist.serve("v1", "order-v1", 900, 1, 3)
			ist.serve("v2", "order-v2", 100, 5, 3)
			ist.scrape(t)
		}
		v, err := m.Measure(context.Background(), judgeMetric(orderJudge))
		if err != nil {
			t.Fatal(err)
		}
		last = v.(analysis.Assessed)
		phases = append(phases, last.Phase)
		if last.Phase == analysis.Failed {
			break
		}
	}
	if phases[0] != analysis.Running || phases[len(phases)-1] != analysis.Failed {
		t.Fatalf("phases %v, want Running first and Failed at last", phases)
	}
	var ev judge.Verdict
	if err := json.Unmarshal([]byte(last.Value), &ev); err != nil {
		t.Fatalf("value is not the evidence: %v\n%s", err, last.Value)
	}
	secs := float64(len(phases) - 1)
	got := []float64{ev.Canary.Requests, ev.Canary.Errors, ev.Stable.Requests, ev.Stable.Errors, ev.Canary.LatencyCount}
	want := []float64{100 * secs, 5 * secs, 900 * secs, secs, 95 * secs}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("canary requests, errors, stable requests, errors, canary latency count -want +got:\n%s", diff)
	}
	t.Logf("evidence: %s", last.Value)
	if ev.Errors == nil || ev.Errors.Phase != judge.Failed || !strings.Contains(last.Message, "error rate: canary 5%") {
		t.Errorf("message %q, errors %+v", last.Message, ev.Errors)
	}
}

// Identical versions are Successful once both have traffic; a restarted
// pod (counter reset) and a new pod (a series that appears) count what
// they served inside the window only.
func TestJudgeCountersAcrossPods(t *testing.T) {
	ist := newIstio(t)
	ist.serve("v1", "order-v1-a", 300, 0, 3)
	ist.serve("v2", "order-v2-a", 300, 0, 3)
	ist.scrape(t)
	m := &Measurer{PrometheusAddress: ist.addr}
	measure := func() judge.Verdict {
		t.Helper()
		v, err := m.Measure(context.Background(), judgeMetric(orderJudge))
		if err != nil {
			t.Fatal(err)
		}
		var ev judge.Verdict
		if err := json.Unmarshal([]byte(v.(analysis.Assessed).Value), &ev); err != nil {
			t.Fatal(err)
		}
		if string(ev.Phase) != string(v.(analysis.Assessed).Phase) {
			t.Fatalf("phase %s, evidence %s", v.(analysis.Assessed).Phase, ev.Phase)
		}
		return ev
	}
	measure()
	ist.serve("v1", "order-v1-a", 200, 0, 3)
	ist.serve("v2", "order-v2-a", 200, 0, 3)
	ist.scrape(t)
	measure()
	// order-v2-a restarts: its counters start again from zero.
	ist.requests.DeleteLabelValues("destination", "order", "v2", "order-v2-a", "200")
	ist.duration.DeleteLabelValues("destination", "order", "v2", "order-v2-a", "200")
	ist.serve("v2", "order-v2-a", 50, 0, 3)
	ist.serve("v2", "order-v2-b", 70, 0, 3) // a new pod
	ist.serve("v1", "order-v1-a", 120, 0, 3)
	ist.scrape(t)
	ev := measure()
	got := []any{ev.Phase, ev.Canary.Requests, ev.Stable.Requests, ev.Canary.LatencyCount}
	want := []any{judge.Successful, 200.0 + 50 + 70, 320.0, 320.0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("phase, canary requests, stable requests, canary latency count -want +got:\n%s", diff)
	}
}

func TestSampleKey(t *testing.T) {
	a := promSample{Metric: map[string]string{"a": "1", "b": `x",c="y`}}
	b := promSample{Metric: map[string]string{"a": "1", "b": "x", "c": "y"}}
	if a.key() == b.key() {
		t.Errorf("different label sets share the key %s", a.key())
	}
}

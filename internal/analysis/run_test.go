package analysis

import (
	"errors"
	"strings"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func template(t *testing.T, doc string) *rolloutsv1alpha1.AnalysisTemplateSpec {
	t.Helper()
	var s rolloutsv1alpha1.AnalysisTemplateSpec
	if err := yaml.UnmarshalStrict([]byte(doc), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// successRate is the seed-style Prometheus template: 3 measurements, 10s
// apart, one failure tolerated.
const successRate = `
args: [{name: service}]
metrics:
- name: success-rate
  interval: 10s
  count: 3
  failureLimit: 1
  successCondition: result[0] >= 0.95
  provider:
    prometheus:
      address: http://prometheus:9090
      query: sum(rate(istio_requests_total{destination_service=~"{{args.service}}",response_code!~"5.*"}[1m])) / sum(rate(istio_requests_total{destination_service=~"{{args.service}}"}[1m]))
`

func TestRunLimits(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name   string
		values []any
		errs   []error
		want   Phase
	}{
		{"all good", []any{[]float64{0.99}, []float64{0.97}, []float64{1}}, nil, Successful},
		{"one failure is tolerated", []any{[]float64{0.99}, []float64{0.5}, []float64{1}}, nil, Successful},
		{"two failures fail", []any{[]float64{0.5}, []float64{0.5}}, nil, Failed},
		{"errors up to the limit, then error", []any{nil, nil, nil, nil, nil}, []error{errors.New("down"), errors.New("down"), errors.New("down"), errors.New("down"), errors.New("down")}, Error},
		{"errors below the limit do not decide", []any{nil, []float64{0.99}, []float64{0.99}, []float64{0.99}}, []error{errors.New("blip"), nil, nil, nil}, Successful},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New([]*rolloutsv1alpha1.AnalysisTemplateSpec{template(t, successRate)}, map[string]string{"service": "order.shop.svc.cluster.local"}, t0)
			if err != nil {
				t.Fatal(err)
			}
			if q := r.Metrics[0].Provider.Prometheus.Query; q == "" || strings.Contains(q, "{{") {
				t.Fatalf("args not substituted: %s", q)
			}
			now := t0
			for i, v := range tc.values {
				due, _ := r.Due(now)
				if len(due) != 1 {
					t.Fatalf("measurement %d: due %v", i, due)
				}
				var e error
				if i < len(tc.errs) {
					e = tc.errs[i]
				}
				r.Record(0, now, v, e)
				now = now.Add(10 * time.Second)
			}
			if diff := cmp.Diff(tc.want, r.Phase); diff != "" {
				t.Errorf("phase (-want +got):\n%s\n%s", diff, r.Message)
			}
		})
	}
}

func TestConditions(t *testing.T) {
	tests := []struct {
		success, failure string
		value            any
		want             Phase
	}{
		{"result == true", "", true, Successful},
		{"result == true", "", false, Failed},
		{"", "result > 10", 11.0, Failed},
		{"", "result > 10", 3.0, Successful},
		{"result < 5", "result > 10", 7.0, Inconclusive},
		{"result[0] >= 0.95 && !isNaN(result[0])", "", []float64{0.96}, Successful},
		{"asInt(result) == 200", "", "200", Successful},
		{"result ==", "", 1.0, Error},
	}
	for _, tc := range tests {
		m := &rolloutsv1alpha1.Metric{SuccessCondition: tc.success, FailureCondition: tc.failure}
		if got, msg := assess(m, tc.value); got != tc.want {
			t.Errorf("%q / %q on %v: %s (%s), want %s", tc.success, tc.failure, tc.value, got, msg, tc.want)
		}
	}
}

func TestInitialDelayAndDryRun(t *testing.T) {
	spec := template(t, `
dryRun: [{metricName: shadow}]
metrics:
- name: probe
  initialDelay: 5s
  successCondition: result == "ok"
  provider: {web: {url: "http://x/"}}
- name: shadow
  successCondition: "false"
  provider: {web: {url: "http://x/"}}
`)
	t0 := time.Unix(1_800_000_000, 0)
	r, err := New([]*rolloutsv1alpha1.AnalysisTemplateSpec{spec}, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	due, wake := r.Due(t0)
	if diff := cmp.Diff([]int{1}, due); diff != "" || !wake.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("due %v wake %v", due, wake)
	}
	r.Record(1, t0, "x", nil) // the dry-run metric fails: it does not count
	if r.Phase != Running {
		t.Fatalf("dry-run failure decided the run: %s", r.Phase)
	}
	due, _ = r.Due(t0.Add(5 * time.Second))
	if len(due) != 1 || due[0] != 0 {
		t.Fatalf("after the delay: %v", due)
	}
	r.Record(0, t0.Add(5*time.Second), "ok", nil)
	if r.Phase != Successful {
		t.Fatalf("phase %s: %s", r.Phase, r.Message)
	}
}

func TestMissingArgument(t *testing.T) {
	if _, err := New([]*rolloutsv1alpha1.AnalysisTemplateSpec{template(t, successRate)}, nil, time.Now()); err == nil {
		t.Error("want an error for the missing argument")
	}
}

// An argument not given takes the template's default value; a given one
// wins over the default; an argument two templates declare with the same
// default is one argument; both placeholder spellings are replaced.
func TestArgumentDefaults(t *testing.T) {
	first := template(t, `
args: [{name: service}, {name: threshold, value: "0.95"}, {name: window, value: 5m}]
metrics:
- name: rate
  successCondition: result[0] >= {{args.threshold}}
  provider:
    prometheus:
      address: http://prometheus:9090
      query: sum(rate(requests{service="{{args.service}}"}[{{ args.window }}]))
`)
	second := template(t, `
args: [{name: window, value: 5m}, {name: service}]
metrics:
- name: probe
  provider: {web: {url: "http://probe/{{args.service}}?window={{args.window}}"}}
`)
	for _, tc := range []struct {
		name       string
		args       map[string]string
		wantQuery  string
		wantCond   string
		wantWebURL string
	}{
		{"defaults", map[string]string{"service": "order"},
			`sum(rate(requests{service="order"}[5m]))`, "result[0] >= 0.95", "http://probe/order?window=5m"},
		{"given values win", map[string]string{"service": "pay", "threshold": "0.99", "window": "30s"},
			`sum(rate(requests{service="pay"}[30s]))`, "result[0] >= 0.99", "http://probe/pay?window=30s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New([]*rolloutsv1alpha1.AnalysisTemplateSpec{first, second}, tc.args, time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			got := []string{r.Metrics[0].Provider.Prometheus.Query, r.Metrics[0].SuccessCondition, r.Metrics[1].Provider.Web.URL}
			if diff := cmp.Diff([]string{tc.wantQuery, tc.wantCond, tc.wantWebURL}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// The templates themselves are left as they were: a run substitutes
	// into its own copies.
	if q := first.Metrics[0].Provider.Prometheus.Query; !strings.Contains(q, "{{args.service}}") {
		t.Errorf("the template was changed: %s", q)
	}
}

// Durations that do not parse are refused when the run starts, naming the
// metric and the field; empty ones mean "none".
func TestInvalidDurations(t *testing.T) {
	for _, tc := range []struct {
		name, fields, wantErr string
	}{
		{"interval without a unit", "interval: \"30\"", `metric m: interval: time: missing unit in duration "30"`},
		{"interval that is not a duration", "interval: soon", `metric m: interval: time: invalid duration "soon"`},
		{"initialDelay with a space before the unit", "initialDelay: 5 s", `metric m: initialDelay: time: unknown unit " s" in duration "5 s"`},
		{"valid", "interval: 1m\n  initialDelay: 10s", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := template(t, "metrics:\n- name: m\n  "+tc.fields+"\n  provider: {web: {url: \"http://x/\"}}\n")
			_, err := New([]*rolloutsv1alpha1.AnalysisTemplateSpec{spec}, nil, time.Unix(0, 0))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.wantErr {
				t.Errorf("error %q, want %q", got, tc.wantErr)
			}
		})
	}
}

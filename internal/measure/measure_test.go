package measure

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestWeb(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			if r.Header.Get("X-Token") != "t" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			_, _ = w.Write([]byte(`{"data":{"ok":true,"errors":3,"version":"v2"}}`))
		case "/text":
			_, _ = w.Write([]byte("ready\n"))
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	m := &Measurer{}
	tests := []struct {
		name    string
		web     rolloutsv1alpha1.WebMetric
		want    any
		wantErr string
	}{
		{"jsonPath bool", rolloutsv1alpha1.WebMetric{URL: srv.URL + "/health", JSONPath: "{$.data.ok}", Headers: []rolloutsv1alpha1.WebMetricHeader{{Key: "X-Token", Value: "t"}}}, true, ""},
		{"jsonPath number", rolloutsv1alpha1.WebMetric{URL: srv.URL + "/health", JSONPath: "{$.data.errors}", Headers: []rolloutsv1alpha1.WebMetricHeader{{Key: "X-Token", Value: "t"}}}, 3.0, ""},
		{"plain text", rolloutsv1alpha1.WebMetric{URL: srv.URL + "/text"}, "ready", ""},
		{"status", rolloutsv1alpha1.WebMetric{URL: srv.URL + "/boom"}, nil, "answered 500"},
		{"missing path", rolloutsv1alpha1.WebMetric{URL: srv.URL + "/health", JSONPath: "{$.data.nope}", Headers: []rolloutsv1alpha1.WebMetricHeader{{Key: "X-Token", Value: "t"}}}, nil, "nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.web
			got, err := m.Measure(context.Background(), &rolloutsv1alpha1.Metric{Name: "m", Provider: rolloutsv1alpha1.MetricProvider{Web: &w}})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrometheusResults(t *testing.T) {
	tests := []struct {
		typ, raw string
		want     any
		wantErr  string
	}{
		{"vector", `[{"metric":{},"value":[1800000000.1,"0.95"]}]`, []float64{0.95}, ""},
		{"vector", `[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"+Inf"]}]`, []float64{1, math.Inf(1)}, ""},
		{"vector", `[]`, []float64{}, ""},
		// 0/0 in PromQL (no traffic in a success rate) is NaN: conditions
		// see it (isNaN(result[0])) rather than an error.
		{"vector", `[{"value":[1,"NaN"]}]`, []float64{math.NaN()}, ""},
		{"scalar", `[1800000000,"42"]`, 42.0, ""},
		{"scalar", `[1800000000,"NaN"]`, math.NaN(), ""},
		{"matrix", `[]`, nil, `result type "matrix" is not supported`},
		{"vector", `[{"value":[1,"many"]}]`, nil, `sample value "many"`},
		{"vector", `[{"value":[1,0.5]}]`, nil, "sample value 0.5 is not a string"},
	}
	for _, tc := range tests {
		got, err := promValue(tc.typ, []byte(tc.raw))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s %s: got %v, %v; want an error containing %q", tc.typ, tc.raw, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", tc.typ, tc.raw, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateNaNs()); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", tc.typ, tc.raw, diff)
		}
	}
}

func TestUnsupportedAndUnreachable(t *testing.T) {
	m := &Measurer{}
	_, err := m.Measure(context.Background(), &rolloutsv1alpha1.Metric{Name: "j", Provider: rolloutsv1alpha1.MetricProvider{Job: &rolloutsv1alpha1.JobMetric{}}})
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("job: %v", err)
	}
	_, err = m.Measure(context.Background(), &rolloutsv1alpha1.Metric{Name: "p", Provider: rolloutsv1alpha1.MetricProvider{Prometheus: &rolloutsv1alpha1.PrometheusMetric{Address: "http://127.0.0.1:1", Query: "up"}}})
	if err == nil || !strings.Contains(err.Error(), "prometheus") {
		t.Errorf("unreachable prometheus: %v", err)
	}
}

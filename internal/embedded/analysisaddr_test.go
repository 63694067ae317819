package embedded

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
)

func TestInClusterHost(t *testing.T) {
	for host, want := range map[string]bool{
		"prometheus.istio-system":                        true,
		"prometheus.istio-system.svc":                    true,
		"prometheus-server.monitoring.svc.cluster.local": true,
		"prometheus.monitoring.svc.k8s.example":          true,
		"Prometheus.Istio-System.":                       true,
		"prometheus":                                     false, // a single name: not a Service of a namespace
		"prom.example.com":                               false,
		"127.0.0.1":                                      false,
		"::1":                                            false,
		"a_b.ns":                                         false,
		"-a.ns":                                          false,
		"":                                               false,
	} {
		if got := inClusterHost(host); got != want {
			t.Errorf("inClusterHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func FuzzInClusterHost(f *testing.F) {
	for _, s := range []string{"prometheus.istio-system", "a.b.svc.cluster.local", "1.2.3.4", "x", "a..b", "::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if !inClusterHost(host) {
			return
		}
		h := strings.TrimSuffix(host, ".")
		if net.ParseIP(h) != nil || strings.Count(h, ".") < 1 {
			t.Errorf("inClusterHost(%q): an IP or a single name", host)
		}
	})
}

// An address that names an in-cluster Prometheus this machine cannot
// reach goes to the Prometheus analysis uses here; any other address -
// one that answers, a single name, an IP - is used as given.
func TestLocalPrometheus(t *testing.T) {
	real := httptest.NewServer(http.NotFoundHandler())
	defer real.Close()
	const here = "http://127.0.0.1:15000"
	r := &Runtime{opts: Options{Prometheus: here}}
	for _, tc := range []struct {
		addr, want, why string
	}{
		{"http://prometheus.istio-system.svc:9090", here, "does not resolve here"},
		{"http://prometheus.istio-system:9090", here, "does not resolve here"},
		{"http://prometheus-server.monitoring.svc.cluster.local", here, "does not resolve here"},
		{real.URL, real.URL, ""},
		{"http://prometheus:9090", "http://prometheus:9090", ""},
		{"http://127.0.0.1:1", "http://127.0.0.1:1", ""},
		{here + "/", here + "/", ""},
	} {
		got, why := r.localPrometheus(context.Background(), "shop", tc.addr)
		if !strings.Contains(why, tc.why) || (tc.why == "") != (why == "") {
			t.Errorf("%s: why %q, want %q", tc.addr, why, tc.why)
		}
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.addr, got, tc.want)
		}
	}
}

// The judge plugin's address is mapped like a prometheus provider's, and
// each mapped address is logged once.
func TestLocalizeMetrics(t *testing.T) {
	const here = "http://127.0.0.1:15000"
	var logs syncBuffer
	r, err := New(Options{Prometheus: here}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	const cluster = "http://prometheus.istio-system:9090"
	judge := func(addr string) json.RawMessage {
		return json.RawMessage(`{"address":"` + addr + `","canary":"destination_version=\"v2\"","stable":"destination_version=\"v1\""}`)
	}
	for range 2 {
		metrics := []rolloutsv1alpha1.Metric{
			{Name: "rate", Provider: rolloutsv1alpha1.MetricProvider{Prometheus: &rolloutsv1alpha1.PrometheusMetric{Address: cluster, Query: "up"}}},
			{Name: "judge", Provider: rolloutsv1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"graylane.io/judge": judge(cluster)}}},
		}
		r.localizeMetrics(context.Background(), "shop", metrics)
		got := []string{metrics[0].Provider.Prometheus.Address, string(metrics[1].Provider.Plugin["graylane.io/judge"])}
		if diff := cmp.Diff([]string{here, string(judge(here))}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
	if n := strings.Count(logs.tail(10000), "prometheus address "+cluster+" names an in-cluster Prometheus"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.tail(10000))
	}
}

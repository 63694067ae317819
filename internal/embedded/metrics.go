package embedded

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graylane/graylane/internal/route"
)

// metrics are Istio's standard request metrics, same names and labels, so
// PromQL written for a cluster (success rate from istio_requests_total,
// latency from istio_request_duration_milliseconds) works unchanged.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

var istioLabels = []string{
	"reporter", "source_workload", "source_workload_namespace", "source_app", "source_version",
	"destination_service", "destination_service_name", "destination_service_namespace",
	"destination_workload", "destination_workload_namespace", "destination_app", "destination_version",
	"request_protocol", "response_code", "response_flags", "connection_security_policy",
}

// istioBuckets are Istio's default duration buckets (milliseconds).
var istioBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "istio_requests_total", Help: "Requests processed by the embedded proxies (Istio standard metric).",
		}, istioLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "istio_request_duration_milliseconds", Help: "Request duration in milliseconds (Istio standard metric).", Buckets: istioBuckets,
		}, istioLabels),
	}
	m.registry.MustRegister(m.requests, m.duration)
	return m
}

// metric collects what one request will be reported with.
type metric struct {
	caller *caller
	start  time.Time
	dest   string // destination service FQDN
	pod    *pod
	flags  string
}

// record counts the request once per reporter (source and destination),
// as the two sidecars of a real mesh both do.
func (m *metric) record(ms *metrics, code int, flags string, p *pod) {
	if flags == "" {
		flags = m.flags
	}
	if flags == "" {
		flags = "-"
	}
	if p == nil {
		p = m.pod
	}
	svcName, svcNS, _ := route.ServiceOf(m.dest)
	dw, dns, dapp, dver := "unknown", "unknown", "unknown", "unknown"
	if p != nil {
		dw, dns = workloadName(p.spec.workload), p.spec.namespace
		dapp, dver = labelOr(p.spec.labels, "app"), labelOr(p.spec.labels, "version")
	}
	dest := m.dest
	if dest == "" {
		dest, svcName, svcNS = "unknown", "unknown", "unknown"
	}
	ns := m.caller.source.Namespace
	if ns == "" {
		ns = "default"
	}
	values := []string{"source", m.caller.workload, ns, m.caller.app, m.caller.version,
		dest, svcName, svcNS, dw, dns, dapp, dver, "http", strconv.Itoa(code), flags, "unknown"}
	ms.observe(values, time.Since(m.start))
	if p != nil {
		values[0] = "destination"
		ms.observe(values, time.Since(m.start))
	}
}

func (ms *metrics) observe(values []string, d time.Duration) {
	ms.requests.WithLabelValues(values...).Inc()
	ms.duration.WithLabelValues(values...).Observe(float64(d.Microseconds()) / 1000)
}

// workloadName turns "Deployment ns/name" into "name".
func workloadName(ref string) string {
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func labelOr(l map[string]string, k string) string {
	if v, ok := l[k]; ok && v != "" {
		return v
	}
	return "unknown"
}

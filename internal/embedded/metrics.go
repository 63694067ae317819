package embedded

import (
	"strconv"
	"strings"
	"sync"
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
	// series caches the children of one label combination, so the hot
	// path does not hash sixteen label values per request.
	mu     sync.RWMutex
	series map[seriesKey]*seriesPair
}

type seriesKey struct {
	caller *caller
	pod    *pod
	dest   string
	code   int
	flags  string
}

// seriesPair is one request's series for both reporters.
type seriesPair struct {
	srcCount, dstCount prometheus.Counter
	srcDur, dstDur     prometheus.Observer
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
	m.series = map[seriesKey]*seriesPair{}
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
func (m *metric) record(ms *metrics, code int) {
	flags, p := m.flags, m.pod
	if flags == "" {
		flags = "-"
	}
	key := seriesKey{caller: m.caller, pod: p, dest: m.dest, code: code, flags: flags}
	ms.mu.RLock()
	sp := ms.series[key]
	ms.mu.RUnlock()
	if sp == nil {
		sp = ms.newSeries(key)
	}
	ms.observe(sp, p != nil, time.Since(m.start))
}

// newSeries resolves the label values of a new combination once.
func (ms *metrics) newSeries(k seriesKey) *seriesPair {
	svcName, svcNS, _ := route.ServiceOf(k.dest)
	dw, dns, dapp, dver := "unknown", "unknown", "unknown", "unknown"
	if p := k.pod; p != nil {
		dw, dns = workloadName(p.spec.workload), p.spec.namespace
		dapp, dver = labelOr(p.spec.labels, "app"), labelOr(p.spec.labels, "version")
	}
	dest := k.dest
	if dest == "" {
		dest, svcName, svcNS = "unknown", "unknown", "unknown"
	}
	ns := k.caller.source.Namespace
	if ns == "" {
		ns = "default"
	}
	values := []string{"source", k.caller.workload, ns, k.caller.app, k.caller.version,
		dest, svcName, svcNS, dw, dns, dapp, dver, "http", strconv.Itoa(k.code), k.flags, "unknown"}
	sp := &seriesPair{srcCount: ms.requests.WithLabelValues(values...), srcDur: ms.duration.WithLabelValues(values...)}
	values[0] = "destination"
	sp.dstCount, sp.dstDur = ms.requests.WithLabelValues(values...), ms.duration.WithLabelValues(values...)
	ms.mu.Lock()
	if len(ms.series) > 100_000 {
		// Pods come and go over a long run: start over rather than grow.
		ms.series = map[seriesKey]*seriesPair{}
	}
	ms.series[k] = sp
	ms.mu.Unlock()
	return sp
}

func (ms *metrics) observe(sp *seriesPair, toPod bool, d time.Duration) {
	ms2 := float64(d.Microseconds()) / 1000
	sp.srcCount.Inc()
	sp.srcDur.Observe(ms2)
	if toPod {
		sp.dstCount.Inc()
		sp.dstDur.Observe(ms2)
	}
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

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
//
// Label values are bounded: destinations are Services of the runtime, or
// PassthroughCluster for any other host, never the host a client named;
// and the series of a workload whose last pod is gone are deleted
// (forgetPod).
type metrics struct {
	registry      *prometheus.Registry
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	cxOver        *prometheus.CounterVec
	mirrorSkipped *prometheus.CounterVec
	retries       *retryCounters // attempt.go
	// series caches the children of one label combination, so the hot
	// path does not hash sixteen label values per request.
	mu     sync.RWMutex
	series map[seriesKey]*seriesPair
}

// passthroughCluster is the destination of requests for hosts that are
// not Services of the runtime, as Istio's metrics name it.
const passthroughCluster = route.PassthroughCluster

// workloadLabels are the labels that name a workload in a series.
type workloadLabels struct{ workload, namespace, app, version string }

type seriesKey struct {
	caller *caller
	pod    *pod
	dest   string
	// destNS is a ServiceEntry's namespace (dest its host).
	destNS string
	code   int
	flags  string
	// shadow: a mirrored request, reported by the destination only.
	shadow bool
}

// seriesPair is one request's series for both reporters.
type seriesPair struct {
	srcCount, dstCount prometheus.Counter
	srcDur, dstDur     prometheus.Observer
	src, dst           workloadLabels
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
	m.cxOver = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "graylane_downstream_cx_overflow_total", Help: "Connections a proxy listener closed at once: it served its maximum already (Envoy's downstream_cx_overflow).",
	}, []string{"listener"})
	m.mirrorSkipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "graylane_mirror_skipped_total", Help: "Requests a route mirrors that were not copied: their body was not buffered, so it cannot be sent twice.",
	}, []string{"source_workload"})
	m.registry.MustRegister(m.requests, m.duration, m.cxOver, m.mirrorSkipped)
	m.retries = newRetryCounters(m.registry)
	m.series = map[seriesKey]*seriesPair{}
	return m
}

// metric collects what one request will be reported with.
type metric struct {
	caller *caller
	start  time.Time
	dest   string // destination service FQDN, a ServiceEntry's host, or a cluster
	// destNS is the namespace of a ServiceEntry dest names.
	destNS string
	pod    *pod
	flags  string
	// routed is when the router got the request, after a fault
	// injection's delay (zero: at start): the route timeout counts from
	// it, as Envoy's router timer starts after the fault filter.
	routed time.Time
	// delayed: a fault delay was injected (DI stays among the flags
	// whatever happens after it).
	delayed bool
}

// observeShadow counts a mirrored request (destination reporter only).
func (ms *metrics) observeShadow(k seriesKey, d time.Duration) {
	ms.mu.RLock()
	sp := ms.series[k]
	ms.mu.RUnlock()
	if sp == nil {
		sp = ms.newSeries(k)
	}
	ms.observe(sp, true, d)
}

// record counts the request once per reporter (source and destination),
// as the two sidecars of a real mesh both do.
func (m *metric) record(ms *metrics, code int) {
	flags, p := m.flags, m.pod
	if m.delayed {
		flags = route.AddFlag(flags, route.FlagDI)
	}
	if flags == "" {
		flags = "-"
	}
	key := seriesKey{caller: m.caller, pod: p, dest: m.dest, destNS: m.destNS, code: code, flags: flags}
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
	dst := workloadLabels{"unknown", "unknown", "unknown", "unknown"}
	if p := k.pod; p != nil {
		dst = workloadLabels{workloadName(p.spec.workload), p.spec.namespace, labelOr(p.spec.labels, "app"), labelOr(p.spec.labels, "version")}
	}
	dest := k.dest
	switch dest {
	case "":
		dest, svcName, svcNS = "unknown", "unknown", "unknown"
	case passthroughCluster:
		dest, svcName, svcNS = "unknown", passthroughCluster, "unknown"
	case route.BlackHoleCluster:
		// As istiod labelled the block_all route's requests (host and
		// name BlackHoleCluster: addVirtualDestinationServiceAttributes).
		svcName, svcNS = route.BlackHoleCluster, "unknown"
	}
	if k.destNS != "" {
		// A ServiceEntry host: Istio's cluster metadata names the
		// service by its host, in the entry's namespace.
		svcName, svcNS = dest, k.destNS
	}
	ns := k.caller.source.Namespace
	if ns == "" {
		ns = "default"
	}
	src := workloadLabels{k.caller.workload, ns, k.caller.app, k.caller.version}
	values := []string{"source", src.workload, src.namespace, src.app, src.version,
		dest, svcName, svcNS, dst.workload, dst.namespace, dst.app, dst.version, "http", strconv.Itoa(k.code), k.flags, "unknown"}
	sp := &seriesPair{src: src, dst: dst}
	if !k.shadow {
		sp.srcCount, sp.srcDur = ms.requests.WithLabelValues(values...), ms.duration.WithLabelValues(values...)
	}
	if k.pod != nil {
		// Only a request that reached a pod has a destination reporter.
		values[0] = "destination"
		sp.dstCount, sp.dstDur = ms.requests.WithLabelValues(values...), ms.duration.WithLabelValues(values...)
	}
	ms.mu.Lock()
	if len(ms.series) > 100_000 {
		// Only a cache: the series stay registered.
		ms.series = map[seriesKey]*seriesPair{}
	}
	ms.series[k] = sp
	ms.mu.Unlock()
	return sp
}

// forgetAfter is how long the series of a stopped pod's workload are
// kept: queries over recent windows (a rollout's analysis, the judge,
// a dashboard's rate over 5m) still see them; then they go.
const forgetAfter = 5 * time.Minute

// forgetPod drops, forgetAfter from now, the series of p's workload (see
// drop). Call it when p has stopped.
func (ms *metrics) forgetPod(p *pod) {
	time.AfterFunc(forgetAfter, func() { ms.drop(p) })
}

// drop drops the series of p's workload, as destination and (its
// sidecar's) as source, unless a series of another pod or sidecar with
// the same workload labels is still in use: the series of a workload
// that is gone go, a workload that still runs keeps its counters.
// (Whether another pod has the workload's labels is told by the series
// cache; after the cache was dropped for size, a running workload's
// series may be deleted too, and start again at 0, which Prometheus
// reads as a counter reset.)
func (ms *metrics) drop(p *pod) {
	dst := workloadLabels{workloadName(p.spec.workload), p.spec.namespace, labelOr(p.spec.labels, "app"), labelOr(p.spec.labels, "version")}
	var c *caller
	if p.sidecar != nil {
		c = p.sidecar.caller.Load()
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var src workloadLabels
	for k, sp := range ms.series {
		if k.caller == c {
			src = sp.src
		}
		if k.pod == p || k.caller == c {
			delete(ms.series, k)
		}
	}
	dropDst, dropSrc := true, src != workloadLabels{}
	for _, sp := range ms.series {
		dropDst = dropDst && sp.dst != dst
		dropSrc = dropSrc && sp.src != src
	}
	var drop []prometheus.Labels
	if dropDst {
		drop = append(drop, prometheus.Labels{"destination_workload": dst.workload, "destination_workload_namespace": dst.namespace,
			"destination_app": dst.app, "destination_version": dst.version})
	}
	if dropSrc {
		drop = append(drop, prometheus.Labels{"source_workload": src.workload, "source_workload_namespace": src.namespace,
			"source_app": src.app, "source_version": src.version})
	}
	for _, l := range drop {
		ms.requests.DeletePartialMatch(l)
		ms.duration.DeletePartialMatch(l)
	}
}

// overflow counts a connection listener l's caller closed at its limit.
func (ms *metrics) overflow(c *caller) { ms.cxOver.WithLabelValues(c.workload).Inc() }

func (ms *metrics) observe(sp *seriesPair, toPod bool, d time.Duration) {
	ms2 := float64(d.Microseconds()) / 1000
	if sp.srcCount != nil {
		sp.srcCount.Inc()
		sp.srcDur.Observe(ms2)
	}
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

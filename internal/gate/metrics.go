package gate

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/graylane/graylane/internal/gate/store"
	"github.com/graylane/graylane/internal/gateclient"
)

// Metrics are the gate's Prometheus metrics, on their own registry.
type Metrics struct {
	Registry  *prometheus.Registry
	decisions *prometheus.CounterVec
	storeDur  *prometheus.HistogramVec
	storeErrs *prometheus.CounterVec
}

// NewMetrics registers the gate's metrics on a new registry. Snapshot age,
// version and the degraded flag are read from snaps at scrape time.
func NewMetrics(snaps *Snapshots) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "graylane_gate_decisions_total",
			Help: "Lane decisions by lane, reason (signed|whitelist|percentage|none) and source (header|user|tenant|hash|cookie|anonymous).",
		}, []string{"lane", "reason", "source"}),
		storeDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "graylane_gate_store_duration_seconds",
			Help:    "Latency of store operations by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op"}),
		storeErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "graylane_gate_store_errors_total",
			Help: "Failed store operations by operation.",
		}, []string{"op"}),
	}
	reg.MustRegister(m.decisions, m.storeDur, m.storeErrs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "graylane_gate_snapshot_age_seconds",
			Help: "Seconds since the snapshot was last confirmed current against the store.",
		}, func() float64 { return snaps.Status(time.Now()).Age.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "graylane_gate_snapshot_version",
			Help: "Change counter of the snapshot decisions are served from.",
		}, func() float64 { return float64(snaps.Status(time.Now()).Version) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "graylane_gate_snapshot_polls_held",
			Help: "Long polls of GET /v1/snapshot held now, waiting for a change (followers such as graylane up's edge).",
		}, func() float64 { return float64(snaps.Held()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "graylane_gate_degraded",
			Help: "1 while a store check fails (reads, writes, the SQLite file) and decisions come from the last snapshot.",
		}, func() float64 {
			if snaps.Status(time.Now()).Degraded {
				return 1
			}
			return 0
		}),
	)
	for _, check := range Checks {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "graylane_gate_store_check_failing",
			Help:        "1 while a store check fails: read (polls, loads), write (writes, the periodic health write), file (the SQLite file at its path).",
			ConstLabels: prometheus.Labels{"check": check},
		}, func() float64 {
			if snaps.Failing(check) {
				return 1
			}
			return 0
		}))
	}
	return m
}

func (m *Metrics) observeDecision(d gateclient.Decision) {
	m.decisions.WithLabelValues(d.Lane, d.Reason, d.Source).Inc()
}

// Instrument wraps a store so every operation is timed.
func (m *Metrics) Instrument(s Store) Store { return &timedStore{s: s, m: m} }

type timedStore struct {
	s Store
	m *Metrics
}

func (t *timedStore) observe(op string, start time.Time, err error) {
	t.m.storeDur.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		t.m.storeErrs.WithLabelValues(op).Inc()
	}
}

func (t *timedStore) Version(ctx context.Context) (v int64, err error) {
	defer func(start time.Time) { t.observe("version", start, err) }(time.Now())
	return t.s.Version(ctx)
}

func (t *timedStore) Load(ctx context.Context) (st store.State, err error) {
	defer func(start time.Time) { t.observe("load", start, err) }(time.Now())
	return t.s.Load(ctx)
}

func (t *timedStore) PutEntry(ctx context.Context, e store.Entry) (created bool, err error) {
	defer func(start time.Time) { t.observe("put_entry", start, err) }(time.Now())
	return t.s.PutEntry(ctx, e)
}

func (t *timedStore) ImportEntries(ctx context.Context, es []store.Entry) (err error) {
	defer func(start time.Time) { t.observe("import", start, err) }(time.Now())
	return t.s.ImportEntries(ctx, es)
}

func (t *timedStore) DeleteEntry(ctx context.Context, k store.Kind, id string) (err error) {
	defer func(start time.Time) { t.observe("delete_entry", start, err) }(time.Now())
	return t.s.DeleteEntry(ctx, k, id)
}

func (t *timedStore) SetLane(ctx context.Context, name string, w int) (created bool, err error) {
	defer func(start time.Time) { t.observe("set_lane", start, err) }(time.Now())
	return t.s.SetLane(ctx, name, w)
}

func (t *timedStore) DeleteLane(ctx context.Context, name string) (err error) {
	defer func(start time.Time) { t.observe("delete_lane", start, err) }(time.Now())
	return t.s.DeleteLane(ctx, name)
}

func (t *timedStore) CheckWrite(ctx context.Context) (err error) {
	defer func(start time.Time) { t.observe("check_write", start, err) }(time.Now())
	return t.s.CheckWrite(ctx)
}

func (t *timedStore) CheckFile() error { return t.s.CheckFile() }

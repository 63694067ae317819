package promstore

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

const orderFQDN = "order.shop.svc.cluster.local"

// successRate is the query of a typical Argo Rollouts AnalysisTemplate.
const successRate = `sum(irate(istio_requests_total{reporter="source",destination_service=~"order.shop.svc.cluster.local",response_code!~"5.*"}[1m])) / sum(irate(istio_requests_total{reporter="source",destination_service=~"order.shop.svc.cluster.local"}[1m]))`

var t0 = time.Unix(1700000000, 0).UTC()

// istioLabels are the labels the runtime's Istio metrics carry (a subset
// of internal/embedded's, enough for the queries).
var istioLabels = []string{
	"reporter", "source_workload", "destination_service", "destination_workload",
	"destination_version", "response_code", "response_flags",
}

// mesh is a registry with Istio's standard metrics and a Store over it.
type mesh struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	store    *Store
}

func newMesh(t testing.TB, o Options) *mesh {
	t.Helper()
	m := &mesh{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "istio_requests_total", Help: "Requests.",
		}, istioLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "istio_request_duration_milliseconds", Help: "Durations.",
			Buckets: []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000},
		}, istioLabels),
	}
	m.reg.MustRegister(m.requests, m.duration)
	s, err := New(m.reg, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	m.store = s
	return m
}

// request records one request as both sidecars of a mesh report it.
func (m *mesh) request(code string, ms float64) {
	for _, reporter := range []string{"source", "destination"} {
		lv := []string{reporter, "frontend", orderFQDN, "order-v2", "v2", code, "-"}
		m.requests.WithLabelValues(lv...).Inc()
		m.duration.WithLabelValues(lv...).Observe(ms)
	}
}

// traffic scrapes at t0 (no requests yet, the series exist at 0), then
// for each of the next 10 seconds sends 10 requests per reporter (9 OK in
// 3 ms, 1 failing with 500 in 200 ms) and scrapes at t0+i s.
func (m *mesh) traffic(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	m.requests.WithLabelValues("source", "frontend", orderFQDN, "order-v2", "v2", "200", "-")
	m.requests.WithLabelValues("source", "frontend", orderFQDN, "order-v2", "v2", "500", "-")
	for i := 0; i <= 10; i++ {
		if i > 0 {
			for range 9 {
				m.request("200", 3)
			}
			m.request("500", 200)
		}
		if err := m.store.ScrapeOnce(ctx, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("ScrapeOnce %d: %v", i, err)
		}
	}
}

// point is a comparable rendering of one sample or point of a result.
type point struct {
	Metric string
	T      int64
	V      float64
}

// flatten renders any query result as points, sorted by metric and time.
func flatten(t *testing.T, v parser.Value) []point {
	t.Helper()
	var out []point
	switch x := v.(type) {
	case promql.Vector:
		for _, s := range x {
			out = append(out, point{s.Metric.String(), s.T, s.F})
		}
	case promql.Matrix:
		for _, s := range x {
			for _, p := range s.Floats {
				out = append(out, point{s.Metric.String(), p.T, p.F})
			}
		}
	case promql.Scalar:
		out = append(out, point{"scalar", x.T, x.V})
	case promql.String:
		out = append(out, point{"string:" + x.V, x.T, 0})
	default:
		t.Fatalf("unexpected result type %T", v)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Metric != out[j].Metric {
			return out[i].Metric < out[j].Metric
		}
		return out[i].T < out[j].T
	})
	return out
}

var approx = cmpopts.EquateApprox(0, 1e-9)

func ms(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

func TestQuery(t *testing.T) {
	m := newMesh(t, Options{})
	m.traffic(t)
	at := t0.Add(10 * time.Second)
	src500 := `{__name__="istio_requests_total", destination_service="order.shop.svc.cluster.local", destination_version="v2", destination_workload="order-v2", reporter="source", response_code="500", response_flags="-", source_workload="frontend"}`
	tests := []struct {
		name  string
		query string
		want  []point
	}{
		{"rate of all requests, both reporters", `sum(rate(istio_requests_total[10s]))`,
			[]point{{"{}", at.UnixMilli(), 20}}},
		{"success rate", successRate, []point{{"{}", at.UnixMilli(), 0.9}}},
		// 90% of the requests take 3 ms (bucket (1, 5]), 10% 200 ms
		// (bucket (100, 250]): p90 is the bound 5, p99 interpolates
		// 100 + 150 × 0.09/0.1.
		{"p99 latency", `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket[10s])) by (le))`,
			[]point{{"{}", at.UnixMilli(), 235}}},
		{"p90 latency", `histogram_quantile(0.90, sum(rate(istio_request_duration_milliseconds_bucket[10s])) by (le))`,
			[]point{{"{}", at.UnixMilli(), 5}}},
		{"instant vector keeps every label", `istio_requests_total{reporter="source",response_code="500"}`,
			[]point{{src500, at.UnixMilli(), 10}}},
		{"mean latency from _sum and _count", `sum(rate(istio_request_duration_milliseconds_sum{reporter="source"}[10s])) / sum(rate(istio_request_duration_milliseconds_count{reporter="source"}[10s]))`,
			[]point{{"{}", at.UnixMilli(), (9*3 + 200) / 10.0}}},
		{"scalar", `scalar(sum(istio_requests_total{reporter="source"}))`, []point{{"scalar", at.UnixMilli(), 100}}},
		{"string", `"canary"`, []point{{"string:canary", at.UnixMilli(), 0}}},
		{"no match is an empty vector", `istio_requests_total{destination_service="payment.shop.svc.cluster.local"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := m.store.Query(context.Background(), tt.query, at)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if diff := cmp.Diff(tt.want, flatten(t, v), approx); diff != "" {
				t.Errorf("Query(%s) mismatch (-want +got):\n%s", tt.query, diff)
			}
		})
	}
}

func TestQueryRange(t *testing.T) {
	m := newMesh(t, Options{})
	m.traffic(t)
	tests := []struct {
		name       string
		query      string
		start, end time.Duration
		step       time.Duration
		want       []point
	}{
		{"counter over three steps", `sum(istio_requests_total{reporter="source"})`, time.Second, 3 * time.Second, time.Second,
			[]point{{"{}", ms(time.Second), 10}, {"{}", ms(2 * time.Second), 20}, {"{}", ms(3 * time.Second), 30}}},
		{"success rate every 5s", successRate, 5 * time.Second, 10 * time.Second, 5 * time.Second,
			[]point{{"{}", ms(5 * time.Second), 0.9}, {"{}", ms(10 * time.Second), 0.9}}},
		{"by label", `sum by (response_code) (istio_requests_total{reporter="destination"})`, 10 * time.Second, 10 * time.Second, time.Second,
			[]point{{`{response_code="200"}`, ms(10 * time.Second), 90}, {`{response_code="500"}`, ms(10 * time.Second), 10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := m.store.QueryRange(context.Background(), tt.query, t0.Add(tt.start), t0.Add(tt.end), tt.step)
			if err != nil {
				t.Fatalf("QueryRange: %v", err)
			}
			if _, ok := v.(promql.Matrix); !ok {
				t.Fatalf("QueryRange returned %T, want promql.Matrix", v)
			}
			if diff := cmp.Diff(tt.want, flatten(t, v), approx); diff != "" {
				t.Errorf("QueryRange(%s) mismatch (-want +got):\n%s", tt.query, diff)
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	m := newMesh(t, Options{})
	m.traffic(t)
	ctx := context.Background()
	_, err := m.store.Query(ctx, `sum(rate(istio_requests_total[10s])`, t0)
	var perr parser.ParseErrors
	if got, want := errors.As(err, &perr), true; got != want {
		t.Errorf("Query(syntax error) = %v, wraps parser.ParseErrors = %v, want %v", err, got, want)
	}
	_, err = m.store.QueryRange(ctx, `up`, t0, t0, 0)
	if err == nil {
		t.Errorf("QueryRange(step 0) = nil error, want one")
	}
	if err := m.store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := m.store.Query(ctx, `up`, t0); !errors.Is(err, ErrClosed) {
		t.Errorf("Query after Close = %v, want ErrClosed", err)
	}
	if err := m.store.ScrapeOnce(ctx, t0.Add(time.Hour)); !errors.Is(err, ErrClosed) {
		t.Errorf("ScrapeOnce after Close = %v, want ErrClosed", err)
	}
}

// TestScrapeConversion checks the series a scrape makes of every metric type.
func TestScrapeConversion(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_gauge", Help: "g", ConstLabels: prometheus.Labels{"k": "v"}})
	g.Set(2.5)
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x_hist", Help: "h", Buckets: []float64{1, 2.5}})
	h.Observe(0.5)
	h.Observe(2)
	h.Observe(7)
	sm := prometheus.NewSummary(prometheus.SummaryOpts{Name: "x_sum", Help: "s", Objectives: map[float64]float64{0.5: 0.05}})
	sm.Observe(4)
	u := prometheus.NewUntypedFunc(prometheus.UntypedOpts{Name: "x_untyped", Help: "u"}, func() float64 { return 7 })
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "c"})
	c.Add(3)
	reg.MustRegister(g, h, sm, u, c)
	s, err := New(reg, Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer s.Close()
	if err := s.ScrapeOnce(context.Background(), t0); err != nil {
		t.Fatalf("ScrapeOnce: %v", err)
	}
	v, err := s.Query(context.Background(), `{__name__=~"x_.*"}`, t0)
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	at := t0.UnixMilli()
	want := []point{
		{`{__name__="x_gauge", k="v"}`, at, 2.5},
		{`{__name__="x_hist_bucket", le="+Inf"}`, at, 3},
		{`{__name__="x_hist_bucket", le="1.0"}`, at, 1},
		{`{__name__="x_hist_bucket", le="2.5"}`, at, 2},
		{`{__name__="x_hist_count"}`, at, 3},
		{`{__name__="x_hist_sum"}`, at, 9.5},
		{`{__name__="x_sum", quantile="0.5"}`, at, 4},
		{`{__name__="x_sum_count"}`, at, 1},
		{`{__name__="x_sum_sum"}`, at, 4},
		{`{__name__="x_total"}`, at, 3},
		{`{__name__="x_untyped"}`, at, 7},
	}
	if diff := cmp.Diff(want, flatten(t, v)); diff != "" {
		t.Errorf("scraped series mismatch (-want +got):\n%s", diff)
	}
}

// TestStaleness checks that a series that disappears from the registry is
// gone at the next scrape, not for the 5m lookback.
func TestStaleness(t *testing.T) {
	m := newMesh(t, Options{})
	ctx := context.Background()
	m.request("200", 3)
	m.request("503", 3)
	for i, del := range []bool{false, true} {
		if del {
			m.requests.DeleteLabelValues("source", "frontend", orderFQDN, "order-v2", "v2", "503", "-")
		}
		if err := m.store.ScrapeOnce(ctx, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("ScrapeOnce: %v", err)
		}
	}
	tests := []struct {
		at   time.Duration
		want []point
	}{
		{0, []point{{`{response_code="200"}`, ms(0), 1}, {`{response_code="503"}`, ms(0), 1}}},
		{time.Second, []point{{`{response_code="200"}`, ms(time.Second), 1}}},
		{time.Minute, []point{{`{response_code="200"}`, ms(time.Minute), 1}}},
	}
	for _, tt := range tests {
		v, err := m.store.Query(ctx, `sum by (response_code) (istio_requests_total{reporter="source"})`, t0.Add(tt.at))
		if err != nil {
			t.Fatalf("Query: %v", err)
		}
		if diff := cmp.Diff(tt.want, flatten(t, v)); diff != "" {
			t.Errorf("at t0+%v (-want +got):\n%s", tt.at, diff)
		}
	}
}

// TestRetention checks that samples older than the retention are dropped.
func TestRetention(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g", Help: "g"})
	reg.MustRegister(g)
	s, err := New(reg, Options{Retention: 10 * time.Second})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer s.Close()
	for i := 0; i <= 30; i++ {
		g.Set(float64(i))
		if err := s.ScrapeOnce(context.Background(), t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("ScrapeOnce %d: %v", i, err)
		}
	}
	v, err := s.Query(context.Background(), `count_over_time(g[1h])`, t0.Add(30*time.Second))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	// Truncation runs every Retention/10 past the retention: the last one,
	// at t0+30s, kept t0+20s..t0+30s.
	want := []point{{"{}", ms(30 * time.Second), 11}}
	if diff := cmp.Diff(want, flatten(t, v)); diff != "" {
		t.Errorf("samples kept (-want +got):\n%s", diff)
	}
}

// TestScrapeOutOfOrder checks that a scrape at an earlier time is refused
// with an error and leaves the stored samples alone.
func TestScrapeOutOfOrder(t *testing.T) {
	m := newMesh(t, Options{})
	m.traffic(t)
	if err := m.store.ScrapeOnce(context.Background(), t0.Add(5*time.Second)); err == nil {
		t.Errorf("ScrapeOnce(earlier time) = nil error, want samples rejected")
	}
	v, err := m.store.Query(context.Background(), successRate, t0.Add(10*time.Second))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if diff := cmp.Diff([]point{{"{}", ms(10 * time.Second), 0.9}}, flatten(t, v), approx); diff != "" {
		t.Errorf("success rate after refused scrape (-want +got):\n%s", diff)
	}
}

// TestConcurrent scrapes and queries at the same time; run with -race.
func TestConcurrent(t *testing.T) {
	m := newMesh(t, Options{})
	ctx := context.Background()
	const scrapes = 50
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range scrapes {
			m.request("200", 3)
			if err := m.store.ScrapeOnce(ctx, t0.Add(time.Duration(i)*time.Second)); err != nil {
				t.Errorf("ScrapeOnce: %v", err)
			}
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range scrapes {
				at := t0.Add(time.Duration(i) * time.Second)
				if _, err := m.store.Query(ctx, successRate, at); err != nil {
					t.Errorf("Query: %v", err)
				}
				if _, err := m.store.QueryRange(ctx, `sum(istio_requests_total)`, t0, at, time.Second); err != nil {
					t.Errorf("QueryRange: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	v, err := m.store.Query(ctx, `sum(istio_requests_total{reporter="source"})`, t0.Add(scrapes*time.Second))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if diff := cmp.Diff([]point{{"{}", ms(scrapes * time.Second), scrapes}}, flatten(t, v)); diff != "" {
		t.Errorf("after concurrent scrapes (-want +got):\n%s", diff)
	}
}

// TestRun checks that Run scrapes on its own and closes the store when its
// context ends.
func TestRun(t *testing.T) {
	m := newMesh(t, Options{Interval: 10 * time.Millisecond})
	m.request("200", 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.store.Run(ctx) }()
	for {
		v, err := m.store.Query(context.Background(), `sum(istio_requests_total{reporter="source"})`, time.Now())
		if err != nil {
			t.Fatalf("Query: %v", err)
		}
		if len(flatten(t, v)) == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if _, err := m.store.Query(context.Background(), `up`, time.Now()); !errors.Is(err, ErrClosed) {
		t.Errorf("Query after Run ended = %v, want ErrClosed", err)
	}
}

// BenchmarkScrapeOnce: one scrape of a registry with a mesh's request
// series (8 label sets: 4 workloads × 2 reporters, a counter and a
// 10-bucket histogram each), the work the embedded runtime does every
// Interval next to its proxies.
func BenchmarkScrapeOnce(b *testing.B) {
	m := newMesh(b, Options{})
	for w := range 4 {
		for _, reporter := range []string{"source", "destination"} {
			lv := []string{reporter, "frontend", orderFQDN, "order-v" + strconv.Itoa(w), "v2", "200", "-"}
			m.requests.WithLabelValues(lv...).Inc()
			m.duration.WithLabelValues(lv...).Observe(3)
		}
	}
	ctx := context.Background()
	t := t0
	b.ReportAllocs()
	for b.Loop() {
		t = t.Add(time.Second)
		if err := m.store.ScrapeOnce(ctx, t); err != nil {
			b.Fatal(err)
		}
	}
}

package release

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/analysis"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/measure"
	"github.com/graylane/graylane/internal/promstore"
)

// istio is Istio's standard request metrics in a registry, scraped into
// the embedded Prometheus (internal/promstore) at times the test picks
// and served over its query API on loopback.
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
	labels := []string{"reporter", "destination_service_name", "destination_service_namespace", "destination_version", "response_code"}
	i := &istio{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "istio_requests_total"}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "istio_request_duration_milliseconds",
			Buckets: []float64{1, 5, 10, 25, 50, 100, 250}}, labels),
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

// serve records n requests to a version of service in shop, errs of them 500.
func (i *istio) serve(service, version string, n, errs int) {
	for k := range n {
		code := "200"
		if k < errs {
			code = "500"
		}
		i.requests.WithLabelValues("destination", service, "shop", version, code).Inc()
		i.duration.WithLabelValues("destination", service, "shop", version, code).Observe(3)
	}
}

func (i *istio) scrape(t *testing.T) {
	t.Helper()
	i.at = i.at.Add(time.Second)
	if err := i.store.ScrapeOnce(context.Background(), i.at); err != nil {
		t.Fatal(err)
	}
}

func (i *istio) Measurer(context.Context, string, []rolloutsv1alpha1.Metric) (Measurer, func()) {
	return &measure.Measurer{PrometheusAddress: i.addr}, nil
}

// grayLane is lane shop/gray over order and payment (lane version v2,
// stable v1), its plan 50% then a pause, judged by the built-in judge.
func grayLane() *lane.Resolved {
	member := func(svc string) lane.Member {
		return lane.Member{Service: svc, Namespace: "shop", Host: svc + ".shop.svc.cluster.local",
			LaneLabels: map[string]string{"version": "v2"}, StableLabels: map[string]string{"version": "v1"}}
	}
	weight := int32(50)
	return &lane.Resolved{Name: "gray", Namespace: "shop", Members: []lane.Member{member("order"), member("payment")},
		Spec: &v1alpha1.LaneSpec{Plan: &v1alpha1.LanePlan{Steps: []rolloutsv1alpha1.CanaryStep{{SetWeight: &weight}, {Pause: &rolloutsv1alpha1.RolloutPause{}}}}}}
}

// The lane's judge compares each member's lane version with its stable
// from Istio's metrics in a real Prometheus store: a member whose lane
// version fails 5% of its requests against 0.1% fails the judge, and the
// whole lane is aborted, the failing member named with its evidence.
func TestLaneJudgeAborts(t *testing.T) {
	ist := newIstio(t)
	for _, svc := range []string{"order", "payment"} {
		ist.serve(svc, "v1", 50, 0) // before the judge's window: its baseline
		ist.serve(svc, "v2", 50, 0)
	}
	ist.scrape(t)
	clock := newTestClock()
	ev := newEvents()
	pods := newMemPods()
	pods.laneReady = true
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := New(Config{Objects: memObjects{}, Pods: pods, Metrics: ist, Events: ev, Clock: clock})
	c.SyncLanes([]*lane.Resolved{grayLane()})
	if changed := c.ReconcileLanes(ctx); !changed {
		t.Fatal("the lane's first reconcile changed nothing")
	}
	if diff := cmp.Diff(map[string]lane.State{"shop/gray": {Phase: lane.Active, Weight: 50}}, c.LaneStates()); diff != "" {
		t.Fatalf("lane states at the pause (-want +got):\n%s", diff)
	}
	for range 2 { // each member's judge took its baseline and waits
		wait(t, ev.measured, "a member's first measurement")
		wait(t, clock.slept, "a member's judge waiting")
	}
	ist.serve("order", "v1", 1000, 1)
	ist.serve("order", "v2", 400, 20)
	ist.serve("payment", "v1", 1000, 1)
	ist.serve("payment", "v2", 400, 0)
	ist.scrape(t)
	clock.advance(time.Second)
	wait(t, ev.decided, "the judge decided")
	if !c.ReconcileLanes(ctx) {
		t.Fatal("the failed judge changed nothing")
	}
	if diff := cmp.Diff(map[string]lane.State{"shop/gray": {Phase: lane.Aborted}}, c.LaneStates()); diff != "" {
		t.Fatalf("lane states after the judge (-want +got):\n%s", diff)
	}
	views := c.Lanes()
	if len(views) != 1 || !views[0].Plan.Aborted || !strings.Contains(views[0].Plan.Message, "order: ") || strings.Contains(views[0].Plan.Message, "payment: ") {
		t.Fatalf("lane view %+v: want aborted, blaming order only", views)
	}
	var order *AnalysisReport
	for i, a := range views[0].Analysis {
		if a.Member == "order" {
			order = &views[0].Analysis[i]
		}
	}
	if order == nil || order.Phase != analysis.Failed || len(order.Metrics) != 1 || !strings.Contains(order.Message, "error rate") {
		t.Fatalf("order's run %+v: want Failed on its error rate", order)
	}
	if _, _, err := c.LaneCommand(ctx, "shop", "gray", "abort"); err == nil {
		t.Error("abort of an aborted lane: accepted, want a refusal")
	}
}

package promstore

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql"
)

// countingGatherer counts the scrapes of a registry.
type countingGatherer struct {
	g prometheus.Gatherer
	n atomic.Int64
}

func (c *countingGatherer) Gather() ([]*dto.MetricFamily, error) {
	c.n.Add(1)
	return c.g.Gather()
}

// waitFor polls cond for up to 10 s (a bound no healthy machine gets near;
// the test asserts what happens, not how fast).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestRunPacing: Run scrapes once at start and then, with nobody querying,
// only every IdleInterval; a query after a pause gets a scrape of its own
// before it is answered, and switches Run to Interval until IdleAfter
// passes without a query.
func TestRunPacing(t *testing.T) {
	reg := prometheus.NewRegistry()
	hits := prometheus.NewCounter(prometheus.CounterOpts{Name: "hits_total", Help: "Hits."})
	reg.MustRegister(hits)
	cg := &countingGatherer{g: reg}
	s, err := New(cg, Options{Interval: 5 * time.Millisecond, IdleInterval: time.Hour, IdleAfter: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	waitFor(t, "the first scrape", func() bool { return cg.n.Load() == 1 })
	time.Sleep(50 * time.Millisecond) // ten Intervals: no query, so no scrape
	if got := cg.n.Load(); got != 1 {
		t.Fatalf("scrapes with nobody querying = %d, want 1 (the next is an IdleInterval away)", got)
	}

	hits.Add(7) // after the last scrape: only a fresh one has it
	v, err := s.Query(ctx, "hits_total", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if vec, ok := v.(promql.Vector); !ok || len(vec) != 1 || vec[0].F != 7 {
		t.Fatalf("query after a pause = %v, want hits_total 7 (from a scrape made for it)", v)
	}

	// Queried: Run scrapes every Interval...
	n := cg.n.Load()
	waitFor(t, "scrapes every Interval after a query", func() bool { return cg.n.Load() >= n+3 })
	// ...until IdleAfter passes without a query; then it stops.
	var last int64
	waitFor(t, "scrapes to stop once nobody queries", func() bool {
		before := cg.n.Load()
		time.Sleep(100 * time.Millisecond) // twenty Intervals
		last = cg.n.Load()
		return last == before
	})
	time.Sleep(50 * time.Millisecond)
	if got := cg.n.Load(); got != last {
		t.Fatalf("scrapes went on (%d -> %d) with nobody querying", last, got)
	}
}

// TestQueryWithoutRun: without Run, a query neither waits nor scrapes.
func TestQueryWithoutRun(t *testing.T) {
	reg := prometheus.NewRegistry()
	cg := &countingGatherer{g: reg}
	s, err := New(cg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Query(context.Background(), "up", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := cg.n.Load(); got != 0 {
		t.Fatalf("scrapes = %d, want 0", got)
	}
}

// TestQueryDuringStop: a query waiting for its scrape while Run stops
// returns (answered, or refused because the store closed) instead of
// hanging.
func TestQueryDuringStop(t *testing.T) {
	reg := prometheus.NewRegistry()
	block := make(chan struct{})
	var calls atomic.Int64
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		if calls.Add(1) > 1 {
			<-block // the scrape a query asks for never finishes
		}
		return reg.Gather()
	})
	s, err := New(g, Options{Interval: time.Millisecond, IdleInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, "the first scrape", func() bool { return calls.Load() == 1 })
	time.Sleep(5 * time.Millisecond)
	queried := make(chan error, 1)
	go func() {
		_, err := s.Query(context.Background(), "up", time.Now())
		queried <- err
	}()
	waitFor(t, "the query's scrape to start", func() bool { return calls.Load() == 2 })
	cancel()
	close(block)
	if err := <-queried; err != nil && !errors.Is(err, ErrClosed) {
		t.Errorf("query during stop: %v, want an answer or ErrClosed", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

package promstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql"
)

// countingGatherer counts the scrapes of a registry and notes when each
// began.
type countingGatherer struct {
	g  prometheus.Gatherer
	n  atomic.Int64
	mu sync.Mutex
	at []time.Time
}

func (c *countingGatherer) Gather() ([]*dto.MetricFamily, error) {
	c.mu.Lock()
	c.at = append(c.at, time.Now())
	c.mu.Unlock()
	c.n.Add(1)
	return c.g.Gather()
}

// since counts the scrapes that began after t.
func (c *countingGatherer) since(t time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, at := range c.at {
		if at.After(t) {
			n++
		}
	}
	return n
}

// waitFor polls cond for up to a minute (a bound for a hang, not a speed
// expectation: the test asserts what happens, not how fast).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
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
//
// Nothing here depends on how fast the machine is: IdleAfter (3 s) only
// has to hold three 5 ms Intervals, and the checks that nothing more
// happens allow for a slow machine (fewer scrapes), never a fast one.
func TestRunPacing(t *testing.T) {
	const idleAfter = 3 * time.Second
	reg := prometheus.NewRegistry()
	hits := prometheus.NewCounter(prometheus.CounterOpts{Name: "hits_total", Help: "Hits."})
	reg.MustRegister(hits)
	cg := &countingGatherer{g: reg}
	s, err := New(cg, Options{Interval: 5 * time.Millisecond, IdleInterval: time.Hour, IdleAfter: idleAfter})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("Run did not return within a minute of its context ending")
		}
	}()

	waitFor(t, "the first scrape", func() bool { return cg.n.Load() == 1 })
	// Nobody queries: the next scrape is an IdleInterval (an hour) away,
	// so none may come while ten Intervals pass. (A window for something
	// that must not happen; a slow machine only makes it easier.)
	time.Sleep(50 * time.Millisecond)
	if got := cg.n.Load(); got != 1 {
		t.Fatalf("scrapes with nobody querying = %d, want 1 (the next is an IdleInterval away)", got)
	}

	hits.Add(7) // after the last scrape: only a fresh one has it
	// The store notes its last query between asked and answered.
	asked := time.Now()
	v, err := s.Query(ctx, "hits_total", time.Now())
	answered := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if vec, ok := v.(promql.Vector); !ok || len(vec) != 1 || vec[0].F != 7 {
		t.Fatalf("query after a pause = %v, want hits_total 7 (from a scrape made for it)", v)
	}

	// Queried: Run scrapes every Interval, with no further query...
	waitFor(t, "three scrapes every Interval after a query", func() bool { return cg.since(answered) >= 3 })
	if time.Since(asked) > idleAfter {
		t.Fatalf("the machine stalled for IdleAfter (%v): the three scrapes are not proof of the Interval pace", idleAfter)
	}
	// ...until IdleAfter passes without a query: the scrape that finds the
	// store idle begins after asked+IdleAfter, and none begins more than
	// an Interval after answered+IdleAfter; then Run waits an IdleInterval.
	waitFor(t, "the scrape that finds the store idle", func() bool { return cg.since(asked.Add(idleAfter)) >= 1 })
	idle := answered.Add(idleAfter)
	time.Sleep(time.Until(idle) + 100*time.Millisecond) // twenty Intervals past the latest idle point
	// One scrape may have begun before its Interval ran out and one more
	// after it; a Run that never idles has begun about twenty.
	if got := cg.since(idle); got > 2 {
		t.Fatalf("%d scrapes began after IdleAfter passed without a query, want at most 2", got)
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
	// Let the first scrape age past Interval (1 ms), so that the query
	// asks for a scrape of its own. (Time passing, not a wait for an event.)
	time.Sleep(5 * time.Millisecond)
	queried := make(chan error, 1)
	go func() {
		_, err := s.Query(context.Background(), "up", time.Now())
		queried <- err
	}()
	waitFor(t, "the query's scrape to start", func() bool { return calls.Load() == 2 })
	cancel()
	close(block)
	select {
	case err := <-queried:
		if err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("query during stop: %v, want an answer or ErrClosed", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the query waiting for its scrape still hangs a minute after Run was stopped")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within a minute of its context ending")
	}
}

// Package promstore is an embedded Prometheus for the embedded runtime: it
// scrapes a prometheus.Gatherer (the runtime's own registry) into memory
// (Prometheus' XOR chunks, see memDB) and answers PromQL with the upstream
// engine, over Go
// methods and over Prometheus' HTTP query API, so Argo Rollouts
// AnalysisTemplates written for a cluster run unchanged.
//
// What a cluster Prometheus does and this store does too:
//   - metric families become samples exactly as a scrape of the protobuf
//     format would make them (classic histograms as _bucket{le}, _sum,
//     _count with an implicit le="+Inf"; summaries as {quantile}, _sum,
//     _count; le and quantile values normalised as Prometheus 3 does);
//   - series that disappear get a staleness marker;
//   - the engine uses Prometheus' defaults: lookback delta 5m, query timeout
//     2m, at most 50,000,000 samples per query.
//
// What it does not do: no target labels are added (no job, no instance), so
// a series carries exactly the labels the registry exposes; there are no
// up/scrape_* series, no native histograms, no exemplars, no recording or
// alerting rules, and no persistence: samples older than Options.Retention
// are dropped and everything is gone when the store closes.
package promstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// Engine settings, Prometheus' defaults (--query.lookback-delta,
// --query.timeout, --query.max-samples), so queries behave as on a cluster.
const (
	// LookbackDelta is how far back an instant selector looks for a sample.
	LookbackDelta = 5 * time.Minute
	// QueryTimeout bounds one query unless the request asks for less.
	QueryTimeout = 2 * time.Minute
	// MaxSamples bounds the samples one query may load into memory.
	MaxSamples = 50000000
)

// ErrClosed is returned by the methods of a Store that has been closed.
var ErrClosed = errors.New("promstore: store is closed")

// Options configure a Store. The zero value is usable.
type Options struct {
	// Interval is the scrape interval of Run while the store is queried;
	// default 1s.
	Interval time.Duration
	// IdleInterval is the scrape interval of Run once no query came for
	// IdleAfter; default 15s (the scrape interval of Istio's Prometheus).
	// A scrape costs CPU next to the proxies; at 1s, with nobody reading,
	// that is a small, useless tax on their tail latency.
	IdleInterval time.Duration
	// IdleAfter is how long after the last query Run keeps scraping every
	// Interval; default 1m. A query that finds the latest scrape older than
	// Interval makes Run scrape at once and waits for that scrape, so
	// every query sees data at most Interval old.
	IdleAfter time.Duration
	// Retention is how long samples are kept; default 1h. Older samples are
	// dropped in batches, every Retention/10, so a query may see up to
	// 1.1×Retention of history.
	Retention time.Duration
	// Logger receives scrape failures (Warn) and the query engine's own
	// warnings and errors; default: discard.
	Logger *slog.Logger
}

// Store keeps samples gathered from a prometheus.Gatherer in memory and
// answers PromQL. All methods are safe for concurrent use:
// scrapes and queries may run at the same time.
type Store struct {
	gatherer     prometheus.Gatherer
	interval     time.Duration
	idleInterval time.Duration
	idleAfter    time.Duration
	retention    time.Duration
	logger       *slog.Logger
	db           *memDB
	engine       *promql.Engine
	queryable    storage.Queryable

	// mu guards closed: queries and scrapes hold it for reading, Close for
	// writing, so the store is never closed under a reader.
	mu     sync.RWMutex
	closed bool

	// scrapeMu serialises scrapes, which share the series cache.
	scrapeMu sync.Mutex
	series   seriesCache

	sched schedule
	kick  chan struct{} // a query asks Run for a scrape now
}

// schedule is what Run and the queries share to pace the scrapes.
type schedule struct {
	sync.Mutex
	running    bool // Run is scraping
	lastScrape time.Time
	lastQuery  time.Time
	waiters    []chan struct{} // queries waiting for the next scrape
}

// New returns a Store that scrapes g.
func New(g prometheus.Gatherer, o Options) (*Store, error) {
	if g == nil {
		return nil, errors.New("promstore: nil gatherer")
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.IdleInterval <= 0 {
		o.IdleInterval = 15 * time.Second
	}
	if o.IdleAfter <= 0 {
		o.IdleAfter = time.Minute
	}
	if o.Retention <= 0 {
		o.Retention = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// The engine reports its own trouble at Warn and above; only that
	// belongs in the runtime's log.
	engineLogger := slog.New(minLevel{o.Logger.Handler(), slog.LevelWarn}).With("component", "promstore")
	db := newMemDB()
	s := &Store{
		gatherer:     g,
		interval:     o.Interval,
		idleInterval: o.IdleInterval,
		idleAfter:    o.IdleAfter,
		retention:    o.Retention,
		logger:       o.Logger,
		db:           db,
		series:       seriesCache{},
		kick:         make(chan struct{}, 1),
		engine: promql.NewEngine(promql.EngineOpts{
			Logger:        engineLogger,
			MaxSamples:    MaxSamples,
			Timeout:       QueryTimeout,
			LookbackDelta: LookbackDelta,
		}),
		queryable: storage.QueryableFunc(db.Querier),
	}
	return s, nil
}

// Run scrapes, starting at once, until ctx ends; then it closes the
// store. It scrapes every Interval while the store is queried and every
// IdleInterval once no query came for IdleAfter (see Options). A failed
// scrape is logged and does not stop Run. It returns nil after a clean
// stop, or the error of Close.
func (s *Store) Run(ctx context.Context) error {
	s.sched.Lock()
	s.sched.running = true
	s.sched.Unlock()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.stopped()
			return s.Close()
		case <-t.C:
		case <-s.kick:
		}
		now := time.Now()
		if err := s.ScrapeOnce(ctx, now); err != nil && ctx.Err() == nil {
			s.logger.Warn("metrics scrape failed", "component", "promstore", "err", err)
		}
		t.Reset(s.scraped(now))
	}
}

// scraped records Run's scrape at now, releases the queries that waited
// for it and returns the time until the next one.
func (s *Store) scraped(now time.Time) time.Duration {
	s.sched.Lock()
	defer s.sched.Unlock()
	s.sched.lastScrape = now
	s.sched.release()
	if now.Sub(s.sched.lastQuery) > s.idleAfter {
		return s.idleInterval
	}
	return s.interval
}

// stopped marks Run as gone and releases the waiting queries.
func (s *Store) stopped() {
	s.sched.Lock()
	defer s.sched.Unlock()
	s.sched.running = false
	s.sched.release()
}

// release lets the waiting queries go; the caller holds the lock.
func (sc *schedule) release() {
	for _, w := range sc.waiters {
		close(w)
	}
	sc.waiters = nil
}

// fresh notes a query. While Run runs and its latest scrape is older than
// Interval, it asks Run for a scrape now and waits for it (or for ctx), so
// the query sees current data after an idle spell.
func (s *Store) fresh(ctx context.Context) {
	s.sched.Lock()
	now := time.Now()
	s.sched.lastQuery = now
	if !s.sched.running || now.Sub(s.sched.lastScrape) <= s.interval {
		s.sched.Unlock()
		return
	}
	done := make(chan struct{})
	s.sched.waiters = append(s.sched.waiters, done)
	s.sched.Unlock()
	select {
	case s.kick <- struct{}{}:
	default: // a scrape is asked for already
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Close drops the samples and stops the engine. It waits for running
// scrapes and queries; later calls of any method return ErrClosed. Closing
// twice is not an error.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.engine.Close()
}

// Query evaluates an instant query at t. The error of a query that does
// not parse wraps a *parser.ParseErr list (parser.ParseErrors).
func (s *Store) Query(ctx context.Context, q string, t time.Time) (parser.Value, error) {
	var out parser.Value
	err := s.exec(ctx, q, t, t, 0, nil, func(v parser.Value, _ annotations.Annotations) error {
		out = detach(v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("promstore: query %q: %w", q, err)
	}
	return out, nil
}

// QueryRange evaluates a range query from start to end every step.
func (s *Store) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) (parser.Value, error) {
	if step <= 0 {
		return nil, fmt.Errorf("promstore: query %q: %w", q, badData(errors.New("step must be positive")))
	}
	if end.Before(start) {
		return nil, fmt.Errorf("promstore: query %q: %w", q, badData(errors.New("end must not be before start")))
	}
	var out parser.Value
	err := s.exec(ctx, q, start, end, step, nil, func(v parser.Value, _ annotations.Annotations) error {
		out = detach(v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("promstore: query %q: %w", q, err)
	}
	return out, nil
}

// exec runs an instant (step 0) or range query and hands its result to use
// before the query is closed: the engine recycles the memory of a Matrix
// result on Close. Errors are *apiError, classified as Prometheus does.
func (s *Store) exec(ctx context.Context, q string, start, end time.Time, step time.Duration,
	opts promql.QueryOpts, use func(parser.Value, annotations.Annotations) error,
) error {
	s.fresh(ctx)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return &apiError{typ: errorUnavailable, err: ErrClosed}
	}
	var (
		qry promql.Query
		err error
	)
	if step == 0 {
		qry, err = s.engine.NewInstantQuery(ctx, s.queryable, opts, q, start)
	} else {
		qry, err = s.engine.NewRangeQuery(ctx, s.queryable, opts, q, start, end, step)
	}
	if err != nil {
		return badData(err)
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return execError(res.Err)
	}
	return use(res.Value, res.Warnings)
}

// detach copies the parts of a result that the engine recycles when the
// query is closed (the points of a Matrix), so the caller may keep it.
func detach(v parser.Value) parser.Value {
	m, ok := v.(promql.Matrix)
	if !ok {
		return v
	}
	out := make(promql.Matrix, len(m))
	for i, s := range m {
		out[i] = promql.Series{Metric: s.Metric, DropName: s.DropName}
		if len(s.Floats) > 0 {
			out[i].Floats = append([]promql.FPoint(nil), s.Floats...)
		}
		for _, h := range s.Histograms {
			out[i].Histograms = append(out[i].Histograms, promql.HPoint{T: h.T, H: h.H.Copy()})
		}
	}
	return out
}

// ScrapeOnce gathers the metrics once and stores them as samples at t
// (metrics that carry their own timestamp keep it). Series gathered by the
// previous scrape and missing now get a staleness marker at t. Samples
// the store refuses (t before the previous scrape, or older than the
// retention) are skipped and reported in the error; the others are stored.
func (s *Store) ScrapeOnce(ctx context.Context, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("promstore: scrape: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.scrapeMu.Lock()
	defer s.scrapeMu.Unlock()

	mfs, gatherErr := s.gatherer.Gather()
	if gatherErr != nil && len(mfs) == 0 {
		return fmt.Errorf("promstore: gather: %w", gatherErr)
	}
	ts := t.UnixMilli()
	app := s.db.Appender()
	w := &writer{app: app, cache: s.series, scrape: ts}
	for _, mf := range mfs {
		appendFamily(w, mf, ts)
	}
	w.markStale(ts)
	if err := app.Commit(); err != nil {
		return fmt.Errorf("promstore: commit scrape: %w", err)
	}
	if err := s.truncate(ts); err != nil {
		return err
	}
	var err error
	if gatherErr != nil {
		err = fmt.Errorf("promstore: gather (partial): %w", gatherErr)
	}
	if w.rejected > 0 {
		err = errors.Join(err, fmt.Errorf("promstore: %d of %d samples rejected: %w", w.rejected, w.total, w.firstErr))
	}
	return err
}

// truncate drops samples older than the retention. It runs when a tenth of
// the retention has accumulated past it, not on every scrape, because a
// truncation walks every series.
func (s *Store) truncate(now int64) error {
	ret := s.retention.Milliseconds()
	cutoff := now - ret
	if minT := s.db.MinTime(); minT == math.MaxInt64 || minT >= cutoff-ret/10 {
		return nil
	}
	if _, err := s.db.Truncate(cutoff); err != nil {
		return err
	}
	return nil
}

// seriesCache remembers the series of the last scrape: their store
// reference (so appends skip the label lookup) and the scrape that last
// saw them (so the others get a staleness marker).
type seriesCache map[uint64][]cachedSeries

type cachedSeries struct {
	lset labels.Labels
	ref  storage.SeriesRef
	seen int64
}

// minLevel is a slog.Handler that drops records below a level.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}

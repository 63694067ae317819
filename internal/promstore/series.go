package promstore

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

// samplesPerChunk is when a series cuts a new chunk, as Prometheus' head
// does: 120 samples (2 minutes at a 1s scrape) compress to about 1.4 bytes
// a sample in the XOR encoding.
const samplesPerChunk = 120

// memDB keeps float samples in memory, per series in Prometheus' XOR
// chunks, and serves them to the PromQL engine as a storage.Queryable.
//
// It replaces the TSDB head, whose package links Prometheus' config and
// service discovery (and with them the AWS, Azure and Google Cloud SDKs)
// into every program that imports it. It does what the store needs of a
// head and no more: in-order appends that become visible together on
// Commit, staleness markers (they are float samples), retention by
// truncation, label-matcher selection. No histograms, exemplars, metadata,
// out-of-order samples or persistence.
//
// Appends come from one appender at a time (the store serialises scrapes);
// queries run concurrently with them. Chunks that are full are never
// written again and are shared with queries; the open chunk of a series is
// copied when a query selects it.
type memDB struct {
	mu      sync.RWMutex
	byRef   map[storage.SeriesRef]*memSeries
	byHash  map[uint64][]*memSeries
	byName  map[string][]*memSeries // the series of each metric name
	nextRef storage.SeriesRef
	// minT is the time of the oldest sample kept (or the cutoff of the
	// last truncation), math.MaxInt64 while nothing was appended.
	minT int64
	// floor is the cutoff of the last truncation: appends older than it
	// are refused. math.MinInt64 before the first truncation.
	floor int64
}

// memSeries is one series. Its fields are guarded by memDB.mu.
type memSeries struct {
	ref    storage.SeriesRef
	lset   labels.Labels
	chunks []memChunk // by time; the last one is open while app != nil
	app    chunkenc.Appender
	lastT  int64 // time of the newest sample; math.MinInt64 when none
	lastV  float64
}

type memChunk struct {
	minT, maxT int64
	chunk      chunkenc.Chunk
}

func newMemDB() *memDB {
	return &memDB{
		byRef:  map[storage.SeriesRef]*memSeries{},
		byHash: map[uint64][]*memSeries{},
		byName: map[string][]*memSeries{},
		minT:   math.MaxInt64,
		floor:  math.MinInt64,
	}
}

// MinTime is the time of the oldest sample kept, or the cutoff of the
// last truncation, math.MaxInt64 when the database never held a sample.
func (db *memDB) MinTime() int64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.minT
}

// NumSeries is the number of series kept.
func (db *memDB) NumSeries() int {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return len(db.byRef)
}

// series returns the series of ref, or of lset when ref is unknown (zero,
// or the series was truncated away), creating it.
func (db *memDB) series(ref storage.SeriesRef, lset labels.Labels) *memSeries {
	db.mu.RLock()
	s := db.byRef[ref]
	if s == nil {
		s = db.lookup(lset)
	}
	db.mu.RUnlock()
	if s != nil {
		return s
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if s := db.lookup(lset); s != nil {
		return s
	}
	db.nextRef++
	s = &memSeries{ref: db.nextRef, lset: lset, lastT: math.MinInt64}
	h := lset.Hash()
	db.byRef[s.ref] = s
	db.byHash[h] = append(db.byHash[h], s)
	name := lset.Get(labels.MetricName)
	db.byName[name] = append(db.byName[name], s)
	return s
}

// lookup finds the series of lset; the caller holds db.mu.
func (db *memDB) lookup(lset labels.Labels) *memSeries {
	for _, s := range db.byHash[lset.Hash()] {
		if labels.Equal(s.lset, lset) {
			return s
		}
	}
	return nil
}

// Appender returns an appender whose samples become visible together on
// Commit. Only one appender may be used at a time.
func (db *memDB) Appender() *memAppender {
	return &memAppender{db: db, last: map[*memSeries]sample{}}
}

type sample struct {
	t int64
	v float64
}

type pendingSample struct {
	s *memSeries
	sample
}

// memAppender buffers the samples of one scrape.
type memAppender struct {
	db      *memDB
	pending []pendingSample
	last    map[*memSeries]sample // newest pending sample of each series
}

// Append adds a sample of the series lset (ref, when not zero, is the
// reference Append returned for it before). It refuses, as Prometheus'
// head does, a sample older than the newest one of its series
// (storage.ErrOutOfOrderSample), a different value at the newest one's time
// (storage.ErrDuplicateSampleForTimestamp), and a sample older than the
// retention floor (storage.ErrOutOfBounds). The same value at the same time
// again is accepted and not stored twice.
func (a *memAppender) Append(ref storage.SeriesRef, lset labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	s := a.db.series(ref, lset)
	prev, ok := a.last[s]
	a.db.mu.RLock()
	if !ok {
		prev = sample{s.lastT, s.lastV}
	}
	floor := a.db.floor
	a.db.mu.RUnlock()
	switch {
	case t < floor:
		return s.ref, storage.ErrOutOfBounds
	case t < prev.t:
		return s.ref, storage.ErrOutOfOrderSample
	case t == prev.t:
		if math.Float64bits(v) != math.Float64bits(prev.v) {
			return s.ref, storage.NewDuplicateFloatErr(t, prev.v, v)
		}
		return s.ref, nil
	}
	a.last[s] = sample{t, v}
	a.pending = append(a.pending, pendingSample{s, sample{t, v}})
	return s.ref, nil
}

// Commit stores the pending samples.
func (a *memAppender) Commit() error {
	a.db.mu.Lock()
	defer a.db.mu.Unlock()
	var err error
	for _, p := range a.pending {
		if e := p.s.append(p.t, p.v); e != nil && err == nil {
			err = e
		}
		a.db.minT = min(a.db.minT, p.t)
	}
	a.pending = a.pending[:0]
	clear(a.last)
	return err
}

// append writes one sample; the caller holds db.mu for writing.
func (s *memSeries) append(t int64, v float64) error {
	if s.app == nil || len(s.chunks) == 0 || s.chunks[len(s.chunks)-1].chunk.NumSamples() >= samplesPerChunk {
		if s.app != nil {
			s.chunks[len(s.chunks)-1].chunk.Compact()
		}
		c := chunkenc.NewXORChunk()
		app, err := c.Appender()
		if err != nil {
			return fmt.Errorf("promstore: open chunk: %w", err)
		}
		s.app = app
		s.chunks = append(s.chunks, memChunk{minT: t, maxT: t, chunk: c})
	}
	s.app.Append(t, v)
	s.chunks[len(s.chunks)-1].maxT = t
	s.lastT, s.lastV = t, v
	return nil
}

// Truncate drops the samples older than cutoff, and the series left
// without samples; later appends older than cutoff are refused. It returns
// the number of series dropped.
func (db *memDB) Truncate(cutoff int64) (int, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.floor = max(db.floor, cutoff)
	if db.minT == math.MaxInt64 || cutoff <= db.minT {
		return 0, nil
	}
	db.minT = cutoff
	dropped := 0
	for ref, s := range db.byRef {
		if err := s.truncate(cutoff); err != nil {
			return dropped, err
		}
		if len(s.chunks) > 0 {
			continue
		}
		dropped++
		delete(db.byRef, ref)
		db.byHash[s.lset.Hash()] = removeSeries(db.byHash[s.lset.Hash()], s)
		if len(db.byHash[s.lset.Hash()]) == 0 {
			delete(db.byHash, s.lset.Hash())
		}
		name := s.lset.Get(labels.MetricName)
		db.byName[name] = removeSeries(db.byName[name], s)
		if len(db.byName[name]) == 0 {
			delete(db.byName, name)
		}
	}
	return dropped, nil
}

// truncate drops the samples older than cutoff: the chunks that end
// before it, and the older part of the chunk it falls in, which is
// written again without them. The caller holds db.mu for writing.
func (s *memSeries) truncate(cutoff int64) error {
	i := 0
	for i < len(s.chunks) && s.chunks[i].maxT < cutoff {
		i++
	}
	open := s.app != nil
	if i == len(s.chunks) {
		s.app = nil // the open chunk, if any, is gone
	}
	s.chunks = slices.Delete(s.chunks, 0, i)
	if len(s.chunks) == 0 || s.chunks[0].minT >= cutoff {
		return nil
	}
	kept := chunkenc.NewXORChunk()
	app, err := kept.Appender()
	if err != nil {
		return fmt.Errorf("promstore: truncate chunk: %w", err)
	}
	first := s.chunks[0]
	it := first.chunk.Iterator(nil)
	minT := int64(math.MaxInt64)
	for it.Next() == chunkenc.ValFloat {
		t, v := it.At()
		if t >= cutoff {
			app.Append(t, v)
			minT = min(minT, t)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("promstore: truncate chunk: %w", err)
	}
	s.chunks[0] = memChunk{minT: minT, maxT: first.maxT, chunk: kept}
	if open && len(s.chunks) == 1 {
		s.app = app // the open chunk goes on in its rewritten copy
	} else {
		kept.Compact()
	}
	return nil
}

func removeSeries(list []*memSeries, s *memSeries) []*memSeries {
	return slices.DeleteFunc(list, func(x *memSeries) bool { return x == s })
}

// Querier returns a querier of the samples from mint to maxt, both
// inclusive.
func (db *memDB) Querier(mint, maxt int64) (storage.Querier, error) {
	return &memQuerier{db: db, mint: mint, maxt: maxt}, nil
}

type memQuerier struct {
	db         *memDB
	mint, maxt int64
}

// Select returns the series that match every matcher and have samples in
// the querier's range narrowed by hints, sorted by labels.
func (q *memQuerier) Select(ctx context.Context, _ bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	if err := ctx.Err(); err != nil {
		return storage.ErrSeriesSet(err)
	}
	mint, maxt := q.mint, q.maxt
	if hints != nil {
		mint, maxt = max(mint, hints.Start), min(maxt, hints.End)
	}
	q.db.mu.RLock()
	defer q.db.mu.RUnlock()
	var out []*querySeries
	for _, s := range q.db.candidates(ms) {
		if !matchAll(ms, s.lset) {
			continue
		}
		var chunks []chunkenc.Iterable
		for i, c := range s.chunks {
			if c.maxT < mint || c.minT > maxt {
				continue
			}
			chunk := c.chunk
			if i == len(s.chunks)-1 && s.app != nil {
				// The open chunk is written by the next Commit: copy it.
				copied, err := chunkenc.FromData(chunkenc.EncXOR, slices.Clone(chunk.Bytes()))
				if err != nil {
					return storage.ErrSeriesSet(fmt.Errorf("promstore: copy chunk: %w", err))
				}
				chunk = copied
			}
			chunks = append(chunks, chunk)
		}
		if len(chunks) > 0 {
			out = append(out, &querySeries{lset: s.lset, chunks: chunks})
		}
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].lset, out[j].lset) < 0 })
	return &querySeriesSet{list: out, i: -1}
}

// candidates narrows the series to those of the metric name a matcher
// asks for exactly; the caller holds db.mu.
func (db *memDB) candidates(ms []*labels.Matcher) []*memSeries {
	for _, m := range ms {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return db.byName[m.Value]
		}
	}
	all := make([]*memSeries, 0, len(db.byRef))
	for _, s := range db.byRef {
		all = append(all, s)
	}
	return all
}

func matchAll(ms []*labels.Matcher, lset labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

// LabelValues returns the sorted values of the label name among the series
// that match ms and have samples in the querier's range.
func (q *memQuerier) LabelValues(ctx context.Context, name string, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]bool{}
	err := q.each(ctx, ms, func(lset labels.Labels) {
		if v := lset.Get(name); v != "" {
			seen[v] = true
		}
	})
	return sortedKeys(seen), nil, err
}

// LabelNames returns the sorted label names of the series that match ms
// and have samples in the querier's range.
func (q *memQuerier) LabelNames(ctx context.Context, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]bool{}
	err := q.each(ctx, ms, func(lset labels.Labels) {
		lset.Range(func(l labels.Label) { seen[l.Name] = true })
	})
	return sortedKeys(seen), nil, err
}

func (q *memQuerier) each(ctx context.Context, ms []*labels.Matcher, f func(labels.Labels)) error {
	set := q.Select(ctx, false, nil, ms...)
	for set.Next() {
		f(set.At().Labels())
	}
	return set.Err()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (q *memQuerier) Close() error { return nil }

type querySeriesSet struct {
	list []*querySeries
	i    int
}

func (s *querySeriesSet) Next() bool                        { s.i++; return s.i < len(s.list) }
func (s *querySeriesSet) At() storage.Series                { return s.list[s.i] }
func (s *querySeriesSet) Err() error                        { return nil }
func (s *querySeriesSet) Warnings() annotations.Annotations { return nil }

// querySeries is a series as selected: its chunks that overlap the range,
// which no append changes any more. Samples outside the range are left
// to the engine, which seeks to its range as it does with chunks of any
// Prometheus storage.
type querySeries struct {
	lset   labels.Labels
	chunks []chunkenc.Iterable
}

func (s *querySeries) Labels() labels.Labels { return s.lset }

// Iterator iterates the samples of the series' chunks: the chunk's own
// iterator for one, Prometheus' chain of them for more.
func (s *querySeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if len(s.chunks) == 1 {
		return s.chunks[0].Iterator(it)
	}
	return storage.ChainSampleIteratorFromIterables(it, s.chunks)
}

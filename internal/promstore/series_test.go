package promstore

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// TestAppendRules checks which samples memDB refuses, as Prometheus'
// head does: older than the newest of the series, a different value at
// its time, older than the retention floor.
func TestAppendRules(t *testing.T) {
	lset := labels.FromStrings(labels.MetricName, "m")
	type op struct {
		t       int64
		v       float64
		commit  bool
		wantErr error
	}
	tests := []struct {
		name      string
		truncate  int64 // truncate at this time after the first commit, if not 0
		ops       []op
		wantCount float64 // count_over_time(m[1h]) at 10s
	}{
		{"in order", 0, []op{{t: 1000, v: 1}, {t: 2000, v: 2}, {t: 3000, v: 3, commit: true}}, 3},
		{"older in the same batch", 0, []op{{t: 2000, v: 1}, {t: 1000, v: 2, wantErr: storage.ErrOutOfOrderSample}}, 1},
		{"older than committed", 0, []op{{t: 2000, v: 1, commit: true}, {t: 1000, v: 2, wantErr: storage.ErrOutOfOrderSample}}, 1},
		{"same time same value", 0, []op{{t: 2000, v: 1, commit: true}, {t: 2000, v: 1}}, 1},
		{"same time other value", 0, []op{{t: 2000, v: 1, commit: true}, {t: 2000, v: 5, wantErr: storage.ErrDuplicateSampleForTimestamp}}, 1},
		{"stale marker after value", 0, []op{{t: 1000, v: 1}, {t: 2000, v: math.Float64frombits(value.StaleNaN)}}, 1},
		{"older than the floor", 5000, []op{{t: 6000, v: 1, commit: true}, {t: 7000, v: 2}, {t: 4000, v: 3, wantErr: storage.ErrOutOfBounds}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := newMemDB()
			app := db.Appender()
			var ref storage.SeriesRef
			for i, o := range tt.ops {
				r, err := app.Append(ref, lset, o.t, o.v)
				if !errors.Is(err, o.wantErr) || (err == nil) != (o.wantErr == nil) {
					t.Errorf("op %d: Append(t=%d) error = %v, want %v", i, o.t, err, o.wantErr)
				}
				ref = r
				if o.commit {
					if err := app.Commit(); err != nil {
						t.Fatalf("Commit: %v", err)
					}
					if tt.truncate != 0 {
						if _, err := db.Truncate(tt.truncate); err != nil {
							t.Fatalf("Truncate: %v", err)
						}
					}
				}
			}
			if err := app.Commit(); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			got := queryDB(t, db, `count_over_time(m[1h])`, 10000)
			if diff := cmp.Diff([]point{{"{}", 10000, tt.wantCount}}, got); diff != "" {
				t.Errorf("count_over_time (-want +got):\n%s", diff)
			}
		})
	}
}

// queryDB evaluates an instant query at ms over db.
func queryDB(t *testing.T, db *memDB, q string, at int64) []point {
	t.Helper()
	return query(t, storage.QueryableFunc(db.Querier), q, at, at, 0)
}

func query(t *testing.T, qa storage.Queryable, q string, start, end int64, step time.Duration) []point {
	t.Helper()
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: MaxSamples, Timeout: time.Minute, LookbackDelta: LookbackDelta})
	var (
		qry promql.Query
		err error
	)
	if step == 0 {
		qry, err = eng.NewInstantQuery(context.Background(), qa, nil, q, time.UnixMilli(start))
	} else {
		qry, err = eng.NewRangeQuery(context.Background(), qa, nil, q, time.UnixMilli(start), time.UnixMilli(end), step)
	}
	if err != nil {
		t.Fatalf("query %q: %v", q, err)
	}
	defer qry.Close()
	res := qry.Exec(context.Background())
	if res.Err != nil {
		t.Fatalf("query %q: %v", q, res.Err)
	}
	return flatten(t, res.Value)
}

// TestChunksAndTruncation appends enough samples to fill several chunks,
// then truncates inside one: queries see exactly the samples kept, across
// chunk borders, and appends go on after the truncation.
func TestChunksAndTruncation(t *testing.T) {
	db := newMemDB()
	lset := labels.FromStrings(labels.MetricName, "c")
	gone := labels.FromStrings(labels.MetricName, "gone")
	app := db.Appender()
	const n = 5*samplesPerChunk + 7
	for i := range n {
		if _, err := app.Append(0, lset, int64(i)*1000, float64(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if i < 10 {
			if _, err := app.Append(0, gone, int64(i)*1000, 1); err != nil {
				t.Fatalf("Append gone %d: %v", i, err)
			}
		}
		if i%10 == 9 {
			if err := app.Commit(); err != nil {
				t.Fatalf("Commit: %v", err)
			}
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	end := int64(n-1) * 1000
	if got, want := len(db.byRef[1].chunks), 6; got != want {
		t.Errorf("chunks of c = %d, want %d", got, want)
	}
	checks := []struct {
		q    string
		want float64
	}{
		{`count_over_time(c[1h])`, n},
		{`sum_over_time(c[1h])`, float64(n*(n-1)) / 2},
		{`count_over_time(c[250s])`, 250}, // (end-250s, end]: crosses two chunk borders
		{`min_over_time(c[250s])`, float64(n - 250)},
	}
	for _, c := range checks {
		if diff := cmp.Diff([]point{{"{}", end, c.want}}, queryDB(t, db, c.q, end)); diff != "" {
			t.Errorf("before truncation, %s (-want +got):\n%s", c.q, diff)
		}
	}

	// Truncate inside the third chunk (samples 240..359).
	const cutoff = 300500
	dropped, err := db.Truncate(cutoff)
	if err != nil {
		t.Fatalf("Truncate: %v", err)
	}
	if got, want := dropped, 1; got != want {
		t.Errorf("Truncate dropped %d series, want %d (gone)", got, want)
	}
	if got, want := db.NumSeries(), 1; got != want {
		t.Errorf("series after truncation = %d, want %d", got, want)
	}
	kept := float64(n - 301)
	if diff := cmp.Diff([]point{{"{}", end, kept}}, queryDB(t, db, `count_over_time(c[1h])`, end)); diff != "" {
		t.Errorf("after truncation, count (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]point{{"{}", end, 301}}, queryDB(t, db, `min_over_time(c[1h])`, end)); diff != "" {
		t.Errorf("after truncation, oldest value (-want +got):\n%s", diff)
	}
	if _, err := app.Append(0, lset, end+1000, float64(n)); err != nil {
		t.Fatalf("Append after truncation: %v", err)
	}
	if err := app.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if diff := cmp.Diff([]point{{"{}", end + 1000, kept + 1}}, queryDB(t, db, `count_over_time(c[1h])`, end+1000)); diff != "" {
		t.Errorf("after truncation and append, count (-want +got):\n%s", diff)
	}
	// Truncating the open chunk's own older part keeps it open.
	if _, err := db.Truncate(end); err != nil {
		t.Fatalf("Truncate: %v", err)
	}
	if _, err := app.Append(0, lset, end+2000, float64(n+1)); err != nil {
		t.Fatalf("Append after second truncation: %v", err)
	}
	if err := app.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	want := []point{{`{__name__="c"}`, end, n - 1}, {`{__name__="c"}`, end + 1000, n}, {`{__name__="c"}`, end + 2000, n + 1}}
	if diff := cmp.Diff(want, query(t, storage.QueryableFunc(db.Querier), `c`, end, end+2000, time.Second)); diff != "" {
		t.Errorf("after second truncation (-want +got):\n%s", diff)
	}
}

// TestLabelQueries checks LabelNames and LabelValues.
func TestLabelQueries(t *testing.T) {
	db := newMemDB()
	app := db.Appender()
	for _, ls := range []labels.Labels{
		labels.FromStrings(labels.MetricName, "a", "x", "1"),
		labels.FromStrings(labels.MetricName, "a", "x", "2", "y", "z"),
		labels.FromStrings(labels.MetricName, "b", "x", "3"),
	} {
		if _, err := app.Append(0, ls, 1000, 1); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	q, _ := db.Querier(0, 2000)
	ctx := context.Background()
	onlyA := labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "a")
	names, _, err := q.LabelNames(ctx, nil, onlyA)
	if err != nil {
		t.Fatalf("LabelNames: %v", err)
	}
	if diff := cmp.Diff([]string{"__name__", "x", "y"}, names); diff != "" {
		t.Errorf("LabelNames(a) (-want +got):\n%s", diff)
	}
	values, _, err := q.LabelValues(ctx, "x", nil)
	if err != nil {
		t.Fatalf("LabelValues: %v", err)
	}
	if diff := cmp.Diff([]string{"1", "2", "3"}, values); diff != "" {
		t.Errorf("LabelValues(x) (-want +got):\n%s", diff)
	}
	out, _ := db.Querier(5000, 6000)
	if values, _, _ := out.LabelValues(ctx, "x", nil); len(values) != 0 {
		t.Errorf("LabelValues(x) outside the samples' time = %v, want none", values)
	}
}

// TestSameAsHead appends the same scrapes (counters with resets, gauges,
// series that go stale and come back, jittered timestamps) to memDB and to
// Prometheus' own TSDB head, and checks that PromQL answers the same over
// both.
func TestSameAsHead(t *testing.T) {
	ho := tsdb.DefaultHeadOptions()
	ho.ChunkDirRoot = t.TempDir()
	head, err := tsdb.NewHead(nil, nil, nil, nil, ho, nil)
	if err != nil {
		t.Fatalf("NewHead: %v", err)
	}
	defer head.Close()
	db := newMemDB()
	rng := rand.New(rand.NewPCG(1, 2))

	type series struct {
		lset labels.Labels
		v    float64
		gone bool
	}
	var all []*series
	for i := range 6 {
		all = append(all,
			&series{lset: labels.FromStrings(labels.MetricName, "req_total", "i", strconv.Itoa(i), "code", []string{"200", "500"}[i%2])},
			&series{lset: labels.FromStrings(labels.MetricName, "temp", "i", strconv.Itoa(i))})
	}
	start := int64(1_700_000_000_000)
	ts := start
	const scrapes = 700
	for range scrapes {
		ts += 1000 + rng.Int64N(40) - 20
		happ := head.Appender(context.Background())
		mapp := db.Appender()
		for _, s := range all {
			wasGone := s.gone
			if rng.IntN(100) < 2 {
				s.gone = !s.gone
			}
			var v float64
			switch {
			case s.gone && wasGone:
				continue
			case s.gone:
				v = math.Float64frombits(value.StaleNaN)
			case s.lset.Get(labels.MetricName) == "temp":
				v = math.Round(rng.NormFloat64()*1000) / 100
			default:
				if rng.IntN(200) == 0 {
					s.v = 0 // counter reset
				}
				s.v += float64(rng.IntN(20))
				v = s.v
			}
			if _, err := happ.Append(0, s.lset, ts, v); err != nil {
				t.Fatalf("head Append: %v", err)
			}
			if _, err := mapp.Append(0, s.lset, ts, v); err != nil {
				t.Fatalf("memDB Append: %v", err)
			}
		}
		if err := happ.Commit(); err != nil {
			t.Fatalf("head Commit: %v", err)
		}
		if err := mapp.Commit(); err != nil {
			t.Fatalf("memDB Commit: %v", err)
		}
	}
	headQ := storage.QueryableFunc(func(mint, maxt int64) (storage.Querier, error) {
		return tsdb.NewBlockQuerier(tsdb.NewRangeHead(head, mint, maxt), mint, maxt)
	})
	memQ := storage.QueryableFunc(db.Querier)
	queries := []string{
		`req_total`,
		`temp{i=~"[0-3]"}`,
		`sum by (code) (rate(req_total[1m]))`,
		`sum(irate(req_total{code!~"5.*"}[1m])) / sum(irate(req_total[1m]))`,
		`increase(req_total{i="2"}[5m])`,
		`count_over_time({__name__=~"req_total|temp"}[3m])`,
		`max_over_time(temp[2m]) - min_over_time(temp[2m])`,
		`histogram_quantile(0.9, sum by (le) (label_replace(rate(req_total[1m]), "le", "$1", "i", "(.*)")))`,
		`absent(temp{i="9"})`,
		`last_over_time(temp[10m])`,
	}
	opts := cmp.Options{cmpopts.EquateNaNs(), cmpopts.EquateApprox(0, 1e-9)}
	end := ts
	for _, q := range queries {
		for _, at := range []int64{start + 30_000, start + 250_500, start + 600_000, end, end + 4*60_000} {
			want := query(t, headQ, q, at, at, 0)
			got := query(t, memQ, q, at, at, 0)
			if diff := cmp.Diff(want, got, opts); diff != "" {
				t.Errorf("%s at %d: memDB differs from the TSDB head (-head +memDB):\n%s", q, at, diff)
			}
		}
		want := query(t, headQ, q, start, end, 7*time.Second)
		got := query(t, memQ, q, start, end, 7*time.Second)
		if diff := cmp.Diff(want, got, opts); diff != "" {
			t.Errorf("%s over the whole range: memDB differs from the TSDB head (-head +memDB):\n%s", q, diff)
		}
		if len(want) == 0 {
			t.Errorf("%s over the whole range: no points, the comparison proves nothing", q)
		}
	}
}

// TestQueryWhileAppending queries the open chunks while scrapes append to
// them; run with -race. Every answer must be one of the committed states.
func TestQueryWhileAppending(t *testing.T) {
	db := newMemDB()
	lsets := []labels.Labels{
		labels.FromStrings(labels.MetricName, "n", "i", "a"),
		labels.FromStrings(labels.MetricName, "n", "i", "b"),
	}
	const scrapes = 400
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		app := db.Appender()
		for i := 1; i <= scrapes; i++ {
			for _, ls := range lsets {
				if _, err := app.Append(0, ls, int64(i)*1000, float64(i)); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
			if err := app.Commit(); err != nil {
				t.Errorf("Commit: %v", err)
				return
			}
			if i%50 == 0 {
				if _, err := db.Truncate(int64(i-100) * 1000); err != nil {
					t.Errorf("Truncate: %v", err)
				}
			}
		}
	}()
	for range 200 {
		got := queryDB(t, db, `sum(count_over_time(n[1h])) - 2 * max(count_over_time(n{i="a"}[1h]))`, scrapes*1000)
		// Both series always hold the same samples: a scrape is visible
		// whole or not at all.
		if len(got) == 1 && got[0].V != 0 {
			t.Fatalf("a query saw half a scrape: %v", got)
		}
	}
	wg.Wait()
	if got := queryDB(t, db, `count_over_time(n{i="a"}[1h])`, scrapes*1000); len(got) != 1 || got[0].V < 100 {
		t.Errorf("samples kept after the last truncation = %v, want at least 100", got)
	}
}

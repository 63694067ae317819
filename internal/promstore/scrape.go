package promstore

import (
	"bytes"
	"errors"
	"math"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
)

// writer appends the samples of one scrape and tracks the series it saw.
type writer struct {
	app     *memAppender
	cache   seriesCache
	scrape  int64 // the scrape's timestamp, which marks the series seen
	builder labels.ScratchBuilder

	total, rejected int
	firstErr        error
}

// appendFamily appends the samples of one metric family the way a
// Prometheus scrape of the protobuf exposition format produces them.
func appendFamily(w *writer, mf *dto.MetricFamily, ts int64) {
	name := mf.GetName()
	for _, m := range mf.GetMetric() {
		t := ts
		if m.TimestampMs != nil {
			t = m.GetTimestampMs()
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			w.add(name, m, "", "", t, m.GetCounter().GetValue())
		case dto.MetricType_GAUGE:
			w.add(name, m, "", "", t, m.GetGauge().GetValue())
		case dto.MetricType_UNTYPED:
			w.add(name, m, "", "", t, m.GetUntyped().GetValue())
		case dto.MetricType_SUMMARY:
			appendSummary(w, name, m, t)
		case dto.MetricType_HISTOGRAM:
			appendHistogram(w, name, "_sum", "_count", m, t)
		case dto.MetricType_GAUGE_HISTOGRAM:
			// OpenMetrics names the sum and count of a gauge histogram
			// _gsum and _gcount.
			appendHistogram(w, name, "_gsum", "_gcount", m, t)
		}
	}
}

func appendSummary(w *writer, name string, m *dto.Metric, t int64) {
	s := m.GetSummary()
	for _, q := range s.GetQuantile() {
		w.add(name, m, "quantile", formatOpenMetricsFloat(q.GetQuantile()), t, q.GetValue())
	}
	w.add(name+"_sum", m, "", "", t, s.GetSampleSum())
	w.add(name+"_count", m, "", "", t, float64(s.GetSampleCount()))
}

// appendHistogram appends a classic histogram: cumulative _bucket series
// ending with le="+Inf" (the sample count when the exposition leaves the
// +Inf bucket implicit, as client_golang does), then the sum and count.
// A native-only histogram (no classic buckets) still gets its +Inf bucket,
// sum and count, as Prometheus stores it without native histograms enabled.
func appendHistogram(w *writer, name, sumSuffix, countSuffix string, m *dto.Metric, t int64) {
	h := m.GetHistogram()
	count := float64(h.GetSampleCount())
	if h.GetSampleCountFloat() > 0 {
		count = h.GetSampleCountFloat()
	}
	sawInf := false
	for _, b := range h.GetBucket() {
		v := float64(b.GetCumulativeCount())
		if b.GetCumulativeCountFloat() > 0 {
			v = b.GetCumulativeCountFloat()
		}
		w.add(name+"_bucket", m, "le", formatOpenMetricsFloat(b.GetUpperBound()), t, v)
		if math.IsInf(b.GetUpperBound(), +1) {
			sawInf = true
			break
		}
	}
	if !sawInf {
		w.add(name+"_bucket", m, "le", "+Inf", t, count)
	}
	w.add(name+sumSuffix, m, "", "", t, h.GetSampleSum())
	w.add(name+countSuffix, m, "", "", t, count)
}

// add appends one sample of the series name{m's labels, extra=extraValue}.
func (w *writer) add(name string, m *dto.Metric, extra, extraValue string, t int64, v float64) {
	w.builder.Reset()
	w.builder.Add(labels.MetricName, name)
	for _, lp := range m.GetLabel() {
		w.builder.Add(lp.GetName(), lp.GetValue())
	}
	if extra != "" {
		w.builder.Add(extra, extraValue)
	}
	w.builder.Sort()
	lset := w.builder.Labels()

	w.total++
	c := w.lookup(lset)
	ref, err := w.app.Append(c.ref, lset, t, v)
	if err != nil {
		w.reject(err)
		return
	}
	c.ref = ref
}

// lookup returns the cache entry of lset, creating it, and marks it seen.
func (w *writer) lookup(lset labels.Labels) *cachedSeries {
	h := lset.Hash()
	entries := w.cache[h]
	for i := range entries {
		if labels.Equal(entries[i].lset, lset) {
			entries[i].seen = w.scrape
			return &entries[i]
		}
	}
	w.cache[h] = append(entries, cachedSeries{lset: lset, seen: w.scrape})
	return &w.cache[h][len(w.cache[h])-1]
}

// markStale appends a staleness marker at t for every cached series the
// scrape did not see and forgets it, as Prometheus does for series that
// disappear from a target.
func (w *writer) markStale(t int64) {
	for h, entries := range w.cache {
		kept := entries[:0]
		for _, c := range entries {
			if c.seen == w.scrape {
				kept = append(kept, c)
				continue
			}
			if _, err := w.app.Append(c.ref, c.lset, t, math.Float64frombits(value.StaleNaN)); err != nil &&
				!errors.Is(err, storage.ErrOutOfOrderSample) && !errors.Is(err, storage.ErrOutOfBounds) {
				w.reject(err)
			}
		}
		if len(kept) == 0 {
			delete(w.cache, h)
			continue
		}
		w.cache[h] = kept
	}
}

func (w *writer) reject(err error) {
	w.rejected++
	if w.firstErr == nil {
		w.firstErr = err
	}
}

// formatOpenMetricsFloat formats le and quantile label values as
// Prometheus 3 stores them: Go's shortest representation, with ".0" added
// when it has neither a "." nor an exponent (1 → "1.0", 0.5 → "0.5"). It
// mirrors the unexported function of model/textparse.
func formatOpenMetricsFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	b := strconv.AppendFloat(nil, f, 'g', -1, 64)
	if !bytes.ContainsAny(b, "e.") {
		b = append(b, '.', '0')
	}
	return string(b)
}

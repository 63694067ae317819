package measure

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/graylane/graylane/internal/analysis"
	"github.com/graylane/graylane/internal/judge"
)

// judgeRun is the judge of one metric of one analysis run, and what it
// has read from Prometheus so far.
type judgeRun struct {
	judge   *judge.Judge
	queries [2]sideQueries // canary, stable
	errors  *regexp.Regexp
	addr    string
	series  map[string]*counter
	// primed: the first measurement succeeded, its values are the baseline.
	primed bool
}

type sideQueries struct{ requests, buckets string }

// counter turns a Prometheus counter series into its increase since the
// window started, across counter resets (a restarted pod).
type counter struct {
	last, increase float64
}

// parseJudgeConfig decodes and checks the plugin's configuration.
func parseJudgeConfig(raw json.RawMessage) (judge.PluginConfig, error) {
	var c judge.PluginConfig
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %w", judge.PluginName, err)
	}
	c.Config = c.Config.WithDefaults()
	if c.ErrorCodes == "" {
		c.ErrorCodes = judge.DefaultErrorCodes
	}
	if err := c.Config.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", judge.PluginName, err)
	}
	if _, err := regexp.Compile(c.ErrorCodes); err != nil {
		return c, fmt.Errorf("%s: errorCodes: %w", judge.PluginName, err)
	}
	for _, s := range []struct{ name, sel string }{{"canary", c.Canary}, {"stable", c.Stable}} {
		if strings.TrimSpace(s.sel) == "" {
			return c, fmt.Errorf("%s: %s: a PromQL label selector is required, e.g. destination_service_name=\"order\",destination_version=\"v2\"", judge.PluginName, s.name)
		}
		if _, err := parser.ParseMetricSelector("{" + s.sel + "}"); err != nil {
			return c, fmt.Errorf("%s: %s: %q is not a list of PromQL label matchers: %w", judge.PluginName, s.name, s.sel, err)
		}
	}
	if c.Canary == c.Stable {
		return c, fmt.Errorf("%s: canary and stable select the same series (%s)", judge.PluginName, c.Canary)
	}
	return c, nil
}

// plugin answers a metric whose provider is a plugin. Only Graylane's
// judge is run; its state lives in the Measurer, one per analysis run.
func (m *Measurer) plugin(ctx context.Context, metric *rolloutsv1alpha1.Metric) (any, error) {
	raw, ok := metric.Provider.Plugin[judge.PluginName]
	if !ok {
		names := slices.Sorted(maps.Keys(metric.Provider.Plugin))
		return nil, fmt.Errorf("metric %s: plugin %s: %w (it runs %s)", metric.Name, strings.Join(names, ", "), ErrUnsupported, judge.PluginName)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	jr := m.judges[metric.Name]
	if jr == nil {
		var err error
		if jr, err = m.newJudgeRun(raw); err != nil {
			return nil, fmt.Errorf("metric %s: %w", metric.Name, err)
		}
		if m.judges == nil {
			m.judges = map[string]*judgeRun{}
		}
		m.judges[metric.Name] = jr
	}
	v, err := jr.measure(ctx, m.client(), time.Now())
	if err != nil {
		return nil, fmt.Errorf("metric %s: %s: %w", metric.Name, judge.PluginName, err)
	}
	evidence, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("metric %s: %s: encode the evidence: %w", metric.Name, judge.PluginName, err)
	}
	return analysis.Assessed{Phase: analysis.Phase(v.Phase), Value: string(evidence), Message: v.Reason}, nil
}

func (m *Measurer) newJudgeRun(raw json.RawMessage) (*judgeRun, error) {
	c, err := parseJudgeConfig(raw)
	if err != nil {
		return nil, err
	}
	addr := c.Address
	if addr == "" {
		addr = m.PrometheusAddress
	}
	if addr == "" {
		return nil, fmt.Errorf("%s: no address and no embedded Prometheus", judge.PluginName)
	}
	jr := &judgeRun{addr: addr, errors: regexp.MustCompile("^(?:" + c.ErrorCodes + ")$"), series: map[string]*counter{}}
	for i, sel := range []string{c.Canary, c.Stable} {
		if !strings.Contains(sel, "reporter") {
			sel += `,reporter="destination"`
		}
		jr.queries[i] = sideQueries{
			requests: "istio_requests_total{" + sel + "}",
			buckets:  "istio_request_duration_milliseconds_bucket{" + sel + "}",
		}
	}
	// The window starts at the first measurement: the judge's clock starts
	// with the counters' baseline.
	jr.judge, err = judge.New(c.Config, time.Now())
	return jr, err
}

// measure reads both sides' counters and asks the judge.
func (jr *judgeRun) measure(ctx context.Context, client *http.Client, now time.Time) (judge.Verdict, error) {
	var sides [2]judge.Sample
	for i, q := range jr.queries {
		reqs, err := promSeries(ctx, client, jr.addr, q.requests)
		if err != nil {
			return judge.Verdict{}, err
		}
		buckets, err := promSeries(ctx, client, jr.addr, q.buckets)
		if err != nil {
			return judge.Verdict{}, err
		}
		if sides[i], err = jr.sample(reqs, buckets); err != nil {
			return judge.Verdict{}, err
		}
	}
	v, err := jr.judge.Observe(now, sides[0], sides[1])
	if err != nil {
		return v, err
	}
	jr.primed = true
	return v, nil
}

// sample sums the increases of a side's series: requests and errors from
// istio_requests_total, the latency histogram (successful requests only)
// from the buckets.
func (jr *judgeRun) sample(reqs, buckets []promSample) (judge.Sample, error) {
	var s judge.Sample
	for _, r := range reqs {
		inc := jr.increase(r)
		s.Requests += inc
		if jr.errors.MatchString(r.Metric["response_code"]) {
			s.Errors += inc
		}
	}
	byLe := map[float64]float64{}
	for _, b := range buckets {
		if jr.errors.MatchString(b.Metric["response_code"]) {
			continue
		}
		le, err := strconv.ParseFloat(b.Metric["le"], 64)
		if err != nil {
			return s, fmt.Errorf("bucket series %v: le: %w", b.Metric, err)
		}
		byLe[le] += jr.increase(b)
	}
	for _, le := range slices.Sorted(maps.Keys(byLe)) {
		s.Latency = append(s.Latency, judge.Bucket{UpperBound: le, Count: byLe[le]})
	}
	if n := len(s.Latency); n > 0 && !math.IsInf(s.Latency[n-1].UpperBound, 1) {
		return s, fmt.Errorf("histogram without an le=\"+Inf\" bucket")
	}
	return s, nil
}

// increase is how much a series grew since the window started. A series
// seen at the first measurement is the baseline; one that appears later
// started inside the window (a new pod) and counts from zero; a value
// lower than the last is a counter reset.
func (jr *judgeRun) increase(s promSample) float64 {
	key := s.key()
	c := jr.series[key]
	switch {
	case c == nil && !jr.primed:
		c = &counter{last: s.Value}
	case c == nil:
		c = &counter{increase: s.Value, last: s.Value}
	case s.Value < c.last:
		c.increase += s.Value
		c.last = s.Value
	default:
		c.increase += s.Value - c.last
		c.last = s.Value
	}
	jr.series[key] = c
	return c.increase
}

// promSample is one series of an instant vector.
type promSample struct {
	Metric map[string]string
	Value  float64
}

func (s promSample) key() string {
	names := slices.Sorted(maps.Keys(s.Metric))
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(s.Metric[n]))
		b.WriteByte(',')
	}
	return b.String()
}

// promSeries runs an instant query and returns the vector with labels.
func promSeries(ctx context.Context, client *http.Client, addr, query string) ([]promSample, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	form := url.Values{"query": {query}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(addr, "/")+"/api/v1/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	defer resp.Body.Close()
	var pr promResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(&pr); err != nil {
		return nil, fmt.Errorf("prometheus: %s answered %d, not the query API: %w", addr, resp.StatusCode, err)
	}
	if pr.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s: %s (query %s)", pr.ErrorType, pr.Error, query)
	}
	if pr.Data.ResultType != "vector" {
		return nil, fmt.Errorf("prometheus: query %s gave a %s, want a vector", query, pr.Data.ResultType)
	}
	var raw []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	if err := json.Unmarshal(pr.Data.Result, &raw); err != nil {
		return nil, fmt.Errorf("prometheus: vector: %w", err)
	}
	out := make([]promSample, 0, len(raw))
	for _, r := range raw {
		v, err := sampleValue(r.Value[1])
		if err != nil {
			return nil, err
		}
		out = append(out, promSample{Metric: r.Metric, Value: v})
	}
	return out, nil
}

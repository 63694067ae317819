// Package measure takes the measurements of Argo Rollouts analysis metrics:
// the web provider (an HTTP call, a JSONPath into the answer) and the
// prometheus provider (an instant query over Prometheus' HTTP API). The
// verdict on a value is internal/analysis's.
package measure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"k8s.io/client-go/util/jsonpath"
)

// ErrUnsupported is returned for providers the embedded runtime does not run.
var ErrUnsupported = errors.New("provider not supported by the embedded runtime")

// Measurer takes measurements over HTTP. Use one per analysis run: the
// judge (graylane.io/judge) keeps the state of its window in it.
type Measurer struct {
	Client *http.Client
	// PrometheusAddress, when set, answers prometheus metrics whose
	// address is empty (the embedded Prometheus of `graylane up`).
	PrometheusAddress string

	mu     sync.Mutex
	judges map[string]*judgeRun // the judge of each graylane.io/judge metric (judge.go)
}

// Measure takes one measurement of the metric.
func (m *Measurer) Measure(ctx context.Context, metric *rolloutsv1alpha1.Metric) (any, error) {
	switch p := metric.Provider; {
	case p.Web != nil:
		return m.web(ctx, p.Web)
	case p.Prometheus != nil:
		return m.prometheus(ctx, p.Prometheus)
	case p.Plugin != nil:
		return m.plugin(ctx, metric)
	case p.Job != nil:
		return nil, fmt.Errorf("metric %s: job: %w (it runs Kubernetes Jobs)", metric.Name, ErrUnsupported)
	}
	return nil, fmt.Errorf("metric %s: %w", metric.Name, ErrUnsupported)
}

func (m *Measurer) client() *http.Client {
	if m.Client != nil {
		return m.Client
	}
	return http.DefaultClient
}

func (m *Measurer) web(ctx context.Context, w *rolloutsv1alpha1.WebMetric) (any, error) {
	timeout := 10 * time.Second
	if w.TimeoutSeconds > 0 {
		timeout = time.Duration(w.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	method := string(w.Method)
	if method == "" {
		method = http.MethodGet
	}
	body := w.Body
	if len(w.JSONBody) > 0 {
		body = string(w.JSONBody)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.URL, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	for _, h := range w.Headers {
		req.Header.Set(h.Key, h.Value)
	}
	resp, err := m.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("web: read: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("web: %s answered %d", w.URL, resp.StatusCode)
	}
	if w.JSONPath == "" {
		var v any
		if json.Unmarshal(b, &v) == nil {
			return v, nil
		}
		return strings.TrimSpace(string(b)), nil
	}
	return jsonPathValue(b, w.JSONPath)
}

// jsonPathValue extracts a value with Kubernetes JSONPath ({$.data.ok}),
// as Argo's web provider does.
func jsonPathValue(body []byte, path string) (any, error) {
	var data any
	if err := json.Unmarshal(body, &data); err != nil {
		return nil, fmt.Errorf("web: the answer is not JSON: %w", err)
	}
	jp := jsonpath.New("metric")
	if err := jp.Parse(path); err != nil {
		return nil, fmt.Errorf("web: jsonPath %q: %w", path, err)
	}
	results, err := jp.FindResults(data)
	if err != nil {
		return nil, fmt.Errorf("web: jsonPath %q: %w", path, err)
	}
	if len(results) == 0 || len(results[0]) == 0 {
		return nil, fmt.Errorf("web: jsonPath %q found nothing", path)
	}
	return results[0][0].Interface(), nil
}

// promResponse is Prometheus' query API answer.
type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

func (m *Measurer) prometheus(ctx context.Context, p *rolloutsv1alpha1.PrometheusMetric) (any, error) {
	addr := p.Address
	if addr == "" {
		addr = m.PrometheusAddress
	}
	if addr == "" {
		return nil, errors.New("prometheus: no address and no embedded Prometheus")
	}
	timeout := 30 * time.Second
	if p.Timeout != nil && *p.Timeout > 0 {
		timeout = time.Duration(*p.Timeout) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	form := url.Values{"query": {p.Query}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(addr, "/")+"/api/v1/query", bytes.NewBufferString(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, h := range p.Headers {
		req.Header.Set(h.Key, h.Value)
	}
	resp, err := m.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	defer resp.Body.Close()
	var pr promResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&pr); err != nil {
		return nil, fmt.Errorf("prometheus: %s answered %d, not the query API: %w", addr, resp.StatusCode, err)
	}
	if pr.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s: %s", pr.ErrorType, pr.Error)
	}
	return promValue(pr.Data.ResultType, pr.Data.Result)
}

// promValue turns a query result into what conditions see: a vector is a
// list of float64 (result[0]), a scalar a float64, as in Argo.
func promValue(resultType string, raw json.RawMessage) (any, error) {
	switch resultType {
	case "vector":
		var v []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("prometheus: vector: %w", err)
		}
		out := make([]float64, 0, len(v))
		for _, s := range v {
			f, err := sampleValue(s.Value[1])
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
		return out, nil
	case "scalar":
		var s [2]any
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("prometheus: scalar: %w", err)
		}
		return sampleValue(s[1])
	}
	return nil, fmt.Errorf("prometheus: result type %q is not supported (want vector or scalar)", resultType)
}

func sampleValue(v any) (float64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("prometheus: sample value %v is not a string", v)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("prometheus: sample value %q: %w", s, err)
	}
	return f, nil
}

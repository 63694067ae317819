package promstore

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// unix renders a time as the API's "time" parameter.
func unix(d time.Duration) string {
	return strconv.FormatFloat(float64(t0.Add(d).UnixMilli())/1000, 'f', -1, 64)
}

// sec is a time as the API writes it in results.
func sec(d time.Duration) float64 { return float64(t0.Add(d).UnixMilli()) / 1000 }

// call sends a GET (params in the URL) or POST (form body) request to h
// and returns the status code and the decoded JSON body.
func call(t *testing.T, h http.Handler, method, path string, params url.Values) (int, any) {
	t.Helper()
	var req *http.Request
	if method == http.MethodGet {
		req = httptest.NewRequest(method, path+"?"+params.Encode(), nil)
	} else {
		req = httptest.NewRequest(method, path, strings.NewReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	var body any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", method, path, rec.Body.String(), err)
	}
	return rec.Code, body
}

func success(resultType string, result any) any {
	return map[string]any{"status": "success", "data": map[string]any{"resultType": resultType, "result": result}}
}

func TestHandler(t *testing.T) {
	m := newMesh(t, Options{})
	m.traffic(t)
	h := m.store.Handler()
	at := unix(10 * time.Second)
	tests := []struct {
		name   string
		method string
		path   string
		params url.Values
		code   int
		want   any
	}{
		{"instant vector, GET", "GET", "/api/v1/query", url.Values{"query": {successRate}, "time": {at}}, 200,
			success("vector", []any{map[string]any{"metric": map[string]any{}, "value": []any{sec(10 * time.Second), "0.9"}}})},
		{"instant vector, POST, RFC 3339 time", "POST", "/api/v1/query",
			url.Values{"query": {`sum by (response_code) (istio_requests_total{reporter="source"})`}, "time": {t0.Add(10 * time.Second).Format(time.RFC3339)}}, 200,
			success("vector", []any{
				map[string]any{"metric": map[string]any{"response_code": "200"}, "value": []any{sec(10 * time.Second), "90"}},
				map[string]any{"metric": map[string]any{"response_code": "500"}, "value": []any{sec(10 * time.Second), "10"}},
			})},
		{"empty vector is []", "GET", "/api/v1/query", url.Values{"query": {`istio_requests_total{reporter="none"}`}, "time": {at}}, 200,
			success("vector", []any{})},
		{"scalar", "GET", "/api/v1/query", url.Values{"query": {`scalar(sum(istio_requests_total{reporter="source"}))`}, "time": {at}}, 200,
			success("scalar", []any{sec(10 * time.Second), "100"})},
		{"string", "GET", "/api/v1/query", url.Values{"query": {`"canary"`}, "time": {at}}, 200,
			success("string", []any{sec(10 * time.Second), "canary"})},
		{"range vector selector as instant query is a matrix", "GET", "/api/v1/query",
			url.Values{"query": {`istio_requests_total{reporter="source",response_code="500"}[2s]`}, "time": {at}}, 200,
			success("matrix", []any{map[string]any{
				"metric": map[string]any{
					"__name__": "istio_requests_total", "destination_service": orderFQDN, "destination_version": "v2",
					"destination_workload": "order-v2", "reporter": "source", "response_code": "500",
					"response_flags": "-", "source_workload": "frontend",
				},
				"values": []any{[]any{sec(9 * time.Second), "9"}, []any{sec(10 * time.Second), "10"}},
			}})},
		{"query_range, POST, float step", "POST", "/api/v1/query_range",
			url.Values{"query": {`sum(istio_requests_total{reporter="source"})`}, "start": {unix(time.Second)}, "end": {unix(3 * time.Second)}, "step": {"1"}}, 200,
			success("matrix", []any{map[string]any{"metric": map[string]any{}, "values": []any{
				[]any{sec(time.Second), "10"}, []any{sec(2 * time.Second), "20"}, []any{sec(3 * time.Second), "30"},
			}}})},
		{"query_range, GET, duration step", "GET", "/api/v1/query_range",
			url.Values{"query": {successRate}, "start": {unix(5 * time.Second)}, "end": {unix(10 * time.Second)}, "step": {"5s"}, "timeout": {"30s"}}, 200,
			success("matrix", []any{map[string]any{"metric": map[string]any{}, "values": []any{
				[]any{sec(5 * time.Second), "0.9"}, []any{sec(10 * time.Second), "0.9"},
			}}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, got := call(t, h, tt.method, tt.path, tt.params)
			if code != tt.code {
				t.Errorf("status %d, want %d", code, tt.code)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHandlerErrors(t *testing.T) {
	m := newMesh(t, Options{})
	m.traffic(t)
	h := m.store.Handler()
	at := unix(10 * time.Second)
	type result struct {
		Code      int
		Status    any
		ErrorType any
		HasError  bool
	}
	tests := []struct {
		name   string
		method string
		path   string
		params url.Values
		want   result
	}{
		{"syntax error", "GET", "/api/v1/query", url.Values{"query": {`sum(rate(istio_requests_total[1m])`}}, result{400, "error", "bad_data", true}},
		{"syntax error, POST", "POST", "/api/v1/query", url.Values{"query": {`istio_requests_total{`}}, result{400, "error", "bad_data", true}},
		{"empty query", "GET", "/api/v1/query", url.Values{}, result{400, "error", "bad_data", true}},
		{"bad time", "GET", "/api/v1/query", url.Values{"query": {"1"}, "time": {"yesterday"}}, result{400, "error", "bad_data", true}},
		{"bad timeout", "GET", "/api/v1/query", url.Values{"query": {"1"}, "timeout": {"soon"}}, result{400, "error", "bad_data", true}},
		{"missing step", "GET", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {at}, "end": {at}}, result{400, "error", "bad_data", true}},
		{"zero step", "GET", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {at}, "end": {at}, "step": {"0"}}, result{400, "error", "bad_data", true}},
		{"missing start", "GET", "/api/v1/query_range", url.Values{"query": {"1"}, "end": {at}, "step": {"1"}}, result{400, "error", "bad_data", true}},
		{"end before start", "GET", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {at}, "end": {unix(0)}, "step": {"1"}}, result{400, "error", "bad_data", true}},
		{"too many points", "GET", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {unix(0)}, "end": {unix(time.Hour * 24)}, "step": {"1"}}, result{400, "error", "bad_data", true}},
		{"many-to-many matching is an execution error", "GET", "/api/v1/query",
			url.Values{"query": {`istio_requests_total + on(reporter) istio_requests_total`}, "time": {at}}, result{422, "error", "execution", true}},
		{"expired timeout", "GET", "/api/v1/query", url.Values{"query": {successRate}, "time": {at}, "timeout": {"0.000000001"}}, result{503, "error", "timeout", true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := call(t, h, tt.method, tt.path, tt.params)
			b, _ := body.(map[string]any)
			msg, _ := b["error"].(string)
			got := result{Code: code, Status: b["status"], ErrorType: b["errorType"], HasError: msg != ""}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s\nbody: %v", diff, body)
			}
		})
	}
	req := httptest.NewRequest(http.MethodDelete, "/api/v1/query", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got, want := rec.Code, http.StatusMethodNotAllowed; got != want {
		t.Errorf("DELETE /api/v1/query: status %d, want %d", got, want)
	}
}

// TestArgoRolloutsShape checks the answer the way Argo Rollouts' prometheus
// provider reads it: through client_golang's API client (which POSTs the
// form and falls back to GET), and as raw JSON: data.resultType and
// data.result[0].value = [<unix seconds>, "<number>"].
func TestArgoRolloutsShape(t *testing.T) {
	m := newMesh(t, Options{})
	m.traffic(t)
	srv := httptest.NewServer(m.store.Handler())
	defer srv.Close()
	at := t0.Add(10 * time.Second)

	client, err := api.NewClient(api.Config{Address: srv.URL})
	if err != nil {
		t.Fatalf("api.NewClient: %v", err)
	}
	v, _, _, err := promv1.NewAPI(client).Query(context.Background(), successRate, at, promv1.WithTimeout(30*time.Second))
	if err != nil {
		t.Fatalf("Query through client_golang: %v", err)
	}
	want := model.Vector{{Metric: model.Metric{}, Value: 0.9, Timestamp: model.TimeFromUnixNano(at.UnixNano())}}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("client_golang Query (-want +got):\n%s", diff)
	}
	r, _, _, err := promv1.NewAPI(client).QueryRange(context.Background(), successRate,
		promv1.Range{Start: t0.Add(5 * time.Second), End: at, Step: 5 * time.Second})
	if err != nil {
		t.Fatalf("QueryRange through client_golang: %v", err)
	}
	if got, ok := r.(model.Matrix); !ok || len(got) != 1 || len(got[0].Values) != 2 {
		t.Errorf("client_golang QueryRange = %v, want one series of two points", r)
	}
	_, _, _, err = promv1.NewAPI(client).Query(context.Background(), "sum(", at)
	var apiErr *promv1.Error
	if !errors.As(err, &apiErr) || apiErr.Type != promv1.ErrBadData {
		t.Errorf("client_golang Query(syntax error) = %v, want a bad_data *v1.Error", err)
	}

	resp, err := http.Get(srv.URL + "/api/v1/query?" + url.Values{"query": {successRate}, "time": {unix(10 * time.Second)}}.Encode())
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	var shape struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &shape); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	if len(shape.Data.Result) != 1 {
		t.Fatalf("data.result has %d elements, want 1: %s", len(shape.Data.Result), raw)
	}
	got := []any{shape.Status, shape.Data.ResultType, shape.Data.Result[0].Value}
	wantShape := []any{"success", "vector", []any{float64(at.Unix()), "0.9"}}
	if diff := cmp.Diff(wantShape, got); diff != "" {
		t.Errorf("JSON shape (-want +got):\n%s\nbody: %s", diff, raw)
	}
}

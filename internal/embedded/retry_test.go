package embedded

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/dataplane"
	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
)

// policyProxy is a client sidecar in front of replicas served by handlers
// of this test process (real HTTP on loopback), routed by the given
// Services and VirtualServices.
type policyProxy struct {
	rt   *Runtime
	addr string // the sidecar
}

// backend is one replica of Service b: a handler, or nothing listening
// (dead: its address refuses connections).
type backend struct {
	h    http.Handler
	dead bool
}

func newPolicyProxy(t *testing.T, manifests string, backends ...backend) *policyProxy {
	t.Helper()
	rt, err := New(Options{AdminAddr: "127.0.0.1:0", WatchInterval: -1, Executable: graylaneBin}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var pods []*pod
	for i, b := range backends {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		if b.dead {
			ln.Close() // nothing accepts connections there now
		} else {
			srv := &http.Server{Handler: b.h}
			go func() { _ = srv.Serve(ln) }()
			t.Cleanup(func() { srv.Close() })
		}
		p := &pod{spec: podSpec{name: fmt.Sprintf("b-%d", i), workload: "Deployment default/b", namespace: "default",
			labels: map[string]string{"app": "b", "version": "v1"}}, addr: addr}
		p.ready.Store(true)
		pods = append(pods, p)
	}
	set, err := manifest.LoadBytes("test.yaml", []byte("apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {selector: {app: b}, ports: [{port: 80}]}\n---\n"+manifests))
	if err != nil {
		t.Fatal(err)
	}
	in := expand.RouteInput(set)
	table := route.Compile(in)
	for _, f := range table.Findings {
		if f.Severity == route.Error {
			t.Fatalf("routing: %v", f)
		}
	}
	rt.swap(table, in.Services)
	rt.cfg.Load().pods = pods
	l, err := rt.serveCaller("127.0.0.1:0", &caller{source: route.Source{Namespace: "default"}, workload: "t", app: "t", version: "v0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.close)
	t.Cleanup(rt.up.CloseIdle)
	return &policyProxy{rt: rt, addr: l.addr}
}

// vs is a VirtualService for b whose only route has the given fields
// (YAML flow mappings, e.g. "timeout: 0.5s").
func vs(fields string) string {
	return "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\nspec:\n  hosts: [b]\n  http: [{" +
		fields + ", route: [{destination: {host: b}}]}]\n"
}

// do sends a request for b through the sidecar (a proxy client).
func (pp *policyProxy) do(t *testing.T, method, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://b/x", rd)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", pp.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := req.WriteProxy(c); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// series is istio_requests_total from the source reporter, as
// "code flags = count".
func (pp *policyProxy) series(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, s := range requestSeries(t, pp.rt.metrics) {
		f := strings.Fields(s)
		if f[0] == "source" {
			out = append(out, f[2]+" "+f[3]+" = "+f[len(f)-1])
		}
	}
	sort.Strings(out)
	return out
}

// retryStats is the Envoy retry counters: "name = count" for b's cluster.
func (pp *policyProxy) retryStats(t *testing.T) []string {
	t.Helper()
	mfs, err := pp.rt.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "envoy_cluster_upstream_rq_retry") {
			continue
		}
		for _, m := range mf.GetMetric() {
			out = append(out, fmt.Sprintf("%s %s = %g", mf.GetName(), labelMap(m)["cluster_name"], m.GetCounter().GetValue()))
		}
	}
	sort.Strings(out)
	return out
}

// script answers its requests with the given codes in turn (the last one
// from then on), and records what it got.
type script struct {
	mu    sync.Mutex
	codes []int
	seen  []string // "METHOD body"
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.seen = append(s.seen, r.Method+" "+string(b))
	code := s.codes[min(len(s.seen), len(s.codes))-1]
	s.mu.Unlock()
	w.WriteHeader(code)
	fmt.Fprintf(w, "answer %d\n", len(s.seen))
}

func (s *script) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// The retry policies of a route, against replicas that fail as told; each
// case checks the answer, what the replicas saw, the request metrics and
// Envoy's retry counters.
func TestRetryPolicies(t *testing.T) {
	const cl = "outbound|80||b.default.svc.cluster.local"
	big := strings.Repeat("x", dataplane.MaxReplayBody+1)
	tests := []struct {
		name       string
		vs         string // the route's fields; "" is no VirtualService
		codes      []int
		method     string
		body       string
		wantCode   int
		wantSeen   int
		wantSeries []string
		wantRetry  []string
	}{
		{name: "5xx: fails twice, then answers", vs: "retries: {attempts: 3, retryOn: 5xx}", codes: []int{500, 502, 200},
			method: "GET", wantCode: 200, wantSeen: 3, wantSeries: []string{"200 - = 1"},
			wantRetry: []string{"envoy_cluster_upstream_rq_retry " + cl + " = 2", "envoy_cluster_upstream_rq_retry_success " + cl + " = 1"}},
		{name: "Istio's default retries 503 twice, then gives the answer with URX", codes: []int{503},
			method: "GET", wantCode: 503, wantSeen: 3, wantSeries: []string{"503 URX = 1"},
			wantRetry: []string{"envoy_cluster_upstream_rq_retry " + cl + " = 2", "envoy_cluster_upstream_rq_retry_limit_exceeded " + cl + " = 1"}},
		{name: "Istio's default does not retry a 500", codes: []int{500},
			method: "GET", wantCode: 500, wantSeen: 1, wantSeries: []string{"500 - = 1"}},
		{name: "attempts 0 disables retries", vs: "retries: {attempts: 0}", codes: []int{503},
			method: "GET", wantCode: 503, wantSeen: 1, wantSeries: []string{"503 - = 1"}},
		{name: "retriable status codes", vs: "retries: {attempts: 1, retryOn: '404'}", codes: []int{404, 200},
			method: "GET", wantCode: 200, wantSeen: 2, wantSeries: []string{"200 - = 1"},
			wantRetry: []string{"envoy_cluster_upstream_rq_retry " + cl + " = 1", "envoy_cluster_upstream_rq_retry_success " + cl + " = 1"}},
		{name: "a POST body is sent again", vs: "retries: {attempts: 2, retryOn: 5xx}", codes: []int{503, 200},
			method: "POST", body: "order=42", wantCode: 200, wantSeen: 2, wantSeries: []string{"200 - = 1"},
			wantRetry: []string{"envoy_cluster_upstream_rq_retry " + cl + " = 1", "envoy_cluster_upstream_rq_retry_success " + cl + " = 1"}},
		{name: "a body over 1 MiB is sent once", vs: "retries: {attempts: 2, retryOn: 5xx}", codes: []int{503, 200},
			method: "POST", body: big, wantCode: 503, wantSeen: 1, wantSeries: []string{"503 - = 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{codes: tc.codes}
			manifests := ""
			if tc.vs != "" {
				manifests = vs(tc.vs)
			}
			pp := newPolicyProxy(t, manifests, backend{h: s})
			code, _ := pp.do(t, tc.method, tc.body)
			if code != tc.wantCode {
				t.Errorf("answer %d, want %d", code, tc.wantCode)
			}
			seen := s.got()
			if len(seen) != tc.wantSeen {
				t.Errorf("the replica got %d requests, want %d", len(seen), tc.wantSeen)
			}
			for i, got := range seen {
				if want := tc.method + " " + tc.body; got != want {
					t.Errorf("request %d: the replica got %.40q, want %.40q", i, got, want)
				}
			}
			if diff := cmp.Diff(tc.wantSeries, pp.series(t)); diff != "" {
				t.Errorf("istio_requests_total (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRetry, pp.retryStats(t)); diff != "" {
				t.Errorf("retry counters (-want +got):\n%s", diff)
			}
		})
	}
}

// A route timeout of 0.5 s with a replica that takes 2 s: 504 UT from the
// proxy (Istio answers so; before, the embedded runtime waited and gave
// 200). The replica sees its request cancelled. The status and flag are
// checked, not the time.
func TestRouteTimeout(t *testing.T) {
	cancelled := make(chan struct{}, 1)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
			_, _ = io.WriteString(w, "late\n")
		case <-r.Context().Done():
			cancelled <- struct{}{}
		}
	})
	pp := newPolicyProxy(t, vs("timeout: 0.5s"), backend{h: slow})
	code, body := pp.do(t, "GET", "")
	if code != http.StatusGatewayTimeout || body != "upstream request timeout" {
		t.Errorf("answer %d %q, want 504 \"upstream request timeout\"", code, body)
	}
	if diff := cmp.Diff([]string{"504 UT = 1"}, pp.series(t)); diff != "" {
		t.Errorf("istio_requests_total (-want +got):\n%s", diff)
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Error("the replica's request was not cancelled")
	}
}

// The route timeout bounds the answer's body too: a replica that sends
// its head and then stalls is cut at the timeout, flagged UT.
func TestRouteTimeoutBody(t *testing.T) {
	stall := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "12345")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	pp := newPolicyProxy(t, vs("timeout: 0.3s"), backend{h: stall})
	req, _ := http.NewRequest("GET", "http://b/x", nil)
	c, err := net.Dial("tcp", pp.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = req.WriteProxy(c)
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || err == nil || string(b) != "12345" {
		t.Errorf("answer %d %q %v, want 200 cut after 12345", resp.StatusCode, b, err)
	}
	if diff := cmp.Diff([]string{"200 UT = 1"}, pp.series(t)); diff != "" {
		t.Errorf("istio_requests_total (-want +got):\n%s", diff)
	}
}

// perTryTimeout: a try that gets no answer head in time is retried (under
// 5xx, gateway-error or reset); every try timing out ends in 504 UT,URX.
func TestPerTryTimeout(t *testing.T) {
	var n atomic.Int32
	slowFirst := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	pp := newPolicyProxy(t, vs("retries: {attempts: 2, perTryTimeout: 0.2s, retryOn: gateway-error}"), backend{h: slowFirst})
	if code, body := pp.do(t, "GET", ""); code != 200 || body != "ok" || n.Load() != 2 {
		t.Errorf("answer %d %q after %d tries, want 200 ok after 2", code, body, n.Load())
	}
	never := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	pp = newPolicyProxy(t, vs("retries: {attempts: 2, perTryTimeout: 0.1s, retryOn: 5xx}"), backend{h: never})
	if code, body := pp.do(t, "GET", ""); code != 504 || body != "upstream request timeout" {
		t.Errorf("answer %d %q, want 504 upstream request timeout", code, body)
	}
	if diff := cmp.Diff([]string{"504 UT,URX = 1"}, pp.series(t)); diff != "" {
		t.Errorf("istio_requests_total (-want +got):\n%s", diff)
	}
}

// Connection failures: Istio's default retries them on another replica;
// with no replica left that accepts, the answer is 503 UF,URX.
func TestConnectFailureRetries(t *testing.T) {
	ok := &script{codes: []int{200}}
	pp := newPolicyProxy(t, "", backend{dead: true}, backend{h: ok})
	for i := 0; i < 10; i++ {
		if code, _ := pp.do(t, "GET", ""); code != 200 {
			t.Fatalf("request %d: %d, want 200 (retried on the live replica)", i, code)
		}
	}
	if got := len(ok.got()); got != 10 {
		t.Errorf("the live replica got %d requests, want 10", got)
	}
	// Round-robin starts half of them on the dead replica.
	if stats := pp.retryStats(t); len(stats) != 2 || !strings.HasPrefix(stats[0], "envoy_cluster_upstream_rq_retry outbound|80||b.default.svc.cluster.local = ") {
		t.Errorf("retry counters %v, want retries and successes", stats)
	}

	pp = newPolicyProxy(t, "", backend{dead: true})
	code, body := pp.do(t, "GET", "")
	if code != 503 || !strings.HasPrefix(body, "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: connection failure") {
		t.Errorf("answer %d %q, want 503 connection failure", code, body)
	}
	if diff := cmp.Diff([]string{"503 UF,URX = 1"}, pp.series(t)); diff != "" {
		t.Errorf("istio_requests_total (-want +got):\n%s", diff)
	}

	pp = newPolicyProxy(t, vs("retries: {attempts: 0}"), backend{dead: true})
	if code, _ := pp.do(t, "GET", ""); code != 503 {
		t.Errorf("answer %d, want 503", code)
	}
	if diff := cmp.Diff([]string{"503 UF = 1"}, pp.series(t)); diff != "" {
		t.Errorf("istio_requests_total (-want +got):\n%s", diff)
	}
}

// A retry goes to another replica when there is one (the previous-hosts
// predicate): with a replica that always answers 503 and one that
// answers 200, every request gets 200; retryIgnorePreviousHosts: false
// may pick the failing replica again.
func TestRetryOtherHost(t *testing.T) {
	bad, good := &script{codes: []int{503}}, &script{codes: []int{200}}
	pp := newPolicyProxy(t, vs("retries: {attempts: 1}"), backend{h: bad}, backend{h: good})
	for i := 0; i < 20; i++ {
		if code, _ := pp.do(t, "GET", ""); code != 200 {
			t.Fatalf("request %d: %d, want 200", i, code)
		}
	}
	if b, g := len(bad.got()), len(good.got()); b == 0 || g != 20 {
		t.Errorf("the failing replica got %d, the good one %d; want some and 20", b, g)
	}
}

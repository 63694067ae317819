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
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/graylane/graylane/internal/dataplane"
	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
)

// edgeProxy is a runtime whose sidecar listener (workload "t") routes
// host "b" to the backend, under the given edge options.
type edgeProxy struct {
	rt      *Runtime
	l       *listener
	addr    string // the listener
	backend string // the backend's address
	pod     *pod
}

func newEdgeProxy(t *testing.T, edge dataplane.EdgeOptions, backend http.Handler) *edgeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: backend}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	p := readyPod("b", "v1", ln.Addr().String())
	rt, l := serveRouted(t, edge, "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {selector: {app: b}, ports: [{port: 80}]}\n", p)
	return &edgeProxy{rt: rt, l: l, addr: l.addr, backend: ln.Addr().String(), pod: p}
}

// readyPod is a ready replica "APP-0" of Deployment default/APP at addr.
func readyPod(app, version, addr string) *pod {
	p := &pod{spec: podSpec{name: app + "-0", workload: "Deployment default/" + app, namespace: "default", labels: map[string]string{"app": app, "version": version}}, addr: addr}
	p.ready.Store(true)
	return p
}

// serveRouted is a runtime under the given edge options whose routing is
// compiled from manifest and whose replicas are pods, with a sidecar
// listener of workload "t" in namespace default.
func serveRouted(t *testing.T, edge dataplane.EdgeOptions, manifestYAML string, pods ...*pod) (*Runtime, *listener) {
	t.Helper()
	return serveRoutedWith(t, Options{Edge: edge}, manifestYAML, pods...)
}

// serveRoutedWith is serveRouted under the edge options and outbound
// policy of opts.
func serveRoutedWith(t *testing.T, opts Options, manifestYAML string, pods ...*pod) (*Runtime, *listener) {
	t.Helper()
	opts.AdminAddr, opts.WatchInterval, opts.Executable = "127.0.0.1:0", -1, graylaneBin
	rt, err := New(opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	set, err := manifest.LoadBytes("test.yaml", []byte(manifestYAML))
	if err != nil {
		t.Fatal(err)
	}
	in := expand.RouteInput(set)
	in.Outbound = opts.Outbound
	rt.swap(route.Compile(in), in.Services)
	cfg := rt.cfg.Load()
	cfg.pods = pods
	for _, p := range pods {
		cfg.byAddr[p.addr] = p
	}
	l, err := rt.serveCaller("127.0.0.1:0", &caller{source: route.Source{Namespace: "default"}, workload: "t", app: "t", version: "v0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.close)
	t.Cleanup(rt.up.CloseIdle)
	return rt, l
}

// exchange sends raw on a new connection (while reading, so that the
// proxy may answer before all of it is sent) and returns the answers
// the proxy gave before it closed the connection, as "code|code|...",
// with the first answer's X-Graylane-Reason.
func (e *edgeProxy) exchange(t *testing.T, raw string) (codes, reason string) {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second)) // a guard against a hang only
	go func() { _, _ = io.WriteString(c, raw) }()
	return readAnswers(t, c)
}

// readAnswers reads answers until the connection ends.
func readAnswers(t *testing.T, c net.Conn) (codes, reason string) {
	t.Helper()
	br := bufio.NewReader(c)
	var got []string
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if _, err := br.Peek(1); err == nil {
				t.Fatalf("unreadable answer after %v", got)
			}
			return strings.Join(got, "|"), reason
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if len(got) == 0 {
			reason = resp.Header.Get("X-Graylane-Reason")
		}
		got = append(got, fmt.Sprint(resp.StatusCode))
	}
}

// series lists istio_requests_total as "reporter code flags
// destination_service_name destination_workload = count", sorted.
func (e *edgeProxy) series(t *testing.T) []string {
	t.Helper()
	return requestSeries(t, e.rt.metrics)
}

func requestSeries(t *testing.T, ms *metrics) []string {
	t.Helper()
	return seriesWith(t, ms, "reporter", "source_workload", "response_code", "response_flags", "destination_service_name", "destination_workload")
}

// seriesWith is each istio_requests_total series as "VALUE... = count"
// with the values of the labels named, in their order, sorted.
func seriesWith(t *testing.T, ms *metrics, labels ...string) []string {
	t.Helper()
	mfs, err := ms.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "istio_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := labelMap(m)
			var b strings.Builder
			for _, name := range labels {
				b.WriteString(l[name])
				b.WriteByte(' ')
			}
			out = append(out, fmt.Sprintf("%s= %g", b.String(), m.GetCounter().GetValue()))
		}
	}
	sort.Strings(out)
	return out
}

func labelMap(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// recorder is a backend that records the requests it gets.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.seen = append(rec.seen, fmt.Sprintf("%s %s %q %v", r.Method, r.URL.Path, b, err == nil))
	rec.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

func (rec *recorder) got() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.seen...)
}

// TestEdgeSmuggling (issue #15 item 1): a request with both
// Content-Length and Transfer-Encoding is refused with 400 and the
// connection closed; nothing reaches the pod, neither request nor the
// smuggled one.
func TestEdgeSmuggling(t *testing.T) {
	rec := &recorder{}
	e := newEdgeProxy(t, dataplane.EdgeOptions{}, rec)
	tests := []struct{ name, raw string }{
		{"CL.TE", "POST /a HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: b\r\n\r\n"},
		{"TE.CL", "POST /a HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"},
		{"TE.TE, obfuscated", "POST /a HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"},
		{"TE folded", "POST /a HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\nTransfer-Encoding:\r\n chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"},
		{"differing lengths", "POST /a HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabcGET /smuggled HTTP/1.1\r\nHost: b\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := e.exchange(t, tc.raw); got != "400" {
				t.Errorf("answers %q, want one 400", got)
			}
		})
	}
	if got := rec.got(); len(got) > 0 {
		t.Errorf("the pod got %q", got)
	}
	want := []string{"source t 400 DPE unknown unknown = 5"}
	if diff := cmp.Diff(want, e.series(t)); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
}

// TestEdgeChunkErrors (issue #15 item 4): a malformed chunked body is
// the client's error: 400 and the connection closed, counted as DPE with
// no destination - never as a 503 UF against the pod.
func TestEdgeChunkErrors(t *testing.T) {
	e := newEdgeProxy(t, dataplane.EdgeOptions{}, &recorder{})
	head := "POST /a HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n"
	bodies := []struct{ name, body string }{
		{"zz", "zz\r\nhello\r\n0\r\n\r\n"},
		{"-5", "-5\r\nhello\r\n0\r\n\r\n"},
		{"0x5", "0x5\r\nhello\r\n0\r\n\r\n"},
		{"twenty f's", strings.Repeat("f", 20) + "\r\nhello\r\n0\r\n\r\n"},
		{"missing CRLF", "5\r\nhelloXY0\r\n\r\n"},
		{"LF-only lines", "5\nhello\n0\n\n"},
	}
	for _, tc := range bodies {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := e.exchange(t, head+tc.body); got != "400" {
				t.Errorf("answers %q, want one 400", got)
			}
		})
	}
	// A good chunked body still goes through.
	if got, _ := e.exchange(t, head+"5\r\nhello\r\n0\r\n\r\nGET /x HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"); got != "200|200" {
		t.Errorf("good chunked body: answers %q", got)
	}
	want := []string{
		"destination t 200 - b b = 2",
		"source t 200 - b b = 2",
		"source t 400 DPE unknown unknown = 6",
	}
	if diff := cmp.Diff(want, e.series(t)); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
}

// TestEdgeHeadLimits (issue #15 item 2): heads over the limits are
// answered 431 or 414 as soon as the limit is crossed - a head in
// progress is not waited for - and counted.
func TestEdgeHeadLimits(t *testing.T) {
	rec := &recorder{}
	e := newEdgeProxy(t, dataplane.EdgeOptions{}, rec)
	tests := []struct{ name, raw, want string }{
		{"1 MB header value", "GET / HTTP/1.1\r\nHost: b\r\nX-Big: " + strings.Repeat("v", 1<<20) + "\r\n\r\n", "431"},
		{"10,000 header fields", "GET / HTTP/1.1\r\nHost: b\r\n" + strings.Repeat("X-F: v\r\n", 10000) + "\r\n", "431"},
		{"100 KB request target", "GET /" + strings.Repeat("a", 100<<10) + " HTTP/1.1\r\nHost: b\r\n\r\n", "414"},
		{"head over 60 KiB in 8 KiB fields", "GET / HTTP/1.1\r\nHost: b\r\n" + strings.Repeat("X-F: "+strings.Repeat("v", 8<<10)+"\r\n", 8) + "\r\n", "431"},
		{"a header value in progress", "GET / HTTP/1.1\r\nHost: b\r\nX-Big: " + strings.Repeat("v", 200<<10), "431"},
		{"100 fields and 40 KiB: served", "GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n" + strings.Repeat("X-F: "+strings.Repeat("v", 400)+"\r\n", 98) + "\r\n", "200"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := e.exchange(t, tc.raw); got != tc.want {
				t.Errorf("answers %q, want %s", got, tc.want)
			}
		})
	}
	want := []string{
		"destination t 200 - b b = 1",
		"source t 200 - b b = 1",
		"source t 414 DPE unknown unknown = 1",
		"source t 431 DPE unknown unknown = 4",
	}
	if diff := cmp.Diff(want, e.series(t)); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
}

// TestEdgeTimeouts (issue #15 item 3): a body the client stops sending is
// answered 408 and the connection closed; so is a head that does not
// complete; a length over the limit is answered 413 at once; a pod that
// does not answer gets 504; and all of them let their connections go.
func TestEdgeTimeouts(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			<-release
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
	})
	e := newEdgeProxy(t, dataplane.EdgeOptions{StreamIdleTimeout: 200 * time.Millisecond, RequestHeadersTimeout: 200 * time.Millisecond}, backend)
	tests := []struct{ name, raw, want string }{
		{"body stops", "POST /a HTTP/1.1\r\nHost: b\r\nContent-Length: 1000000\r\n\r\n0123456789", "408"},
		{"chunked body stops", "POST /a HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123", "408"},
		{"head stops", "GET /a HTTP/1.1\r\nHost: b\r\n", "408"},
		{"18-digit Content-Length", "POST /a HTTP/1.1\r\nHost: b\r\nContent-Length: 999999999999999999\r\n\r\n0123456789", "413"},
		{"pod does not answer", "GET /hang HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n", "504"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", e.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(60 * time.Second))
			if _, err := io.WriteString(c, tc.raw); err != nil {
				t.Fatal(err)
			}
			// The client sends nothing more and keeps its connection
			// open: the proxy answers and closes.
			if got, _ := readAnswers(t, c); got != tc.want {
				t.Errorf("answers %q, want %s", got, tc.want)
			}
		})
	}
	want := []string{
		"destination t 504 SI b b = 1",
		"source t 408 - unknown unknown = 1",
		"source t 408 SI unknown unknown = 2",
		"source t 413 DPE unknown unknown = 1",
		"source t 504 SI b b = 1",
	}
	if diff := cmp.Diff(want, e.series(t)); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
	waitFor(t, "every connection closed", func() bool { return e.l.fast.LiveConns() == 0 })
}

// TestEdgeSilentClients (issue #15 item 3): many clients that announce a
// large body, send a little and go silent are all closed by the stream
// idle timeout; none is kept.
func TestEdgeSilentClients(t *testing.T) {
	e := newEdgeProxy(t, dataplane.EdgeOptions{StreamIdleTimeout: 200 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	const n = 50
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "POST /a HTTP/1.1\r\nHost: b\r\nContent-Length: 1000000\r\n\r\n0123456789"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		if got, _ := readAnswers(t, c); got != "408" {
			t.Errorf("answers %q, want 408", got)
		}
	}
	waitFor(t, "every connection closed", func() bool { return e.l.fast.LiveConns() == 0 })
}

// TestEdgeMaxConnections: one connection over the limit is closed at
// once, and counted.
func TestEdgeMaxConnections(t *testing.T) {
	e := newEdgeProxy(t, dataplane.EdgeOptions{MaxConnections: 2}, &recorder{})
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	waitFor(t, "two connections served", func() bool { return e.l.fast.LiveConns() == 2 })
	if got, _ := e.exchange(t, "GET /a HTTP/1.1\r\nHost: b\r\n\r\n"); got != "" {
		t.Errorf("a third connection got %q, want it closed", got)
	}
	mfs, err := e.rt.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		if mf.GetName() == "graylane_downstream_cx_overflow_total" {
			for _, m := range mf.GetMetric() {
				got = append(got, fmt.Sprintf("%s %g", labelMap(m)["listener"], m.GetCounter().GetValue()))
			}
		}
	}
	if diff := cmp.Diff([]string{"t 1"}, got); diff != "" {
		t.Errorf("overflow (-want +got):\n%s", diff)
	}
	held[0].Close()
	waitFor(t, "a connection closed", func() bool { return e.l.fast.LiveConns() == 1 })
	if got, _ := e.exchange(t, "GET /a HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"); got != "200" {
		t.Errorf("below the limit again: %q", got)
	}
}

// TestEdgeHostAndVersion (issue #15 item 6).
func TestEdgeHostAndVersion(t *testing.T) {
	rec := &recorder{}
	e := newEdgeProxy(t, dataplane.EdgeOptions{}, rec)
	tests := []struct{ name, raw, want string }{
		{"HTTP/1.1 without Host", "GET /a HTTP/1.1\r\n\r\n", "400"},
		{"HTTP/1.1 with an empty Host (no authority: RFC 9112 3.2)", "GET /a HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n", "503"},
		{"HTTP/1.0 chunked", "POST http://b/a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "400"},
		{"HTTP/1.0 with a length", "POST http://b/ten HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello", "200"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := e.exchange(t, tc.raw); got != tc.want {
				t.Errorf("answers %q, want %s", got, tc.want)
			}
		})
	}
	if diff := cmp.Diff([]string{`POST /ten "hello" true`}, rec.got()); diff != "" {
		t.Errorf("the pod got (-want +got):\n%s", diff)
	}
}

// TestEdgePassthroughSeries (issue #15 item 5): requests for hosts that
// are not Services make one series, PassthroughCluster, however many
// hosts clients name. (They go to their original destination, as with
// Istio's default outbound policy ALLOW_ANY; nothing listens at these
// addresses, so each answer is 503 UF, without retries.)
func TestEdgePassthroughSeries(t *testing.T) {
	e := newEdgeProxy(t, dataplane.EdgeOptions{}, &recorder{})
	var raw strings.Builder
	for i := range 200 {
		// Addresses, not names: a name that resolves nowhere would make
		// the test wait on this machine's DNS.
		fmt.Fprintf(&raw, "GET http://127.1.0.%d:1/ HTTP/1.1\r\nHost: 127.1.0.%d:1\r\n\r\n", i+1, i+1)
	}
	raw.WriteString("GET http://b/ HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
	got, _ := e.exchange(t, raw.String())
	if want := strings.Repeat("503|", 200) + "200"; got != want {
		t.Errorf("answers %q", got)
	}
	want := []string{
		"destination t 200 - b b = 1",
		"source t 200 - b b = 1",
		"source t 503 UF PassthroughCluster unknown = 200",
	}
	if diff := cmp.Diff(want, e.series(t)); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
}

// TestMetricsForgetPod (issue #15 item 5): the series of a workload go
// with its last pod (forgetPod drops them forgetAfter after the pod
// stopped), as destination and as source; another workload's stay.
func TestMetricsForgetPod(t *testing.T) {
	ms := newMetrics()
	gw := &caller{workload: "istio-ingressgateway", app: "istio-ingressgateway", version: "unknown"}
	newPod := func(name, workload, version string) *pod {
		p := &pod{spec: podSpec{name: name, workload: "Deployment default/" + workload, namespace: "default", labels: map[string]string{"app": workload, "version": version}}}
		p.sidecar = &listener{}
		p.sidecar.caller.Store(&caller{source: route.Source{Namespace: "default", Labels: p.spec.labels}, workload: workload, app: workload, version: version})
		return p
	}
	a0, a1, b0 := newPod("a-0", "a", "v1"), newPod("a-1", "a", "v1"), newPod("b-0", "b", "v1")
	record := func(c *caller, p *pod) {
		m := metric{caller: c, pod: p, dest: "x.default.svc.cluster.local", start: time.Now()}
		m.record(ms, 200)
	}
	record(gw, a0)
	record(gw, a1)
	record(a0.sidecar.caller.Load(), b0)
	record(a1.sidecar.caller.Load(), b0)
	record(gw, b0)
	all := []string{
		"destination a 200 - x b = 2",
		"destination istio-ingressgateway 200 - x a = 2",
		"destination istio-ingressgateway 200 - x b = 1",
		"source a 200 - x b = 2",
		"source istio-ingressgateway 200 - x a = 2",
		"source istio-ingressgateway 200 - x b = 1",
	}
	if diff := cmp.Diff(all, requestSeries(t, ms)); diff != "" {
		t.Fatalf("series (-want +got):\n%s", diff)
	}
	ms.drop(a0)
	if diff := cmp.Diff(all, requestSeries(t, ms)); diff != "" {
		t.Errorf("after one of a's pods went (-want +got):\n%s", diff)
	}
	ms.drop(a1)
	want := []string{
		"destination istio-ingressgateway 200 - x b = 1",
		"source istio-ingressgateway 200 - x b = 1",
	}
	if diff := cmp.Diff(want, requestSeries(t, ms)); diff != "" {
		t.Errorf("after a went (-want +got):\n%s", diff)
	}
	// A new series of b, after a's went, is counted as before.
	record(gw, b0)
	want = []string{
		"destination istio-ingressgateway 200 - x b = 2",
		"source istio-ingressgateway 200 - x b = 2",
	}
	if diff := cmp.Diff(want, requestSeries(t, ms)); diff != "" {
		t.Errorf("b still counted (-want +got):\n%s", diff)
	}
}

// TestEdgeCancelAbandoned (issue #15 item 9): a client that gives up on a
// slow pod cancels the pod's request: the upstream connection is closed
// (the pod sees it), not pooled, and the proxy lets go of the client's.
func TestEdgeCancelAbandoned(t *testing.T) {
	received, cancelled := make(chan struct{}, 10), make(chan struct{}, 10)
	e := newEdgeProxy(t, dataplane.EdgeOptions{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received <- struct{}{}
		<-r.Context().Done() // net/http: the proxy closed the connection
		cancelled <- struct{}{}
	}))
	const n = 5
	for range n {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: b\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		<-received
		c.Close()
	}
	for range n {
		select {
		case <-cancelled:
		case <-time.After(60 * time.Second):
			t.Fatal("the pod's request was not cancelled")
		}
	}
	waitFor(t, "every client connection let go", func() bool { return e.l.fast.LiveConns() == 0 })
	if idle := e.rt.up.IdleConns(e.backend); idle != 0 {
		t.Errorf("%d cancelled upstream connections pooled", idle)
	}
	want := []string{"destination t 0 DC b b = 5", "source t 0 DC b b = 5"}
	if diff := cmp.Diff(want, e.series(t)); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
}

// TestEdgeSlowAnswers: a client that waits gets a slow answer, and a
// request it pipelined behind a slow one is served after it.
func TestEdgeSlowAnswers(t *testing.T) {
	e := newEdgeProxy(t, dataplane.EdgeOptions{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(3 * dataplane.WatchDelay) // a slow pod; the watcher starts meanwhile
		}
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	tests := []struct{ name, raw, want string }{
		{"slow", "GET /slow HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n", "200"},
		{"slow, then keep-alive", "GET /slow HTTP/1.1\r\nHost: b\r\n\r\n", ""},
		{"pipelined behind a slow one", "GET /slow HTTP/1.1\r\nHost: b\r\n\r\nGET /fast HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n", "200|200"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				// The connection stays usable after a watched request.
				c, err := net.Dial("tcp", e.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(60 * time.Second))
				br := bufio.NewReader(c)
				for _, path := range []string{"/slow", "/slow", "/fast"} {
					if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: b\r\n\r\n", path); err != nil {
						t.Fatal(err)
					}
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatalf("%s: %v", path, err)
					}
					b, _ := io.ReadAll(resp.Body)
					if string(b) != path {
						t.Errorf("%s: got %q", path, b)
					}
				}
				return
			}
			if got, _ := e.exchange(t, tc.raw); got != tc.want {
				t.Errorf("answers %q, want %s", got, tc.want)
			}
		})
	}
}

// TestEdgeParking (issue #15 item 10): an idle kept-alive connection gives
// its buffers back and waits with none; its next request is served as
// usual.
func TestEdgeParking(t *testing.T) {
	e := newEdgeProxy(t, dataplane.EdgeOptions{}, &recorder{})
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(c)
	get := func(path string) {
		t.Helper()
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: b\r\n\r\n", path); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
	get("/1")
	waitFor(t, "the connection parked", func() bool { return e.l.fast.Parked() == 1 })
	get("/2")
	if n := e.l.fast.Parked(); n != 0 {
		t.Errorf("%d parked while serving", n)
	}
	waitFor(t, "the connection parked again", func() bool { return e.l.fast.Parked() == 1 })
	c.Close()
	waitFor(t, "the parked connection closed", func() bool { return e.l.fast.LiveConns() == 0 && e.l.fast.Parked() == 0 })
}

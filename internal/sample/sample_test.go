package sample

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testClient never uses a proxy, whatever the environment says.
var testClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 20 * time.Second}

// start serves a sample app on a random loopback port until the test ends and
// returns its base URL.
func start(t *testing.T, o Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, o, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String() + "/"
}

func app(name string, upstreams ...string) Options {
	o := DefaultOptions()
	o.App, o.Version, o.Upstreams = name, "v1", upstreams
	return o
}

type answer struct {
	status int
	body   string
}

func get(t *testing.T, u string, header http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, string(b)}
}

var jsonAccept = http.Header{"Accept": {"application/json"}}

func TestAnswers(t *testing.T) {
	c := start(t, app("c"))
	b := start(t, app("b", c))
	a := start(t, app("a", b))
	fan := start(t, app("appa", b, c))
	solo := start(t, Options{App: "appa", Version: "v2", Port: 0})
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hello <world>\r\n")
	}))
	defer plain.Close()
	other := start(t, app("a", plain.URL))
	tests := []struct {
		name   string
		url    string
		header http.Header
		want   answer
	}{
		{"single text", solo, nil, answer{200, "appa(v2)\n"}},
		{"single text any path", solo + "some/path?q=1", nil, answer{200, "appa(v2)\n"}},
		{"single json", solo, jsonAccept, answer{200, `{"app":"appa","version":"v2"}` + "\n"}},
		{"json accept list", solo, http.Header{"Accept": {"text/html, Application/JSON;q=0.9"}}, answer{200, `{"app":"appa","version":"v2"}` + "\n"}},
		{"chain text", a, nil, answer{200, "a(v1) -> b(v1) -> c(v1)\n"}},
		{"chain json", a, jsonAccept, answer{200, `{"app":"a","version":"v1","upstream":{"app":"b","version":"v1","upstream":{"app":"c","version":"v1"}}}` + "\n"}},
		{"two upstreams text", fan, nil, answer{200, "appa(v1) -> [b(v1) -> c(v1), c(v1)]\n"}},
		{"two upstreams json", fan, jsonAccept, answer{200, `{"app":"appa","version":"v1","upstreams":[{"app":"b","version":"v1","upstream":{"app":"c","version":"v1"}},{"app":"c","version":"v1"}]}` + "\n"}},
		{"not a sample text", other, nil, answer{200, "a(v1) -> hello <world>\n"}},
		{"not a sample json", other, jsonAccept, answer{200, `{"app":"a","version":"v1","upstream":"hello <world>"}` + "\n"}},
		{"healthz", a + "healthz", nil, answer{200, "ok\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := get(t, tc.url, tc.header)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(answer{})); diff != "" {
				t.Errorf("GET %s (-want +got):\n%s", tc.url, diff)
			}
		})
	}
	t.Run("json is valid", func(t *testing.T) {
		var v map[string]any
		if err := json.Unmarshal([]byte(get(t, fan, jsonAccept).body), &v); err != nil {
			t.Error(err)
		}
	})
}

func TestMethodsAndHeaders(t *testing.T) {
	u := start(t, app("a"))
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, u+"x", strings.NewReader("payload"))
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := []string{string(body), resp.Header.Get("X-Sample"), resp.Header.Get("Content-Type")}
		want := []string{"a(v1)\n", "a(v1)", "text/plain; charset=utf-8"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", method, diff)
		}
	}
}

// recorder is an upstream that records the headers it received.
type recorder struct {
	mu     sync.Mutex
	header http.Header
	uri    string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.header, rec.uri = r.Header.Clone(), r.RequestURI
	rec.mu.Unlock()
	io.WriteString(w, "up(v9)\n")
}

func TestHeaderPropagation(t *testing.T) {
	rec := &recorder{}
	up := httptest.NewServer(rec)
	defer up.Close()
	a := start(t, app("a", up.URL+"/path"))
	in := http.Header{
		"X-Graylane":   {"lane-1"},
		"Baggage":      {"k=v"},
		"X-B3-Traceid": {"abc"},
		"X-Secret":     {"s"},
		"Cookie":       {"c=1"},
	}
	got := get(t, a, in)
	if diff := cmp.Diff(answer{200, "a(v1) -> up(v9)\n"}, got, cmp.AllowUnexported(answer{})); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	gotHeaders := map[string]string{}
	for _, k := range []string{"X-Graylane", "Baggage", "X-B3-Traceid", "X-Secret", "Cookie", "Accept"} {
		gotHeaders[k] = rec.header.Get(k)
	}
	want := map[string]string{"X-Graylane": "lane-1", "Baggage": "k=v", "X-B3-Traceid": "abc", "X-Secret": "", "Cookie": "", "Accept": "text/plain"}
	if diff := cmp.Diff(want, gotHeaders); diff != "" {
		t.Errorf("upstream headers (-want +got):\n%s", diff)
	}
	if rec.uri != "/path" {
		t.Errorf("upstream request URI %q, want /path", rec.uri)
	}
}

func TestErrorRate(t *testing.T) {
	tests := []struct {
		rate     float64
		n        int
		min, max int // failures
	}{
		{1, 200, 200, 200},
		{0, 200, 0, 0},
		{0.5, 2000, 800, 1200},
	}
	for _, tc := range tests {
		o := app("a")
		o.ErrorRate = tc.rate
		u := start(t, o)
		failed := 0
		for range tc.n {
			got := get(t, u, nil)
			switch got {
			case answer{500, "a(v1): injected error\n"}:
				failed++
			case answer{200, "a(v1)\n"}:
			default:
				t.Fatalf("error_rate %v: unexpected answer %+v", tc.rate, got)
			}
		}
		if failed < tc.min || failed > tc.max {
			t.Errorf("error_rate %v: %d of %d failed, want %d..%d", tc.rate, failed, tc.n, tc.min, tc.max)
		}
	}
	o := app("a")
	o.ErrorRate = 1
	got := get(t, start(t, o), jsonAccept)
	want := answer{500, `{"app":"a","version":"v1","error":"injected error"}` + "\n"}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(answer{})); diff != "" {
		t.Errorf("json (-want +got):\n%s", diff)
	}
}

// deadURL returns a loopback URL nothing listens on.
func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String() + "/"
	ln.Close()
	return u
}

func TestUpstreamFailure(t *testing.T) {
	dead := deadURL(t)
	b := start(t, app("b", dead))
	a := start(t, app("a", b))
	failing := app("f")
	failing.ErrorRate = 1
	f := start(t, failing)
	fan := start(t, app("a", start(t, app("ok")), f))
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no such thing", http.StatusNotFound)
	}))
	defer plain.Close()
	p := start(t, app("a", plain.URL))
	tests := []struct {
		name       string
		url        string
		header     http.Header
		wantPrefix string
	}{
		{"down text", b, nil, "b(v1) -> " + dead + ": dial tcp "},
		{"down json", b, jsonAccept, `{"app":"b","version":"v1","error":"` + dead + `: dial tcp `},
		{"broken chain text", a, nil, "a(v1) -> " + b + ": 502 Bad Gateway: b(v1) -> " + dead + ": dial tcp "},
		{"broken chain json", a, jsonAccept, `{"app":"a","version":"v1","error":"` + b + `: 502 Bad Gateway","upstream":{"app":"b","version":"v1","error":"` + dead + ": dial tcp "},
		{"injected upstream error", fan, nil, "a(v1) -> " + f + ": 500 Internal Server Error: f(v1): injected error\n"},
		{"not a sample json", p, jsonAccept, `{"app":"a","version":"v1","error":"` + plain.URL + `: 404 Not Found: no such thing"}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := get(t, tc.url, tc.header)
			if got.status != http.StatusBadGateway || !strings.HasPrefix(got.body, tc.wantPrefix) {
				t.Errorf("got %d %q\nwant 502 %q...", got.status, got.body, tc.wantPrefix)
			}
			if tc.header != nil && !json.Valid([]byte(got.body)) {
				t.Errorf("invalid JSON: %s", got.body)
			}
		})
	}
}

func TestLatency(t *testing.T) {
	o := app("a")
	o.Latency = 30 * time.Millisecond
	u := start(t, o)
	for range 3 {
		began := time.Now()
		got := get(t, u, nil)
		// A lower bound only: a slow machine may take longer.
		if took := time.Since(began); took < 30*time.Millisecond {
			t.Errorf("answered in %v, want at least 30ms", took)
		}
		if got != (answer{200, "a(v1)\n"}) {
			t.Errorf("got %+v", got)
		}
	}
	if got := get(t, u+"healthz", nil); got != (answer{200, "ok\n"}) {
		t.Errorf("healthz: got %+v", got)
	}
}

// TestProxy checks that upstream calls go through HTTP_PROXY, read when the
// handler is built (not cached by net/http).
func TestProxy(t *testing.T) {
	backend := &recorder{}
	bs := httptest.NewServer(backend)
	defer bs.Close()
	backendURL, _ := url.Parse(bs.URL)

	var mu sync.Mutex
	var proxied []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied = append(proxied, r.RequestURI)
		mu.Unlock()
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Host = backendURL.Host // appb.test is not resolvable: the proxy maps it
		resp, err := (&http.Transport{}).RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()

	for _, k := range []string{"HTTP_PROXY", "http_proxy"} {
		t.Setenv(k, proxy.URL)
	}
	for _, k := range []string{"NO_PROXY", "no_proxy", "REQUEST_METHOD"} {
		t.Setenv(k, "")
	}
	a := start(t, app("a", "http://appb.test:8000/hello"))
	got := get(t, a, http.Header{"X-Graylane": {"lane-1"}})
	if diff := cmp.Diff(answer{200, "a(v1) -> up(v9)\n"}, got, cmp.AllowUnexported(answer{})); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"http://appb.test:8000/hello"}, proxied); diff != "" {
		t.Errorf("proxied requests (-want +got):\n%s", diff)
	}
	backend.mu.Lock()
	defer backend.mu.Unlock()
	if got := backend.header.Get("X-Graylane"); got != "lane-1" {
		t.Errorf("X-Graylane through the proxy = %q, want lane-1", got)
	}
}

func TestShutdown(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "up(v9)\n")
	}))
	defer up.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, app("a", up.URL), nil) }()
	u := "http://" + ln.Addr().String() + "/"
	inflight := make(chan answer, 1)
	go func() {
		resp, err := testClient.Get(u)
		if err != nil {
			inflight <- answer{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		inflight <- answer{resp.StatusCode, string(b)}
	}()
	<-arrived
	cancel()
	time.Sleep(20 * time.Millisecond) // let Shutdown begin; the test holds either way
	close(release)
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if got := <-inflight; got != (answer{200, "a(v1) -> up(v9)\n"}) {
		t.Errorf("in-flight request: got %+v, want it to finish", got)
	}
	if _, err := testClient.Get(u); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func TestRunInvalid(t *testing.T) {
	o := app("a")
	o.ErrorRate = 2
	if err := Run(context.Background(), o, nil); err == nil || !strings.Contains(err.Error(), "error_rate") {
		t.Errorf("Run = %v, want an error naming error_rate", err)
	}
}

// nopWriter is a ResponseWriter that allocates nothing, to measure the handler.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

func BenchmarkHandlerLeaf(b *testing.B) {
	h, err := NewHandler(app("a"))
	if err != nil {
		b.Fatal(err)
	}
	for _, accept := range []string{"text/plain", "application/json"} {
		b.Run(accept, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Accept", accept)
			r.Header.Set("X-Graylane", "lane-1")
			w := &nopWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}

func BenchmarkChain(b *testing.B) {
	c := httptest.NewServer(mustHandler(b, app("c")))
	defer c.Close()
	a := httptest.NewServer(mustHandler(b, app("a", c.URL)))
	defer a.Close()
	r, _ := http.NewRequest(http.MethodGet, a.URL, nil)
	r.Header.Set("X-Graylane", "lane-1")
	b.ReportAllocs()
	for b.Loop() {
		resp, err := testClient.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func mustHandler(b *testing.B, o Options) http.Handler {
	h, err := NewHandler(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.CloseIdleConnections)
	return h
}

package embedded

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/dataplane"
	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
)

// proxyTo starts a runtime whose sidecar listener (a dataplane.Server) routes
// host "b" to the given backend, and returns the listener address.
func proxyTo(t *testing.T, backend http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: backend}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return proxyToAddr(t, ln.Addr().String())
}

// proxyToAddr is proxyTo for a backend already listening on addr.
func proxyToAddr(tb testing.TB, addr string) string {
	tb.Helper()
	_, l := proxyRuntime(tb, addr, false)
	return l
}

// proxyRuntime is proxyToAddr's runtime, with the event loop or without
// (noLoop), and its listener's address.
func proxyRuntime(tb testing.TB, addr string, noLoop bool) (*Runtime, string) {
	tb.Helper()
	rt, err := New(Options{AdminAddr: "127.0.0.1:0", WatchInterval: -1, Executable: graylaneBin, NoEventLoop: noLoop}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	p := &pod{spec: podSpec{name: "b-0", namespace: "default", labels: map[string]string{"app": "b"}}, addr: addr}
	p.ready.Store(true)
	set, err := manifest.LoadBytes("test.yaml", []byte("apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {selector: {app: b}, ports: [{port: 80}]}\n"))
	if err != nil {
		tb.Fatal(err)
	}
	in := expand.RouteInput(set)
	rt.swap(route.Compile(in), in.Services)
	rt.cfg.Load().pods = []*pod{p}
	l, err := rt.serveCaller("127.0.0.1:0", &caller{source: route.Source{Namespace: "default"}, workload: "t"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(l.close)
	return rt, l.addr
}

func TestConnServerHTTP(t *testing.T) {
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/chunked":
			f := w.(http.Flusher)
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "part%d;", i)
				f.Flush()
			}
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/big":
			_, _ = w.Write(bytes.Repeat([]byte("x"), 1<<20))
		case "/headers":
			// The fields the pod received, Host apart.
			var names []string
			for k, vs := range r.Header {
				names = append(names, k+"="+strings.Join(vs, ","))
			}
			sort.Strings(names)
			fmt.Fprintf(w, "%s %s", r.Host, strings.Join(names, " "))
		default:
			fmt.Fprintf(w, "%s %s %d %q", r.Method, r.URL.RequestURI(), len(body), r.Header.Get("Transfer-Encoding"))
		}
	})
	addr := proxyTo(t, backend)
	send := func(raw string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		br := bufio.NewReader(c)
		for i := 0; i < strings.Count(raw, "HTTP/1."); i++ {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("reading answer %d to %q: %v", i, raw, err)
			}
			b, _ := io.ReadAll(resp.Body)
			fmt.Fprintf(&out, "%d %s|", resp.StatusCode, b)
		}
		return out.String()
	}
	tests := []struct{ name, raw, want string }{
		{"get", "GET http://b/x?y=1 HTTP/1.1\r\nHost: b\r\n\r\n", `200 GET /x?y=1 0 ""|`},
		{"keep-alive, three requests on one connection", "GET http://b/1 HTTP/1.1\r\nHost: b\r\n\r\nGET http://b/2 HTTP/1.1\r\nHost: b\r\n\r\nGET http://b/3 HTTP/1.1\r\nHost: b\r\n\r\n",
			`200 GET /1 0 ""|200 GET /2 0 ""|200 GET /3 0 ""|`},
		{"post with a body", "POST http://b/p HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello", `200 POST /p 5 ""|`},
		{"post chunked", "POST http://b/p HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", `200 POST /p 5 ""|`},
		{"chunked answer", "GET http://b/chunked HTTP/1.1\r\nHost: b\r\n\r\n", "200 part0;part1;part2;|"},
		{"no content", "GET http://b/empty HTTP/1.1\r\nHost: b\r\n\r\n", "204 |"},
		// A host nothing defines goes to its original destination
		// (ALLOW_ANY): nothing listens there.
		{"unknown host", "GET http://127.1.0.1:1/ HTTP/1.1\r\nHost: 127.1.0.1:1\r\n\r\n",
			"503 upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: dial tcp 127.1.0.1:1: connect: connection refused\n|"},
		{"origin-form with a query, pipelined bodies", "POST /p?q=1 HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nabcPUT /p HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\n\r\nz",
			`200 POST /p?q=1 3 ""|200 PUT /p 1 ""|`},
		{"bare LF line ends (net/http path)", "GET http://b/lf HTTP/1.1\nHost: b\n\n", `200 GET /lf 0 ""|`},
		{"hop-by-hop fields, those named by Connection too, are not forwarded", "GET /headers HTTP/1.1\r\nHost: b:80\r\nConnection: X-Secret, keep-alive\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nTe: trailers\r\nProxy-Authorization: x\r\nX-Keep: 2\r\nX-Keep: 3\r\n\r\n",
			"200 b:80 X-Keep=2,3|"},
		{"malformed", "GARBAGE\r\n\r\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "malformed" {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_, _ = io.WriteString(c, tc.raw)
				b, _ := io.ReadAll(c)
				if !strings.HasPrefix(string(b), "HTTP/1.1 400") {
					t.Errorf("malformed request got %q", b)
				}
				return
			}
			if got := send(tc.raw); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	// HEAD: headers only; a 1 MiB answer arrives whole through a Go client.
	proxyURL, err := url.Parse("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	resp, err := client.Head("http://b/x")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = client.Get("http://b/big")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(b) != 1<<20 {
		t.Errorf("big answer: %d bytes", len(b))
	}
}

// rawExchange sends raw on a new connection to addr and returns all it
// reads until the proxy closes the connection (a deadline only guards
// against a hang).
func rawExchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%q: the proxy did not close the connection: %v (read %q)", raw, err, b)
	}
	return string(b)
}

// TestConnServerBadRequests: whatever the request head, a malformed one
// is answered 400 and the connection closed, on either parsing path.
func TestConnServerBadRequests(t *testing.T) {
	addr := proxyTo(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, raw := range []string{
		"GARBAGE\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: b\r\nBad Name: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: b\r\nX: a\x00b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: b\r\nHost: c\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: b\r\nContent-Length: abc\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
		"GET / HTTP/9.9\r\nHost: b\r\n\r\n",
		"GET /\x7f HTTP/1.1\r\nHost: b\r\n\r\n",
		"G(T / HTTP/1.1\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\n Host: b\r\n\r\n",
	} {
		if got := rawExchange(t, addr, raw); !strings.HasPrefix(got, "HTTP/1.1 400 Bad Request\r\n") {
			t.Errorf("%q: got %q, want a 400", raw, got)
		}
	}
}

// TestConnServerClose: "Connection: close" is honoured, and an answer the
// pod cuts short closes the client's connection (nothing else could tell
// the client the body is incomplete).
func TestConnServerClose(t *testing.T) {
	addr := proxyTo(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cut" {
			c, bw, _ := w.(http.Hijacker).Hijack()
			_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
			_ = bw.Flush()
			c.Close()
			return
		}
		b, _ := io.ReadAll(r.Body)
		if len(b) > 0 {
			fmt.Fprintf(w, "ok %s %q", b, r.Header.Get("Expect"))
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	tests := []struct{ name, raw, want string }{
		{"expect 100-continue: answered by the proxy, the pod gets the body at once", "POST /x HTTP/1.1\r\nHost: b\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhi",
			`100 false |200 true ok hi ""|`},
		{"close", "GET /x HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: b\r\n\r\n", "200 true ok|"},
		{"cut short", "GET /cut HTTP/1.1\r\nHost: b\r\n\r\nGET /never HTTP/1.1\r\nHost: b\r\n\r\n", "200 false abc|"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Every answer on the connection, then what follows them.
			got := rawExchange(t, addr, tc.raw)
			br := bufio.NewReader(strings.NewReader(got))
			var out strings.Builder
			for {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					break
				}
				b, _ := io.ReadAll(resp.Body)
				fmt.Fprintf(&out, "%d %v %s|", resp.StatusCode, resp.Close, b)
			}
			rest, _ := io.ReadAll(br)
			if s := out.String() + string(rest); s != tc.want {
				t.Errorf("got %q, want %q", s, tc.want)
			}
		})
	}
}

// TestCutAnswerCounted: an answer the pod cuts short is counted with
// Envoy's UC flag against the pod, on the event loop and on the
// goroutine path alike.
func TestCutAnswerCounted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, bw, _ := w.(http.Hijacker).Hijack()
		_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
		_ = bw.Flush()
		c.Close()
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	for _, tc := range []struct {
		name   string
		noLoop bool
	}{{"event loop", false}, {"goroutine path", true}} {
		t.Run(tc.name, func(t *testing.T) {
			rt, addr := proxyRuntime(t, ln.Addr().String(), tc.noLoop)
			if got := rawExchange(t, addr, "GET /cut HTTP/1.1\r\nHost: b\r\n\r\n"); !strings.HasSuffix(got, "abc") {
				t.Fatalf("the client got %q, want the answer cut after abc", got)
			}
			want := []string{"destination 200 UC = 1", "source 200 UC = 1"}
			if diff := cmp.Diff(want, seriesWith(t, rt.metrics, "reporter", "response_code", "response_flags")); diff != "" {
				t.Errorf("istio_requests_total (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConnServerHead: the answer to HEAD has the pod's Content-Length and
// no body, and the next request on the connection is served.
func TestConnServerHead(t *testing.T) {
	addr := proxyTo(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		_, _ = io.WriteString(w, "hello")
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "HEAD /h HTTP/1.1\r\nHost: b\r\n\r\nGET /g HTTP/1.1\r\nHost: b\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var got []string
	for _, m := range []string{http.MethodHead, http.MethodGet} {
		resp, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		b, _ := io.ReadAll(resp.Body)
		got = append(got, fmt.Sprintf("%s %d %d %q", m, resp.StatusCode, resp.ContentLength, b))
	}
	want := []string{`HEAD 200 5 ""`, `GET 200 5 "hello"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}

// rawBackend answers every request head it reads with a fixed 200, like a
// minimal HTTP/1.1 server, so that a benchmark measures the proxy only.
func rawBackend(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					n, err := dataplane.PeekHead(br)
					if err != nil || n == 0 {
						return
					}
					_, _ = br.Discard(n)
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nsample(v1)"); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// BenchmarkProxyHop: one keep-alive client through a sidecar listener to a
// raw backend, request after request (allocs/op is the proxy's).
func BenchmarkProxyHop(b *testing.B) {
	for _, tc := range []struct{ name, req string }{
		{"origin-form", "GET /x?y=1 HTTP/1.1\r\nHost: b\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"},
		{"absolute-form", "GET http://b/x HTTP/1.1\r\nHost: b\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			addr := proxyToAddr(b, rawBackend(b))
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if _, err := io.WriteString(c, tc.req); err != nil {
					b.Fatal(err)
				}
				n, err := dataplane.PeekHead(br)
				if err != nil || n == 0 {
					b.Fatal(err)
				}
				_, _ = br.Discard(n + 10)
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkProxyHopConns: as BenchmarkProxyHop, with 32 keep-alive
// clients at once (wrk -c32 in bench/proxy.sh): the per-request cost
// when connections share the proxy's goroutines and the network poller.
func BenchmarkProxyHopConns(b *testing.B) {
	addr := proxyToAddr(b, rawBackend(b))
	const req = "GET /x?y=1 HTTP/1.1\r\nHost: b\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
	b.ReportAllocs()
	b.SetParallelism(16) // 32 clients on 2 cores
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for pb.Next() {
			if _, err := io.WriteString(c, req); err != nil {
				b.Error(err)
				return
			}
			n, err := dataplane.PeekHead(br)
			if err != nil || n == 0 {
				b.Error(err)
				return
			}
			_, _ = br.Discard(n + 10)
		}
	})
	reportCPU(b, cpu)
}

// BenchmarkProxyNewConn: as BenchmarkProxyHop, but every request comes on
// a new client connection (the pod connection is pooled): the per
// connection cost of a sidecar listener.
func BenchmarkProxyNewConn(b *testing.B) {
	addr := proxyToAddr(b, rawBackend(b))
	const req = "GET /x?y=1 HTTP/1.1\r\nHost: b\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
	b.ReportAllocs()
	cpu := cpuTime()
	defer reportCPU(b, cpu)
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.WriteString(c, req); err != nil {
			b.Fatal(err)
		}
		br := bufio.NewReader(c)
		if n, err := dataplane.PeekHead(br); err != nil || n == 0 {
			b.Fatal(err)
		}
		c.Close()
	}
}

// cpuTime is the CPU time the process has used (user and system): on a
// shared machine it says more about a benchmark's cost than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per operation since since
// (client, proxy and backend together: they share the process).
func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64(cpuTime()-since)/float64(b.N), "cpu-ns/op")
}

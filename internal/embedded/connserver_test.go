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
	"strings"
	"testing"

	"github.com/graylane/graylane/internal/inspect"
	"github.com/graylane/graylane/internal/route"
)

// proxyTo starts a runtime whose sidecar listener (a connServer) routes
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
	rt, err := New(Options{AdminAddr: "127.0.0.1:0", WatchInterval: -1, Executable: graylaneBin}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p := &pod{spec: podSpec{name: "b-0", namespace: "default", labels: map[string]string{"app": "b"}}, addr: ln.Addr().String()}
	p.ready.Store(true)
	set := mustLoadBytes(t, "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {selector: {app: b}, ports: [{port: 80}]}\n")
	in := inspect.RouteInput(set)
	rt.swap(route.Compile(in), in.Services)
	rt.cfg.Load().pods = []*pod{p}
	l, err := rt.serveCaller("127.0.0.1:0", &caller{source: route.Source{Namespace: "default"}, workload: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.close)
	return l.addr
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
		{"unknown host", "GET http://nope/ HTTP/1.1\r\nHost: nope\r\n\r\n", "503 no healthy upstream: nope.default.svc.cluster.local is not a Service of this runtime\n|"},
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

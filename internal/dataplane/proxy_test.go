package dataplane

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// forwardTo is the smallest handler a Proxy serves: every request goes to
// the pod at addr as it came (what internal/embedded's forward does after
// its route decision), the answer comes back as the pod gave it.
func forwardTo(p *Proxy, addr string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ew := w.(ResponseWriter)
		out := Request{Method: req.Method, URI: ew.Target(), Host: req.Host, Header: req.Header,
			Now: time.Now(), Idle: ew.Limits().StreamIdle(), Watch: ew.CloseWatch()}
		if req.Body != http.NoBody {
			out.Body, out.Length = req.Body, req.ContentLength
		}
		resp, c, err := p.RoundTrip(req.Context(), addr, &out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, err = io.Copy(w, resp.Body)
		resp.Body.Close()
		p.Release(c, err == nil && !resp.Close)
	})
}

// hookLog records what a Server's hooks report.
type hookLog struct {
	mu        sync.Mutex
	rejects   []string
	overflows int
}

func (l *hookLog) hooks() Hooks {
	return Hooks{
		Reject: func(status int, flags string, start time.Time) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.rejects = append(l.rejects, fmt.Sprintf("%d %s", status, flags))
		},
		Overflow: func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.overflows++
		},
	}
}

func (l *hookLog) get() ([]string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.rejects...), l.overflows
}

// serveProxy serves a zero Proxy on a loopback listener, forwarding to a
// net/http backend that answers with the method, target and body it got.
func serveProxy(t *testing.T, p *Proxy, lim *Limits, log *hookLog) (proxy, backend string, s *Server) {
	t.Helper()
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Pod", "b-0")
		fmt.Fprintf(w, "%s %s %s", r.Method, r.RequestURI, body)
	})}
	go func() { _ = srv.Serve(bln) }()
	t.Cleanup(func() { srv.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s = p.Serve(ln, forwardTo(p, bln.Addr().String()), lim, log.hooks())
	t.Cleanup(s.Close)
	return ln.Addr().String(), bln.Addr().String(), s
}

// TestProxyServe: a zero Proxy serves a listener and forwards through its
// upstream pool; what the server refuses itself goes to Hooks.Reject;
// the pool keeps the connection and gives it up on CloseIdle.
func TestProxyServe(t *testing.T) {
	var p Proxy
	var log hookLog
	addr, backend, s := serveProxy(t, &p, nil, &log)
	for _, tc := range []struct{ name, raw, want string }{
		{"origin-form", "GET /a/b?x=1 HTTP/1.1\r\nHost: b\r\n\r\n", "200 b-0 GET /a/b?x=1 "},
		{"absolute-form", "GET http://b/p HTTP/1.1\r\nHost: b\r\n\r\n", "200 b-0 GET /p "},
		{"body", "POST /post HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello", "200 b-0 POST /post hello"},
		{"chunked body", "POST /c HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "200 b-0 POST /c abc"},
		{"refused: two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400  "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.raw); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			got := fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("X-Pod"), body)
			if resp.StatusCode >= 400 {
				got = fmt.Sprintf("%d  ", resp.StatusCode)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	rejects, overflows := log.get()
	if diff := cmp.Diff([]string{"400 DPE"}, rejects); diff != "" || overflows != 0 {
		t.Errorf("rejects (-want +got):\n%s\noverflows %d", diff, overflows)
	}
	if n := p.IdleConns(backend); n < 1 {
		t.Errorf("%d idle connections to the backend, want at least 1", n)
	}
	p.CloseIdle()
	if n := p.IdleConns(backend); n != 0 {
		t.Errorf("%d idle connections after CloseIdle", n)
	}
	waitFor(t, "the clients' connections closed", func() bool { return s.LiveConns() == 0 })
}

// TestProxyOverflow: past MaxConnections a connection is closed at once
// and counted through Hooks.Overflow.
func TestProxyOverflow(t *testing.T) {
	lim, err := EdgeOptions{MaxConnections: 1}.Limits()
	if err != nil {
		t.Fatal(err)
	}
	var p Proxy
	var log hookLog
	addr, _, s := serveProxy(t, &p, lim, &log)
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	waitFor(t, "the first connection served", func() bool { return s.LiveConns() == 1 })
	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if _, err := second.Read(make([]byte, 1)); err == nil {
		t.Error("the connection over the limit was not closed")
	}
	if _, overflows := log.get(); overflows != 1 {
		t.Errorf("%d overflows, want 1", overflows)
	}
	// The first connection is still served.
	if _, err := io.WriteString(first, "GET /ok HTTP/1.1\r\nHost: b\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(first), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if got := string(body); !strings.HasPrefix(got, "GET /ok") {
		t.Errorf("first connection answered %q", got)
	}
}

// TestProxyCancel: a RoundTrip whose context ends fails, and its
// connection is not kept.
func TestProxyCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c) // reads the request, never answers
		}
	}()
	var p Proxy
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	_, _, err = p.RoundTrip(ctx, ln.Addr().String(), &Request{Method: http.MethodGet, URI: "/", Host: "b"})
	if err == nil {
		t.Fatal("no error after the context ended")
	}
	if n := p.IdleConns(ln.Addr().String()); n != 0 {
		t.Errorf("%d idle connections kept", n)
	}
}

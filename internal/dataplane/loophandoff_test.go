//go:build linux

package dataplane

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// What the event loop gives to the goroutine path: requests it does not
// forward (handed off with the connection), and exchanges whose first
// try did not end them (Resume). Helpers in loop_test.go.

// TestLoopHandOff: what the loop does not forward goes to ServeHTTP
// with the request intact, and the connection stays on the goroutine
// path.
func TestLoopHandOff(t *testing.T) {
	var pads strings.Builder
	for i := range 4 {
		fmt.Fprintf(&pads, "X-Pad-%d: %s\r\n", i, strings.Repeat("p", 5<<10))
	}
	for _, tc := range []struct {
		name    string
		decline bool
		raw     string
		method  string
		want    servedReq
		forward bool // Forward was asked first
	}{{
		name:   "POST with a body",
		raw:    "POST /p?q=1 HTTP/1.1\r\nHost: b\r\nX-Test: post\r\nContent-Length: 5\r\n\r\nhello",
		method: http.MethodPost,
		want:   servedReq{Method: "POST", Target: "/p?q=1", Test: "post", Body: "hello"},
	}, {
		name:   "HEAD",
		raw:    "HEAD /h HTTP/1.1\r\nHost: b\r\nX-Test: head\r\n\r\n",
		method: http.MethodHead,
		want:   servedReq{Method: "HEAD", Target: "/h", Test: "head"},
	}, {
		name:   "bare LF",
		raw:    "GET /lf HTTP/1.1\nHost: b\nX-Test: lf\n\n",
		method: http.MethodGet,
		want:   servedReq{Method: "GET", Target: "/lf", Test: "lf"},
	}, {
		name:   "20 KiB head",
		raw:    "GET /big HTTP/1.1\r\nHost: b\r\nX-Test: big\r\n" + pads.String() + "\r\n",
		method: http.MethodGet,
		want:   servedReq{Method: "GET", Target: "/big", Test: "big", Pad: 4 * 5 << 10},
	}, {
		name:    "Forward declines",
		decline: true,
		raw:     "GET /declined HTTP/1.1\r\nHost: b\r\nX-Test: declined\r\n\r\n",
		method:  http.MethodGet,
		want:    servedReq{Method: "GET", Target: "/declined", Test: "declined"},
		forward: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			pod := newRawPod(t, writes("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\npod"))
			h := &fastLog{addr: pod.addr(), decline: tc.decline}
			s := serveOnLoop(t, h, EdgeOptions{}, Hooks{})
			cl := dial(t, s.addr)
			cl.send(tc.raw)
			body := "served " + tc.want.Method + " " + tc.want.Target
			if tc.method == http.MethodHead {
				body = ""
			}
			if got, want := cl.summary(tc.method), "200 "+body+" [ goroutine ]"; got != want {
				t.Errorf("answered %q, want %q", got, want)
			}
			cl.send("GET /next HTTP/1.1\r\nHost: b\r\nX-Test: next\r\n\r\n")
			if got, want := cl.summary(http.MethodGet), "200 served GET /next [ goroutine ]"; got != want {
				t.Errorf("the next request answered %q, want %q", got, want)
			}
			h.mu.Lock()
			served := append([]servedReq(nil), h.served...)
			h.mu.Unlock()
			if diff := cmp.Diff([]servedReq{tc.want, {Method: "GET", Target: "/next", Test: "next"}}, served); diff != "" {
				t.Errorf("ServeHTTP got (-want +got):\n%s", diff)
			}
			var wantCalls []string
			if tc.forward {
				wantCalls = append(wantCalls, "forward "+tc.want.Target)
			}
			wantCalls = append(wantCalls, "serve "+tc.want.Method+" "+tc.want.Target, "serve GET /next")
			if diff := cmp.Diff(wantCalls, h.log()); diff != "" {
				t.Errorf("handler calls (-want +got):\n%s", diff)
			}
			if n := pod.accepted.Load(); n != 0 {
				t.Errorf("the pod was connected to %d times", n)
			}
			if n := s.LiveConns(); n != 1 {
				t.Errorf("LiveConns %d, want 1", n)
			}
		})
	}
}

// TestLoopResume: a first try that fails before anything is answered,
// or whose answer Answer declines, goes on in Resume, which answers
// first; the connection then stays on the goroutine path.
func TestLoopResume(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pod       func(c net.Conn, br *bufio.Reader, head string) bool // nil: nothing listens
		addr      func(t *testing.T) string                            // the pod's address, without pod
		refuse    int
		wantCalls []string
		check     func(t *testing.T, try Try)
	}{{
		name:      "connection refused",
		wantCalls: []string{"forward /r", "resume error"},
		check: func(t *testing.T, try Try) {
			var ce *ConnectError
			if !errors.As(try.Err, &ce) || !errors.Is(try.Err, syscall.ECONNREFUSED) {
				t.Errorf("Try.Err %v (%T), want a *ConnectError of ECONNREFUSED", try.Err, try.Err)
			}
		},
	}, {
		name:      "not an IP address",
		addr:      func(*testing.T) string { return "pod.test:80" },
		wantCalls: []string{"forward /r", "resume error"},
		check: func(t *testing.T, try Try) {
			if ce := (*ConnectError)(nil); !errors.As(try.Err, &ce) {
				t.Errorf("Try.Err %v (%T), want a *ConnectError", try.Err, try.Err)
			}
		},
	}, {
		name:      "connect over 2 s",
		addr:      fullListener,
		wantCalls: []string{"forward /r", "resume error"},
		check: func(t *testing.T, try Try) {
			if ce := (*ConnectError)(nil); !errors.As(try.Err, &ce) || !errors.Is(try.Err, os.ErrDeadlineExceeded) {
				t.Errorf("Try.Err %v (%T), want a *ConnectError of a deadline", try.Err, try.Err)
			}
		},
	}, {
		name:      "closed after the head",
		pod:       func(net.Conn, *bufio.Reader, string) bool { return false },
		wantCalls: []string{"forward /r", "resume error"},
		check:     tryFailed,
	}, {
		name:      "closed inside the answer's head",
		pod:       closesWith("HTTP/1.1 200 OK\r\nX-Half: "),
		wantCalls: []string{"forward /r", "resume error"},
		check:     tryFailed,
	}, {
		name:      "not HTTP",
		pod:       writes("SSH-2.0-OpenSSH_9.6\r\n\r\n"),
		wantCalls: []string{"forward /r", "resume error"},
		check:     tryFailed,
	}, {
		name:      "answer head over 64 KiB",
		pod:       writes("HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 65<<10) + "\r\nContent-Length: 0\r\n\r\n"),
		wantCalls: []string{"forward /r", "resume error"},
		check:     tryFailed,
	}, {
		name:      "101 to a GET without Upgrade",
		pod:       writes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"),
		wantCalls: []string{"forward /r", "resume error"},
		check:     tryFailed,
	}, {
		name:      "503 declined",
		pod:       writes("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy"),
		refuse:    503,
		wantCalls: []string{"forward /r", "answer 503", "resume 503"},
		check: func(t *testing.T, try Try) {
			if try.Err != nil || try.Code != 503 || try.Header.Get("Retry-After") != "7" {
				t.Errorf("Try %v %d %v, want no error, 503 and the pod's Retry-After: 7", try.Err, try.Code, try.Header)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			addr := closedPort(t)
			if tc.addr != nil {
				addr = tc.addr(t)
			}
			if tc.pod != nil {
				addr = newRawPod(t, func(c net.Conn, br *bufio.Reader, head string) bool {
					tc.pod(c, br, head)
					return false
				}).addr()
			}
			h := &fastLog{addr: addr, refuse: tc.refuse}
			// The stream idle timeout ends an exchange whose failure
			// the loop misses (then it answers 504).
			s := serveOnLoop(t, h, EdgeOptions{StreamIdleTimeout: 10 * time.Second}, Hooks{})
			cl := dial(t, s.addr)
			if got, want := cl.get("/r"), "502 resumed /r [  1]"; got != want {
				t.Fatalf("answered %q, want %q", got, want)
			}
			if raw := cl.raw.String(); !strings.HasPrefix(raw, "HTTP/1.1 502 ") {
				t.Errorf("the client got %.60q before Resume's answer", raw)
			}
			tc.check(t, h.lastTry())
			if got, want := cl.get("/next"), "200 served GET /next [ goroutine ]"; got != want {
				t.Errorf("the next request answered %q, want %q", got, want)
			}
			if diff := cmp.Diff(append(tc.wantCalls, "serve GET /next"), h.log()); diff != "" {
				t.Errorf("handler calls (-want +got):\n%s", diff)
			}
		})
	}
}

// closesWith has a pod write b and close the connection with it: both
// reach the loop in one batch of events.
func closesWith(b string) func(c net.Conn, br *bufio.Reader, head string) bool {
	return func(c net.Conn, _ *bufio.Reader, _ string) bool {
		loopRun(func() {
			_, _ = io.WriteString(c, b)
			c.Close()
		})
		return false
	}
}

// fullListener is a loopback address whose listener's accept queue is
// full (a backlog of 0 and a connection nobody accepts): a connect to
// it is not answered.
func fullListener(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := sockaddrString(sa)
	c, err := net.Dial("tcp", addr) // fills the queue
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return addr
}

func tryFailed(t *testing.T, try Try) {
	var ce *ConnectError
	if try.Err == nil || errors.As(try.Err, &ce) {
		t.Errorf("Try.Err %v (%T), want the error that broke the connection", try.Err, try.Err)
	}
}

// TestLoopRefused: heads the loop cannot take (over a limit, or
// malformed) are handed off, and the goroutine path refuses them and
// counts them with Hooks.Reject; the handler is not called.
func TestLoopRefused(t *testing.T) {
	long := strings.Repeat("a", 17<<10)
	for _, tc := range []struct {
		name, raw string
		want      int
	}{
		{"a field over 16 KiB", "GET /f HTTP/1.1\r\nHost: b\r\nX-Long: " + long + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"a request line over 16 KiB", "GET /" + long + " HTTP/1.1\r\nHost: b\r\n\r\n", http.StatusRequestURITooLong},
		{"two Hosts", "GET /h HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log hookLog
			h := &fastLog{addr: closedPort(t)}
			s := serveOnLoop(t, h, EdgeOptions{}, log.hooks())
			cl := dial(t, s.addr)
			cl.send(tc.raw)
			resp, _, err := cl.read(http.MethodGet)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want {
				t.Errorf("answered %d, want %d", resp.StatusCode, tc.want)
			}
			if err := cl.closed(); err != nil {
				t.Errorf("after the refusal: %v", err)
			}
			rejects, _ := log.get()
			if diff := cmp.Diff([]string{fmt.Sprintf("%d DPE", tc.want)}, rejects); diff != "" {
				t.Errorf("Reject hook (-want +got):\n%s", diff)
			}
			if calls := h.log(); len(calls) != 0 {
				t.Errorf("the handler was called: %q", calls)
			}
		})
	}
}

// TestLoopPipelinedHandOff: a GET the loop forwards, then pipelined in
// the same write a POST it hands off and a GET after it: answered in
// order, the last two by ServeHTTP.
func TestLoopPipelinedHandOff(t *testing.T) {
	pod := newRawPod(t, writes("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\npod"))
	h := &fastLog{addr: pod.addr()}
	s := serveOnLoop(t, h, EdgeOptions{}, Hooks{})
	cl := dial(t, s.addr)
	cl.send("GET /1 HTTP/1.1\r\nHost: b\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: b\r\nX-Test: two\r\nContent-Length: 3\r\n\r\nabc" +
		"GET /3 HTTP/1.1\r\nHost: b\r\nX-Test: three\r\n\r\n")
	got := []string{cl.summary(http.MethodGet), cl.summary(http.MethodPost), cl.summary(http.MethodGet)}
	want := []string{"200 pod [loop  ]", "200 served POST /2 [ goroutine ]", "200 served GET /3 [ goroutine ]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	h.mu.Lock()
	served := append([]servedReq(nil), h.served...)
	h.mu.Unlock()
	wantServed := []servedReq{{Method: "POST", Target: "/2", Test: "two", Body: "abc"}, {Method: "GET", Target: "/3", Test: "three"}}
	if diff := cmp.Diff(wantServed, served); diff != "" {
		t.Errorf("ServeHTTP got (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(append(exchange("/1", 200), "serve POST /2", "serve GET /3"), h.log()); diff != "" {
		t.Errorf("handler calls (-want +got):\n%s", diff)
	}
}

// TestLoopHeadInPieces: a head that reaches the loop in several reads is
// served whole, by the loop or, handed off with the bytes read so far,
// by ServeHTTP.
func TestLoopHeadInPieces(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		pieces       []string
		want         string
	}{
		{"GET", http.MethodGet, []string{"GET /p HTTP/1.1\r\nHo", "st: b\r\nX-Test: in pieces\r", "\n\r\n"}, "200 pod [loop  ]"},
		{"POST", http.MethodPost, []string{"POST /p HTTP/1.1\r\nHost: b\r\nContent-Le", "ngth: 3\r\n\r\na", "bc"}, "200 served POST /p [ goroutine ]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := newRawPod(t, writes("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\npod"))
			h := &fastLog{addr: pod.addr()}
			s := serveOnLoop(t, h, EdgeOptions{}, Hooks{})
			cl := dial(t, s.addr)
			sent := 0
			for i, p := range tc.pieces {
				cl.send(p)
				sent += len(p)
				if strings.Contains(strings.Join(tc.pieces[:i+1], ""), "\r\n\r\n") {
					continue // the head is whole: the rest is a body
				}
				waitFor(t, "the loop to read the piece", func() bool {
					n := 0
					inLoop(t, func(l *evloop) {
						for c := range l.conns {
							if c.s == s.Server {
								n = c.n
							}
						}
					})
					return n == sent
				})
			}
			if got := cl.summary(tc.method); got != tc.want {
				t.Errorf("answered %q, want %q", got, tc.want)
			}
			h.mu.Lock()
			served := append([]servedReq(nil), h.served...)
			h.mu.Unlock()
			if tc.method == http.MethodPost {
				if diff := cmp.Diff([]servedReq{{Method: "POST", Target: "/p", Body: "abc"}}, served); diff != "" {
					t.Errorf("ServeHTTP got (-want +got):\n%s", diff)
				}
			}
		})
	}
}

//go:build linux

package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// How the event loop's exchanges and connections end: a pod that cuts
// its answer, a client that goes away, the timers, a pooled connection
// the pod closes, a Server closed (helpers in loop_test.go).

// TestLoopCutAnswer: a pod that stops in the middle of an answer's body
// gets the client's answer cut (its connection closed), and the
// exchange is counted once, as the pod's failure: not as the client
// going away (DC), nor as a timeout (SI).
func TestLoopCutAnswer(t *testing.T) {
	const chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
	for _, tc := range []struct {
		name        string
		first, rest string // the pod writes first, then rest and closes
		read, more  int    // body bytes the client can read from first, and from rest
		want        string // the body read before it fails
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("h", 50), "", 50, 0, strings.Repeat("h", 50)},
		{"chunked", chunked, "10\r\nhal", 5, 3, "hellohal"},
		{"malformed chunk", chunked, "zz\r\n", 5, 0, "hello"},
	} {
		for _, atOnce := range []bool{false, true} {
			name := tc.name + ", closed later"
			if atOnce {
				name = tc.name + ", closed at once" // the bytes and the close reach the loop in one batch
			}
			t.Run(name, func(t *testing.T) { testCutAnswer(t, tc.first, tc.rest, tc.read, tc.more, tc.want, atOnce) })
		}
	}
}

func testCutAnswer(t *testing.T, first, rest string, read, more int, want string, atOnce bool) {
	conns, release := make(chan net.Conn, 1), make(chan struct{})
	defer close(release)
	pod := newRawPod(t, func(c net.Conn, _ *bufio.Reader, _ string) bool {
		conns <- c // the test writes the answer
		<-release
		return false
	})
	h := &fastLog{addr: pod.addr()}
	// The stream idle timeout ends an exchange whose cut the loop misses.
	s := serveOnLoop(t, h, EdgeOptions{StreamIdleTimeout: 10 * time.Second}, Hooks{})
	cl := dial(t, s.addr)
	cl.send("GET /cut HTTP/1.1\r\nHost: b\r\n\r\n")
	pc := <-conns
	if atOnce {
		inLoop(t, func(*evloop) {
			_, _ = io.WriteString(pc, first+rest)
			pc.Close()
		})
	} else if _, err := io.WriteString(pc, first); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(cl.br, nil)
	if err != nil {
		t.Fatalf("no answer's head: %v", err)
	}
	body := make([]byte, read)
	_, err = io.ReadFull(resp.Body, body)
	if !atOnce {
		// The rest is passed on before the pod closes: its close comes
		// in an event of its own.
		_, _ = io.WriteString(pc, rest)
		b := make([]byte, more)
		_, err := io.ReadFull(resp.Body, b)
		body = append(body, b...)
		if err != nil {
			t.Errorf("reading the rest: %v", err)
		}
		pc.Close()
	}
	tail, err2 := io.ReadAll(resp.Body)
	if err == nil {
		err = err2
	}
	if got := string(body) + string(tail); err == nil || resp.StatusCode != 200 || got != want {
		t.Errorf("answered %d, body %q (error %v); want 200, %q cut", resp.StatusCode, got, err, want)
	}
	if err := cl.closed(); err != nil {
		t.Errorf("the client's connection was not closed: %v", err)
	}
	waitFor(t, "no live connection", func() bool { return s.LiveConns() == 0 })
	calls := h.log()
	if diff := cmp.Diff([]string{"forward /cut", "answer 200"}, calls[:min(2, len(calls))]); diff != "" || len(calls) != 3 {
		t.Fatalf("handler calls %q, want Forward, Answer, Done once", calls)
	}
	if done := calls[2]; !strings.HasPrefix(done, "done 200") || strings.HasSuffix(done, " DC") || strings.HasSuffix(done, " SI") {
		t.Errorf("counted as %q: want 200, and neither DC nor SI (the pod cut the answer)", done)
	}
}

// TestLoopClientGone: a client that goes away while the pod holds its
// answer has the exchange counted 0 DC and the pod's connection closed.
func TestLoopClientGone(t *testing.T) {
	for _, tc := range []struct {
		name string
		// atOnce: the request and the close reach the loop in one batch
		// of events (written while the loop waits in inLoop).
		atOnce bool
	}{
		{name: "closes while the answer is awaited"},
		{name: "sends and closes at once", atOnce: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			heads := make(chan string, 1)
			pod := newRawPod(t, func(_ net.Conn, br *bufio.Reader, head string) bool {
				heads <- head
				_, _ = io.Copy(io.Discard, br) // holds the answer until the proxy closes
				return false
			})
			h := &fastLog{addr: pod.addr()}
			// The stream idle timeout ends an exchange the loop keeps
			// after its client left, so that the test sees it.
			s := serveOnLoop(t, h, EdgeOptions{StreamIdleTimeout: 10 * time.Second}, Hooks{})
			cl := dial(t, s.addr)
			const req = "GET /hold HTTP/1.1\r\nHost: b\r\n\r\n"
			if tc.atOnce {
				waitFor(t, "the connection accepted", func() bool { return s.LiveConns() == 1 })
				inLoop(t, func(*evloop) {
					_, _ = io.WriteString(cl.c, req)
					cl.c.Close()
				})
			} else {
				cl.send(req)
			}
			<-heads
			cl.c.Close()
			waitFor(t, "the exchange to end", func() bool { return len(h.log()) == 2 })
			if diff := cmp.Diff([]string{"forward /hold", "done 0 DC"}, h.log()); diff != "" {
				t.Errorf("handler calls (-want +got):\n%s", diff)
			}
			waitFor(t, "the pod's connection closed", func() bool { return pod.ended.Load() == 1 })
			waitFor(t, "no live connection", func() bool { return s.LiveConns() == 0 })
		})
	}
}

// TestLoopTimers: the idle, request headers and stream idle timeouts.
func TestLoopTimers(t *testing.T) {
	// Each subtest shortens one timeout, so that a loaded machine does
	// not trip the others.
	const short = 300 * time.Millisecond
	t.Run("idle", func(t *testing.T) {
		pod := newRawPod(t, writes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
		s := serveOnLoop(t, &fastLog{addr: pod.addr()}, EdgeOptions{IdleTimeout: short}, Hooks{})
		used, unused := dial(t, s.addr), dial(t, s.addr)
		if got := used.get("/1"); got != "200 ok [loop  ]" {
			t.Fatalf("answered %q", got)
		}
		for name, cl := range map[string]*client{"used": used, "unused": unused} {
			if err := cl.closed(); err != nil {
				t.Errorf("the %s idle connection: %v", name, err)
			}
		}
		waitFor(t, "no live connection", func() bool { return s.LiveConns() == 0 })
	})
	t.Run("request head", func(t *testing.T) {
		var log hookLog
		h := &fastLog{addr: closedPort(t)}
		s := serveOnLoop(t, h, EdgeOptions{RequestHeadersTimeout: short}, log.hooks())
		cl := dial(t, s.addr)
		cl.send("GET /slow HTTP/1.1\r\nHost: b\r\n")
		resp, _, err := cl.read(http.MethodGet)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
			t.Errorf("answered %d (Connection: close %t), want 408 closing", resp.StatusCode, resp.Close)
		}
		if err := cl.closed(); err != nil {
			t.Errorf("after the 408: %v", err)
		}
		rejects, _ := log.get()
		if diff := cmp.Diff([]string{"408 "}, rejects); diff != "" {
			t.Errorf("Reject hook (-want +got):\n%s", diff)
		}
		if calls := h.log(); len(calls) != 0 {
			t.Errorf("the handler was called: %q", calls)
		}
	})
	t.Run("stream idle", func(t *testing.T) {
		pod := newRawPod(t, func(_ net.Conn, br *bufio.Reader, _ string) bool {
			_, _ = io.Copy(io.Discard, br) // never answers
			return false
		})
		h := &fastLog{addr: pod.addr()}
		s := serveOnLoop(t, h, EdgeOptions{StreamIdleTimeout: short}, Hooks{})
		cl := dial(t, s.addr)
		cl.send("GET /never HTTP/1.1\r\nHost: b\r\n\r\n")
		resp, _, err := cl.read(http.MethodGet)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusGatewayTimeout || resp.Header.Get("X-Graylane-Reason") == "" {
			t.Errorf("answered %d %v, want 504 with X-Graylane-Reason", resp.StatusCode, resp.Header)
		}
		if diff := cmp.Diff([]string{"forward /never", "done 504 SI"}, h.log()); diff != "" {
			t.Errorf("handler calls (-want +got):\n%s", diff)
		}
		waitFor(t, "the pod's connection closed", func() bool { return pod.ended.Load() == 1 })
	})
	t.Run("stream idle while answering", func(t *testing.T) {
		pod := newRawPod(t, func(c net.Conn, br *bufio.Reader, head string) bool {
			writes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")(c, br, head)
			_, _ = io.Copy(io.Discard, br) // never sends the rest
			return false
		})
		h := &fastLog{addr: pod.addr()}
		s := serveOnLoop(t, h, EdgeOptions{StreamIdleTimeout: short}, Hooks{})
		cl := dial(t, s.addr)
		cl.send("GET /stall HTTP/1.1\r\nHost: b\r\n\r\n")
		resp, body, err := cl.read(http.MethodGet)
		if err == nil || resp.StatusCode != 200 || body != "abc" {
			t.Errorf("answered %v, body %q (error %v); want 200, \"abc\" cut", resp, body, err)
		}
		if err := cl.closed(); err != nil {
			t.Errorf("the client's connection was not closed: %v", err)
		}
		if diff := cmp.Diff(append(exchange("/stall", 200)[:2], "done 200 SI"), h.log()); diff != "" {
			t.Errorf("handler calls (-want +got):\n%s", diff)
		}
		waitFor(t, "the pod's connection closed", func() bool { return pod.ended.Load() == 1 })
	})
}

// TestLoopPoolClosed: a pooled connection the pod closes is not used
// for the next request, which goes on a new connection.
func TestLoopPoolClosed(t *testing.T) {
	const answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	for _, tc := range []struct {
		name string
		// withAnswer: the pod closes the connection as it writes the
		// answer's last bytes (both reach the loop in one batch of
		// events); else once the loop has pooled it.
		withAnswer bool
	}{
		{name: "closed while idle"},
		{name: "closed with the answer", withAnswer: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := make(chan net.Conn, 1)
			release := make(chan struct{})
			var heads atomic.Int32
			pod := newRawPod(t, func(c net.Conn, br *bufio.Reader, head string) bool {
				if heads.Add(1) > 1 {
					return writes(answer)(c, br, head)
				}
				if !tc.withAnswer {
					writes(answer)(c, br, head)
				}
				first <- c
				<-release
				return false
			})
			h := &fastLog{addr: pod.addr()}
			s := serveOnLoop(t, h, EdgeOptions{}, Hooks{})
			cl := dial(t, s.addr)
			cl.send("GET /1 HTTP/1.1\r\nHost: b\r\n\r\n")
			c := <-first
			if tc.withAnswer {
				inLoop(t, func(*evloop) {
					_, _ = io.WriteString(c, answer)
					c.Close()
				})
			}
			if got := cl.summary(http.MethodGet); got != "200 ok [loop  ]" {
				t.Fatalf("answered %q", got)
			}
			if !tc.withAnswer {
				waitFor(t, "the connection pooled", func() bool { return idleTo(t, pod.addr()) == 1 })
			}
			close(release)
			waitFor(t, "the pod's connection closed", func() bool { return pod.ended.Load() == 1 })
			if !tc.withAnswer {
				waitFor(t, "the closed connection out of the pool", func() bool { return idleTo(t, pod.addr()) == 0 })
				timersRun(t) // with the pod's list of idle connections empty
			}
			if got := cl.get("/2"); got != "200 ok [loop  ]" {
				t.Errorf("the next request answered %q", got)
			}
			if diff := cmp.Diff(append(exchange("/1", 200), exchange("/2", 200)...), h.log()); diff != "" {
				t.Errorf("handler calls (-want +got):\n%s", diff)
			}
			if n := pod.accepted.Load(); n != 2 {
				t.Errorf("the pod accepted %d connections, want 2", n)
			}
		})
	}
}

// timersRun waits until the loop's timers have run once from now on.
func timersRun(t *testing.T) {
	t.Helper()
	var next time.Time
	inLoop(t, func(l *evloop) { next = l.next })
	if next.IsZero() {
		t.Fatal("the loop has no deadline to wait for")
	}
	waitFor(t, "the loop's timers to run", func() bool {
		var now time.Time
		inLoop(t, func(l *evloop) { now = l.now })
		return !now.Before(next)
	})
	// The pass that saw the time runs the timers after the events.
	inLoop(t, func(*evloop) {})
}

// TestLoopCloseServer: Server.Close closes the server's loop
// connections; the loop's thread ends with the last server, and a new
// one starts it again.
func TestLoopCloseServer(t *testing.T) {
	pod := newRawPod(t, writes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	h1, h2 := &fastLog{addr: pod.addr()}, &fastLog{addr: pod.addr()}
	s1 := serveOnLoop(t, h1, EdgeOptions{}, Hooks{})
	s2 := serveOnLoop(t, h2, EdgeOptions{}, Hooks{})
	theLoop.mu.Lock()
	l := theLoop.l
	theLoop.mu.Unlock()

	used, unused := dial(t, s1.addr), dial(t, s1.addr)
	if got := used.get("/1"); got != "200 ok [loop  ]" {
		t.Fatalf("answered %q", got)
	}
	waitFor(t, "two live connections", func() bool { return s1.LiveConns() == 2 })
	other := dial(t, s2.addr)
	s1.stop()
	for name, cl := range map[string]*client{"used": used, "unused": unused} {
		if err := cl.closed(); err != nil {
			t.Errorf("the %s connection after Close: %v", name, err)
		}
	}
	if n := s1.LiveConns(); n != 0 {
		t.Errorf("LiveConns %d after Close", n)
	}
	select {
	case <-l.done:
		t.Fatal("the loop stopped while a server still used it")
	default:
	}
	if got := other.get("/2"); got != "200 ok [loop  ]" {
		t.Errorf("the other server answered %q", got)
	}

	s2.stop()
	select {
	case <-l.done:
	default:
		t.Error("the loop's thread runs on after its last server closed")
	}
	theLoop.mu.Lock()
	running, refs := theLoop.l, theLoop.refs
	theLoop.mu.Unlock()
	if running != nil || refs != 0 {
		t.Errorf("after the last server closed: loop %p, %d users; want none", running, refs)
	}

	h3 := &fastLog{addr: pod.addr()}
	s3 := serveOnLoop(t, h3, EdgeOptions{}, Hooks{})
	if got := dial(t, s3.addr).get("/3"); got != "200 ok [loop  ]" {
		t.Errorf("a server started after the loop stopped answered %q", got)
	}
	if diff := cmp.Diff(exchange("/3", 200), h3.log()); diff != "" {
		t.Errorf("handler calls (-want +got):\n%s", diff)
	}
}

// TestLoopOff: with UseEventLoop(false) a FastHandler is served the
// goroutine way: Forward is never asked.
func TestLoopOff(t *testing.T) {
	pod := newRawPod(t, writes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	h := &fastLog{addr: pod.addr()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p Proxy
	p.UseEventLoop(false)
	s := p.Serve(ln, h, nil, Hooks{})
	t.Cleanup(s.Close)
	if s.loop != nil {
		t.Fatal("served by the event loop")
	}
	cl := dial(t, ln.Addr().String())
	var got []string
	for i := range 2 {
		got = append(got, cl.get(fmt.Sprintf("/%d", i)))
	}
	if diff := cmp.Diff([]string{"200 served GET /0 [ goroutine ]", "200 served GET /1 [ goroutine ]"}, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"serve GET /0", "serve GET /1"}, h.log()); diff != "" {
		t.Errorf("handler calls (-want +got):\n%s", diff)
	}
}

// TestLoopOverflow: past MaxConnections a connection the loop accepts
// is closed at once and counted through Hooks.Overflow; the first is
// still served.
func TestLoopOverflow(t *testing.T) {
	pod := newRawPod(t, writes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	var log hookLog
	s := serveOnLoop(t, &fastLog{addr: pod.addr()}, EdgeOptions{MaxConnections: 1}, log.hooks())
	first := dial(t, s.addr)
	waitFor(t, "the first connection served", func() bool { return s.LiveConns() == 1 })
	second := dial(t, s.addr)
	if err := second.closed(); err != nil {
		t.Errorf("the connection over the limit: %v", err)
	}
	if _, overflows := log.get(); overflows != 1 {
		t.Errorf("%d overflows, want 1", overflows)
	}
	if got := first.get("/ok"); got != "200 ok [loop  ]" {
		t.Errorf("the first connection answered %q", got)
	}
}

// TestLoopIdleWait: once traffic stops and no connection is left, the
// loop waits through the runtime (giving its processor back), not with
// a raw wait that the runtime's preemption signal cuts every 10 ms for
// as long as nothing comes.
func TestLoopIdleWait(t *testing.T) {
	pod := newRawPod(t, writes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	s := serveOnLoop(t, &fastLog{addr: pod.addr()}, EdgeOptions{}, Hooks{})
	cl := dial(t, s.addr)
	if got := cl.get("/"); got != "200 ok [loop  ]" {
		t.Fatalf("answered %q", got)
	}
	cl.c.Close()
	loopDropIdle(pod.addr())
	waitFor(t, "no connection on the loop", func() bool { return s.LiveConns() == 0 && loopIdleConns(pod.addr()) == 0 })
	theLoop.mu.Lock()
	l := theLoop.l
	theLoop.mu.Unlock()
	waitFor(t, "the loop waiting through the runtime", func() bool { return !l.raw.Load() })
}

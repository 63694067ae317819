//go:build linux

package dataplane

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The event loop's tests (loop_linux.go, loopconn_linux.go,
// loopup_linux.go) run a Server on the loop with fastLog, a FastHandler
// that records what the loop asks of it, in front of real pods on
// loopback: raw listeners written to by hand where the framing matters,
// httptest servers elsewhere. Clients send raw bytes and read with
// http.ReadResponse.

// fastLog is the tests' FastHandler: Forward sends every request to the
// pod at addr (or declines), Answer passes the pod's fields on (or
// declines the status refuse), Resume and ServeHTTP answer recognisably
// (X-Resumed, X-Served). Every call is recorded.
type fastLog struct {
	mu      sync.Mutex
	addr    string
	decline bool // Forward declines every request
	refuse  int  // Answer declines answers of this status
	calls   []string
	tries   []Try
	served  []servedReq
}

var _ FastHandler = (*fastLog)(nil)

// servedReq is a request ServeHTTP got: Pad is how many bytes the
// X-Pad-* fields' values hold.
type servedReq struct {
	Method, Target, Test string
	Pad                  int
	Body                 string
}

func (h *fastLog) record(call string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, call)
}

func (h *fastLog) Forward(x *Exchange) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, "forward "+x.Target)
	if h.decline {
		return false
	}
	x.Addr = h.addr
	x.Out = Request{Method: x.Req.Method, URI: x.Target, Host: x.Req.Host, Header: x.Req.Header}
	return true
}

func (h *fastLog) Answer(x *Exchange, code int, pod http.Header) (http.Header, bool) {
	h.record(fmt.Sprintf("answer %d", code))
	if code == h.refuse {
		return nil, false
	}
	for k, vs := range pod {
		if k != "Connection" && k != "Keep-Alive" {
			x.Header[k] = vs
		}
	}
	x.Header.Set("X-Via", "loop")
	return x.Header, true
}

func (h *fastLog) Done(x *Exchange, code int, flags string) bool {
	h.record(strings.TrimSpace(fmt.Sprintf("done %d %s", code, flags)))
	return true
}

func (h *fastLog) Resume(x *Exchange, w http.ResponseWriter, try Try) {
	h.mu.Lock()
	call := "resume error"
	if try.Err == nil {
		call = fmt.Sprintf("resume %d", try.Code)
	}
	h.calls = append(h.calls, call)
	h.tries = append(h.tries, try)
	h.mu.Unlock()
	w.Header().Set("X-Resumed", "1")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = io.WriteString(w, "resumed "+x.Target)
}

func (h *fastLog) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		body = []byte("body error: " + err.Error())
	}
	pad := 0
	for k, vs := range req.Header {
		if strings.HasPrefix(k, "X-Pad-") {
			for _, v := range vs {
				pad += len(v)
			}
		}
	}
	h.mu.Lock()
	h.calls = append(h.calls, "serve "+req.Method+" "+req.RequestURI)
	h.served = append(h.served, servedReq{Method: req.Method, Target: req.RequestURI, Test: req.Header.Get("X-Test"), Pad: pad, Body: string(body)})
	h.mu.Unlock()
	w.Header().Set("X-Served", "goroutine")
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		_, _ = io.WriteString(w, "served "+req.Method+" "+req.RequestURI)
	}
}

func (h *fastLog) log() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

func (h *fastLog) lastTry() Try {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.tries) == 0 {
		return Try{}
	}
	return h.tries[len(h.tries)-1]
}

// exchange is what a GET on the loop calls of the handler when the pod
// answers code.
func exchange(target string, code int) []string {
	return []string{"forward " + target, fmt.Sprintf("answer %d", code), fmt.Sprintf("done %d", code)}
}

// loopSrv is a Server on the event loop; stop closes it (once: the
// test's cleanup does too).
type loopSrv struct {
	*Server
	addr string
	stop func()
}

// serveOnLoop serves h on a loopback listener of a new Proxy, under
// opts, and fails unless the event loop serves it.
func serveOnLoop(t *testing.T, h *fastLog, opts EdgeOptions, hooks Hooks) loopSrv {
	t.Helper()
	if runtime.GOMAXPROCS(0) < 2 {
		prev := runtime.GOMAXPROCS(2) // the loop needs two processors
		t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
	lim, err := opts.Limits()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := new(Proxy).Serve(ln, h, lim, hooks)
	stop := sync.OnceFunc(s.Close)
	t.Cleanup(stop)
	if s.loop == nil {
		t.Fatal("the listener is not served by the event loop")
	}
	return loopSrv{Server: s, addr: ln.Addr().String(), stop: stop}
}

// inLoop runs f on the event loop's thread, which waits meanwhile: what
// f makes happen on sockets reaches the loop in one batch of events.
func inLoop(t *testing.T, f func(l *evloop)) {
	t.Helper()
	theLoop.mu.Lock()
	l := theLoop.l
	theLoop.mu.Unlock()
	if l == nil {
		t.Fatal("no event loop runs")
	}
	l.run(func() { f(l) })
}

// loopRun is inLoop for a pod's goroutine: false when no loop runs.
func loopRun(f func()) bool {
	theLoop.mu.Lock()
	l := theLoop.l
	theLoop.mu.Unlock()
	if l != nil {
		l.run(f)
	}
	return l != nil
}

// idleTo is how many connections to addr the loop's pool holds.
func idleTo(t *testing.T, addr string) int {
	n := 0
	inLoop(t, func(l *evloop) { n = len(l.idle[addr]) })
	return n
}

// guard bounds every client read and write: a loop that never answers
// fails the test instead of hanging it.
const guard = 2 * time.Minute

// client is a connection to the proxy; raw holds the bytes it read.
type client struct {
	t   *testing.T
	c   net.Conn
	br  *bufio.Reader
	raw bytes.Buffer
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(guard))
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c}
	cl.br = bufio.NewReader(io.TeeReader(c, &cl.raw))
	return cl
}

func (cl *client) send(raw string) {
	cl.t.Helper()
	if _, err := io.WriteString(cl.c, raw); err != nil {
		cl.t.Fatal(err)
	}
}

// read reads an answer to a request of method, and its body.
func (cl *client) read(method string) (*http.Response, string, error) {
	resp, err := http.ReadResponse(cl.br, &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

// summary reads an answer as "status body [X-Via X-Served X-Resumed]".
func (cl *client) summary(method string) string {
	resp, body, err := cl.read(method)
	if err != nil {
		return "error: " + err.Error()
	}
	h := resp.Header
	return fmt.Sprintf("%d %s [%s %s %s]", resp.StatusCode, body, h.Get("X-Via"), h.Get("X-Served"), h.Get("X-Resumed"))
}

// get sends a GET of target and reads its answer's summary.
func (cl *client) get(target string) string {
	cl.send("GET " + target + " HTTP/1.1\r\nHost: b\r\n\r\n")
	return cl.summary(http.MethodGet)
}

// closed reports how the connection ends after what was read: nil when
// the proxy closed it.
func (cl *client) closed() error {
	if b, err := cl.br.ReadByte(); err == nil {
		return fmt.Errorf("read %q after the answer", b)
	} else if err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		return err
	}
	return nil
}

// rawPod is a pod on loopback driven by hand: answer runs for each
// request head a connection brings, and returns false to close it.
type rawPod struct {
	ln       net.Listener
	accepted atomic.Int32 // connections accepted
	ended    atomic.Int32 // connections the pod saw end, or closed
	mu       sync.Mutex
	conns    []net.Conn
	done     bool
	wg       sync.WaitGroup
}

func newRawPod(t *testing.T, answer func(c net.Conn, br *bufio.Reader, head string) bool) *rawPod {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPod{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			p.mu.Lock()
			if p.done {
				p.mu.Unlock()
				c.Close()
				return
			}
			p.conns = append(p.conns, c)
			p.wg.Add(1)
			p.mu.Unlock()
			go p.serve(c, answer)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.done = true
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *rawPod) serve(c net.Conn, answer func(c net.Conn, br *bufio.Reader, head string) bool) {
	defer p.wg.Done()
	defer p.ended.Add(1)
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		head, err := readHead(br)
		if err != nil || !answer(c, br, head) {
			return
		}
	}
}

func (p *rawPod) addr() string { return p.ln.Addr().String() }

// readHead reads a request head through its empty line.
func readHead(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\r\n" || line == "\n" {
			return b.String(), nil
		}
	}
}

// writes has a pod write parts, one Write each.
func writes(parts ...string) func(c net.Conn, br *bufio.Reader, head string) bool {
	return func(c net.Conn, _ *bufio.Reader, _ string) bool {
		for _, p := range parts {
			if _, err := io.WriteString(c, p); err != nil {
				return false
			}
		}
		return true
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestLoopKeepAlive: GETs on one connection go through Forward, Answer
// and Done and reuse one connection to the pod; pipelined GETs are
// answered in order.
func TestLoopKeepAlive(t *testing.T) {
	var podConns atomic.Int32
	pod := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pod", "p-0")
		fmt.Fprintf(w, "pod %s %s %s", r.Method, r.RequestURI, r.Header.Get("X-Test"))
	}))
	pod.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			podConns.Add(1)
		}
	}
	pod.Start()
	t.Cleanup(pod.Close)
	h := &fastLog{addr: pod.Listener.Addr().String()}
	s := serveOnLoop(t, h, EdgeOptions{}, Hooks{})

	cl := dial(t, s.addr)
	var got []string
	for _, target := range []string{"/1", "/2?x=y", "/3"} {
		cl.send("GET " + target + " HTTP/1.1\r\nHost: b\r\nX-Test: t" + target + "\r\n\r\n")
		got = append(got, cl.summary(http.MethodGet))
	}
	want := []string{"200 pod GET /1 t/1 [loop  ]", "200 pod GET /2?x=y t/2?x=y [loop  ]", "200 pod GET /3 t/3 [loop  ]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if n := s.LiveConns(); n != 1 {
		t.Errorf("LiveConns %d with one client connection, want 1", n)
	}

	// Two requests in one write.
	cl.send("GET /4 HTTP/1.1\r\nHost: b\r\n\r\nGET /5 HTTP/1.1\r\nHost: b\r\n\r\n")
	got = []string{cl.summary(http.MethodGet), cl.summary(http.MethodGet)}
	if diff := cmp.Diff([]string{"200 pod GET /4  [loop  ]", "200 pod GET /5  [loop  ]"}, got); diff != "" {
		t.Errorf("pipelined answers (-want +got):\n%s", diff)
	}
	var wantCalls []string
	for _, target := range []string{"/1", "/2?x=y", "/3", "/4", "/5"} {
		wantCalls = append(wantCalls, exchange(target, 200)...)
	}
	if diff := cmp.Diff(wantCalls, h.log()); diff != "" {
		t.Errorf("handler calls (-want +got):\n%s", diff)
	}
	if n := podConns.Load(); n != 1 {
		t.Errorf("the pod accepted %d connections for 5 requests in turn, want 1", n)
	}

	second := dial(t, s.addr)
	waitFor(t, "two live connections", func() bool { return s.LiveConns() == 2 })
	cl.c.Close()
	second.c.Close()
	waitFor(t, "no live connection after the clients closed", func() bool { return s.LiveConns() == 0 })
}

// TestLoopAnswers: the pod's answer framings, each twice on one client
// connection.
func TestLoopAnswers(t *testing.T) {
	const chunks = "5;ext=1\r\nhello\r\n6;name=\"v\"\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n"
	type got struct {
		Status  int
		TE      []string
		Pod     string
		Body    string
		Trailer string
	}
	for _, tc := range []struct {
		name   string
		answer []string // what the pod writes, one Write each
		// closeWrite: the pod ends the answer by closing its side, with
		// its last bytes (they reach the loop in one batch of events),
		// or later: once the client read them.
		closeWrite, later bool
		want              got
		wantRaw           string // the answer's body as the client got it ("": not checked)
		wantConns         int32  // the pod's connections after two requests
		code              int    // the final status
	}{{
		name:      "content-length",
		answer:    []string{"HTTP/1.1 200 OK\r\nX-Pod: p\r\nContent-Length: 5\r\n\r\nhello"},
		want:      got{Status: 200, Pod: "p", Body: "hello"},
		wantConns: 1, code: 200,
	}, {
		name:      "a head over the 16 KiB buffer",
		answer:    []string{"HTTP/1.1 200 OK\r\nX-Pod: " + strings.Repeat("p", 20<<10) + "\r\nContent-Length: 5\r\n\r\nhello"},
		want:      got{Status: 200, Pod: strings.Repeat("p", 20<<10), Body: "hello"},
		wantConns: 1, code: 200,
	}, {
		name:      "content-length in pieces",
		answer:    []string{"HTTP/1.1 200 OK\r\nX-P", "od: p\r\nContent-Length: 11\r\n", "\r\nhello", " world"},
		want:      got{Status: 200, Pod: "p", Body: "hello world"},
		wantConns: 1, code: 200,
	}, {
		name:      "chunked with extensions and a trailer",
		answer:    []string{"HTTP/1.1 200 OK\r\nX-Pod: p\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks},
		want:      got{Status: 200, TE: []string{"chunked"}, Pod: "p", Body: "hello world", Trailer: "42"},
		wantRaw:   chunks,
		wantConns: 1, code: 200,
	}, {
		name:      "chunked in pieces",
		answer:    []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;e", "xt=1\r\nhel", "lo\r", "\n6;name=\"v\"\r\n world\r\n0\r\nX-S", "um: 42\r\n\r", "\n"},
		want:      got{Status: 200, TE: []string{"chunked"}, Body: "hello world", Trailer: "42"},
		wantRaw:   chunks,
		wantConns: 1, code: 200,
	}, {
		name:       "until close, closed with the last bytes",
		answer:     []string{"HTTP/1.1 200 OK\r\nX-Pod: p\r\n\r\nuntil ", "close"},
		closeWrite: true,
		want:       got{Status: 200, TE: []string{"chunked"}, Pod: "p", Body: "until close"},
		wantConns:  2, code: 200,
	}, {
		name:       "until close, closed later",
		answer:     []string{"HTTP/1.1 200 OK\r\nX-Pod: p\r\n\r\nuntil ", "close"},
		closeWrite: true, later: true,
		want:      got{Status: 200, TE: []string{"chunked"}, Pod: "p", Body: "until close"},
		wantConns: 2, code: 200,
	}, {
		name:       "until close, HTTP/1.0",
		answer:     []string{"HTTP/1.0 200 OK\r\nX-Pod: p\r\n\r\nold style"},
		closeWrite: true, later: true,
		want:      got{Status: 200, TE: []string{"chunked"}, Pod: "p", Body: "old style"},
		wantConns: 2, code: 200,
	}, {
		name:      "204",
		answer:    []string{"HTTP/1.1 204 No Content\r\nX-Pod: p\r\n\r\n"},
		want:      got{Status: 204, Pod: "p"},
		wantConns: 1, code: 204,
	}, {
		name:      "304",
		answer:    []string{"HTTP/1.1 304 Not Modified\r\nX-Pod: p\r\nETag: \"v1\"\r\n\r\n"},
		want:      got{Status: 304, Pod: "p"},
		wantConns: 1, code: 304,
	}, {
		name:      "100 and 103 skipped",
		answer:    []string{"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nX-Pod: p\r\nContent-Length: 2\r\n\r\nok"},
		want:      got{Status: 200, Pod: "p", Body: "ok"},
		wantConns: 1, code: 200,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			closeNow := make(chan struct{}, 2)
			pod := newRawPod(t, func(c net.Conn, br *bufio.Reader, head string) bool {
				ok, atOnce := true, tc.closeWrite && !tc.later
				send := func() {
					if ok = writes(tc.answer...)(c, br, head); ok && atOnce {
						_ = c.(*net.TCPConn).CloseWrite()
					}
				}
				if !atOnce || !loopRun(send) {
					send()
				}
				if ok && tc.later {
					<-closeNow
					_ = c.(*net.TCPConn).CloseWrite()
				}
				return ok // and reads on: a request sent on a closed connection is seen
			})
			h := &fastLog{addr: pod.addr()}
			// The stream idle timeout ends an answer whose end the loop
			// misses.
			s := serveOnLoop(t, h, EdgeOptions{StreamIdleTimeout: 10 * time.Second}, Hooks{})
			cl := dial(t, s.addr)
			var wantCalls []string
			for _, target := range []string{"/a", "/b"} {
				cl.raw.Reset()
				cl.send("GET " + target + " HTTP/1.1\r\nHost: b\r\n\r\n")
				resp, err := http.ReadResponse(cl.br, nil)
				if err != nil {
					t.Fatalf("GET %s: %v", target, err)
				}
				var body string
				if tc.later {
					first := make([]byte, len(tc.want.Body))
					var n int
					n, err = io.ReadFull(resp.Body, first)
					body = string(first[:n])
					closeNow <- struct{}{}
				}
				rest, err2 := io.ReadAll(resp.Body)
				if err == nil {
					err = err2
				}
				if err != nil {
					t.Fatalf("GET %s: the body: %v (read %q; the stream idle timeout cut it?)", target, err, body+string(rest))
				}
				body += string(rest)
				g := got{Status: resp.StatusCode, TE: resp.TransferEncoding, Pod: resp.Header.Get("X-Pod"), Body: body, Trailer: resp.Trailer.Get("X-Sum")}
				if diff := cmp.Diff(tc.want, g); diff != "" {
					t.Errorf("GET %s (-want +got):\n%s", target, diff)
				}
				if tc.wantRaw != "" {
					_, rawBody, _ := strings.Cut(cl.raw.String(), "\r\n\r\n")
					if rawBody != tc.wantRaw {
						t.Errorf("GET %s: the body came as %q, want the pod's %q", target, rawBody, tc.wantRaw)
					}
				}
				wantCalls = append(wantCalls, exchange(target, tc.code)...)
			}
			if n := pod.accepted.Load(); n != tc.wantConns {
				t.Errorf("the pod accepted %d connections, want %d", n, tc.wantConns)
			}
			if diff := cmp.Diff(wantCalls, h.log()); diff != "" {
				t.Errorf("handler calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoopBackPressure: an 8 MiB answer to a client that does not read
// stops the loop reading the pod with little buffered; read slowly, it
// arrives whole.
func TestLoopBackPressure(t *testing.T) {
	const size = 8 << 20
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte(i*7 + i/251)
	}
	want := sha256.New()
	for range size / len(chunk) {
		want.Write(chunk)
	}
	pod := newRawPod(t, func(c net.Conn, _ *bufio.Reader, _ string) bool {
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size); err != nil {
			return false
		}
		for range size / len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				return false
			}
		}
		return true
	})
	h := &fastLog{addr: pod.addr()}
	s := serveOnLoop(t, h, EdgeOptions{}, Hooks{})
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(guard))
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: b\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	pending := -1
	waitFor(t, "the loop to stop reading the pod", func() bool {
		paused := false
		inLoop(t, func(l *evloop) {
			for lc := range l.conns {
				if r := lc.x; lc.s == s.Server && r != nil && r.up != nil && r.up.paused {
					paused, pending = true, len(r.out.b)-r.off
				}
			}
		})
		return paused
	})
	if pending > maxPending+loopBufSize {
		t.Errorf("%d bytes wait for the client, want at most %d", pending, maxPending+loopBufSize)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 1024), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.CopyBuffer(got, struct{ io.Reader }{resp.Body}, make([]byte, 1024))
	if err != nil || n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Errorf("read %d bytes (%v), want %d; same bytes: %t", n, err, size, bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
	if diff := cmp.Diff(exchange("/big", 200), h.log()); diff != "" {
		t.Errorf("handler calls (-want +got):\n%s", diff)
	}
}

// TestLoopRequestClose: a request with Connection: close is answered,
// then its connection is closed.
func TestLoopRequestClose(t *testing.T) {
	pod := newRawPod(t, writes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	h := &fastLog{addr: pod.addr()}
	s := serveOnLoop(t, h, EdgeOptions{}, Hooks{})
	cl := dial(t, s.addr)
	cl.send("GET /c HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
	resp, body, err := cl.read(http.MethodGet)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || body != "ok" || !resp.Close {
		t.Errorf("answered %d %q, Connection: close %t; want 200 \"ok\", true", resp.StatusCode, body, resp.Close)
	}
	if err := cl.closed(); err != nil {
		t.Errorf("the connection was not closed after the answer: %v", err)
	}
	waitFor(t, "no live connection", func() bool { return s.LiveConns() == 0 })
	if diff := cmp.Diff(exchange("/c", 200), h.log()); diff != "" {
		t.Errorf("handler calls (-want +got):\n%s", diff)
	}
}

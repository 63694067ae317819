package dataplane

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// upstreams is the proxy's HTTP/1.1 client to the pods: a keep-alive
// pool per pod address, with the request written and the response read
// on the calling goroutine. net/http's Transport hands every request to
// two connection goroutines; a proxy that streams one response per
// request does not need them, and saves that work on every hop. Request
// heads are written straight from the proxied request, and simple
// response heads are parsed (httphead.go) into objects the connection
// reuses; other responses are read by http.ReadResponse.
//
// The pool is bounded: at most maxIdlePerAddr idle connections per address, and
// a connection idle for a sweep period or more (upIdleSweep: 30 to 60
// s) is closed by the sweeper, which runs only while the pool has idle
// connections. A pod that is gone leaves nothing behind for long.
type upstreams struct {
	mu      sync.Mutex
	idle    map[string][]*UpstreamConn
	nidle   int    // idle connections, all addresses
	gen     uint64 // sweep generation
	sweeper *time.Timer
	swept   bool // the sweeper is scheduled
}

// upIdleSweep is the period of the idle connection sweeper.
const upIdleSweep = 30 * time.Second

// staleCheckAfter: a connection idle this long is checked for a close by
// the replica before it is used again; one reused sooner is not (a
// system call saved on every busy connection).
const staleCheckAfter = 250 * time.Millisecond

// UpstreamConn is a connection to a pod, with the last response read on
// it; RoundTrip gives it out with that response, Release takes it back.
// Its fields are the data plane's own.
type UpstreamConn struct {
	addr   string
	c      net.Conn
	sock   *sockIO // c's raw reader-writer (nil: c is used)
	br     *bufio.Reader
	bw     *bufio.Writer
	gen    uint64    // the sweep generation it went idle in
	idleAt time.Time // when it went idle
	// idle is the stream idle timeout (0: none), readAt the read deadline
	// in force, moved lazily like a client connection's; until, when set,
	// is a deadline no read may pass (a try's or the route's timeout).
	idle   time.Duration
	readAt time.Time
	until  time.Time
	// The last response, valid until the connection is released.
	head   responseHead
	resp   http.Response
	header http.Header
	vals   []string
	body   clBody
}

// Request is what is sent to a pod. The zero value is not a request:
// Method, URI and Host must be set. The proxy owns Header and Body for
// the request's life (they may be the inbound request's).
type Request struct {
	Method string
	URI    string      // origin-form request target
	Host   string      // the Host field sent
	Header http.Header // Host, Content-Length and Transfer-Encoding are not read
	Body   io.Reader   // nil: no body
	Length int64       // of Body; -1: unknown, sent chunked; 0 with a Body: none sent
	// replay, when set, is Body kept for sending again (see KeepBody);
	// a request with a body and no replay cannot be sent again.
	replay *replayBody
	// Now is about when the request started (zero: read the clock);
	// Idle is the stream idle timeout (0: none).
	Now  time.Time
	Idle time.Duration
	// Timeout is the route timeout and PerTry the try timeout (0: none).
	// The route's deadline is set once the request has been sent whole
	// the first time, a try's each time (Envoy counts both from the end
	// of the request); a try's applies until the answer's head, the
	// route's until the end of the answer.
	Timeout, PerTry time.Duration
	// Deadline is the route's deadline: set by the caller when the
	// request is complete as it arrives (no body), else by the first
	// try once the request is sent. TryDeadline is the last try's
	// (zero: none); both are read after a failed try to tell the
	// timeouts apart.
	Deadline    time.Time
	TryDeadline time.Time
	// Watch, when set, watches the client's connection while the answer
	// is waited for: if the client goes away, the request is cancelled
	// and RoundTrip fails with ErrDownstreamGone.
	Watch *CloseWatch
}

// maxIdlePerAddr bounds the idle connections kept per pod address.
const maxIdlePerAddr = 256

// How pods are connected to: the connect timeout and the TCP keep-alive
// period of upstream connections.
const (
	dialTimeout   = 2 * time.Second
	dialKeepAlive = 30 * time.Second
)

// roundTrip sends req to addr. The returned response and connection
// belong together: read the body, then hand the connection back with
// release, after which the response must not be used. A connection that
// cannot be made is a *ConnectError.
func (u *upstreams) roundTrip(ctx context.Context, addr string, req *Request) (*http.Response, *UpstreamConn, error) {
	for {
		c := u.get(addr)
		if c == nil {
			break
		}
		if time.Since(c.idleAt) >= staleCheckAfter && peerClosed(c.c) {
			// The replica closed it while it was idle (its keep-alive
			// timeout): Envoy notices such a close on its idle
			// connections; here it is checked before use.
			c.c.Close()
			continue
		}
		resp, err := c.exchange(ctx, req)
		if err != nil {
			c.c.Close()
			return nil, nil, err
		}
		return resp, c, nil
	}
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: dialKeepAlive, Deadline: req.Deadline}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, &ConnectError{Err: err}
	}
	sock := new(sockIO)
	rw, raw := sock.reset(nc, req.Idle)
	if !raw {
		sock = nil
	}
	c := &UpstreamConn{addr: addr, c: nc, sock: sock, br: bufio.NewReaderSize(rw, 16<<10), bw: bufio.NewWriterSize(rw, 8<<10), header: http.Header{}}
	resp, err := c.exchange(ctx, req)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return resp, c, nil
}

// ConnectError: no connection to the replica could be made.
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return "connect: " + e.Err.Error() }

func (e *ConnectError) Unwrap() error { return e.Err }

// Rewind readies the request to be sent again: true without a body, or
// with one kept by KeepBody and not over MaxReplayBody.
func (req *Request) Rewind() bool {
	return req.Body == nil || req.replay != nil && req.replay.rewind()
}

// exchange writes the request and reads the response head; the context
// aborts both by expiring the connection's deadline, the client going
// away (req.Watch) by closing the connection.
func (c *UpstreamConn) exchange(ctx context.Context, req *Request) (*http.Response, error) {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	c.idle = req.Idle
	if !c.until.IsZero() {
		// The last request's deadline: not this one's.
		c.until, c.readAt = time.Time{}, time.Unix(1, 0)
	}
	c.readWithin(now)
	if err := writeRequest(c.bw, req); err != nil {
		return nil, err
	}
	if req.Body == nil && c.sock != nil {
		// The request is all in the buffer: the timeouts and the watch
		// start now, and its last write waits for the answer (see
		// sockIO.writeAwait), which saves a read that would find nothing.
		c.sent(req)
		if req.Watch != nil {
			req.Watch.Arm(c.c)
		}
		c.sock.expectAnswer()
		err := c.bw.Flush()
		c.sock.clearAnswer()
		if err != nil {
			if req.Watch != nil && req.Watch.Disarm() {
				return nil, ErrDownstreamGone
			}
			return nil, err
		}
	} else {
		if err := c.bw.Flush(); err != nil {
			return nil, err
		}
		c.sent(req)
		if req.Watch != nil {
			req.Watch.Arm(c.c)
		}
	}
	resp, err := c.readResponse(req.Method)
	if req.Watch != nil && req.Watch.Disarm() {
		return nil, ErrDownstreamGone
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	// The try's timeout ends with the answer's head; the route's bounds
	// the body too.
	if !c.until.Equal(req.Deadline) {
		c.until = req.Deadline
		c.readAt = time.Unix(1, 0) // set anew by the next read
	}
	return resp, ctx.Err()
}

// sent starts the route's and the try's timeouts once the request is sent
// (sending a body may have taken a while; Envoy counts both from the end
// of the request).
func (c *UpstreamConn) sent(req *Request) {
	if req.Body == nil && req.Timeout <= 0 && req.PerTry <= 0 {
		return
	}
	sent := time.Now()
	if req.Timeout > 0 && req.Deadline.IsZero() {
		req.Deadline = sent.Add(req.Timeout)
	}
	req.TryDeadline = time.Time{}
	if req.PerTry > 0 {
		req.TryDeadline = sent.Add(req.PerTry)
	}
	c.until = earliest(req.Deadline, req.TryDeadline)
	c.readWithin(sent)
}

// earliest is the earlier of two deadlines, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// readWithin moves the read deadline to now+idle when the one in force
// is earlier by more than a second (or to none without a timeout), never
// past until.
func (c *UpstreamConn) readWithin(now time.Time) {
	var t time.Time
	if c.idle > 0 {
		t = now.Add(c.idle)
	}
	t = earliest(t, c.until)
	switch {
	case t.IsZero():
		if !c.readAt.IsZero() {
			c.readAt = time.Time{}
			_ = c.c.SetReadDeadline(c.readAt)
		}
	case c.readAt.IsZero() || t.Before(c.readAt) || t.Sub(c.readAt) > time.Second:
		c.readAt = t
		_ = c.c.SetReadDeadline(t)
	}
}

// extendRead and readError make UpstreamConn the bodyConn of its responses:
// the stream idle timeout counts from the last bytes of the answer.
func (c *UpstreamConn) extendRead() { c.readWithin(time.Now()) }

func (c *UpstreamConn) readError(err error) error { return err }

// idleBody is a response body read by net/http whose reads keep the
// stream idle deadline ahead.
type idleBody struct {
	io.ReadCloser
	c *UpstreamConn
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.c.extendRead()
	return b.ReadCloser.Read(p)
}

// requestWriter is what writeRequest writes to: a connection's
// bufio.Writer, or the event loop's outBuf.
type requestWriter interface {
	io.Writer
	io.StringWriter
	io.ByteWriter
}

// writeRequest writes req as HTTP/1.1: the request line, Host, the header
// fields and the body, with its length or chunked.
func writeRequest(bw requestWriter, req *Request) error {
	if !httpguts.ValidHostHeader(req.Host) {
		return errors.New("invalid Host " + strconv.Quote(req.Host))
	}
	_, _ = bw.WriteString(req.Method)
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(req.URI)
	_, _ = bw.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = bw.WriteString(req.Host)
	_, _ = bw.WriteString("\r\n")
	writeFields(bw, req.Header, framingField)
	switch {
	case req.Length < 0:
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		cw := httputil.NewChunkedWriter(bw)
		if _, err := io.Copy(cw, req.Body); err != nil {
			return err
		}
		if err := cw.Close(); err != nil {
			return err
		}
		_, err := bw.WriteString("\r\n")
		return err
	case req.Length > 0 || req.Method != http.MethodGet && req.Method != http.MethodHead:
		// net/http's rule: a zero length is sent except for GET and HEAD.
		var num [20]byte
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.Write(strconv.AppendInt(num[:0], req.Length, 10))
		_, _ = bw.WriteString("\r\n")
	}
	_, err := bw.WriteString("\r\n")
	if err != nil || req.Length == 0 {
		return err
	}
	var n int64
	if b, ok := req.Body.(*clBody); ok && b.n == req.Length {
		n, err = b.WriteTo(bw)
	} else {
		n, err = io.Copy(bw, io.LimitReader(req.Body, req.Length))
	}
	if err == nil && n < req.Length {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// framingField: the fields writeRequest writes itself.
func framingField(name string) bool {
	switch name {
	case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// readResponse reads the next final response head (informational 1xx
// answers other than 101 are skipped, as net/http's Transport does).
func (c *UpstreamConn) readResponse(method string) (*http.Response, error) {
	for range 10 {
		resp, err := c.readOne(method)
		if err != nil || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols || resp.StatusCode < 100 {
			return resp, err
		}
	}
	return nil, errors.New("too many 1xx informational responses")
}

func (c *UpstreamConn) readOne(method string) (*http.Response, error) {
	n, err := PeekHead(c.br)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		b, _ := c.br.Peek(n)
		if h := &c.head; parseResponseHead(string(b), h) {
			noBody := method == http.MethodHead || bodiless(h.code)
			if noBody || h.contentLength >= 0 {
				_, _ = c.br.Discard(n)
				return c.fill(noBody), nil
			}
		}
	}
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err == nil && (c.idle > 0 || !c.until.IsZero()) && resp.Body != http.NoBody {
		resp.Body = &idleBody{ReadCloser: resp.Body, c: c}
	}
	return resp, err
}

// PeekHead waits for a whole message head at the start of br and returns
// its length without consuming it; 0 means the head does not fit in the
// buffer or the stream ended inside it (the caller falls back to net/http,
// which reports it).
func PeekHead(br *bufio.Reader) (int, error) {
	if _, err := br.Peek(1); err != nil {
		return 0, err
	}
	for {
		b, _ := br.Peek(br.Buffered())
		if n := headEnd(b); n > 0 {
			return n, nil
		}
		if len(b) == br.Size() {
			return 0, nil
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return 0, nil // net/http reads the same bytes and reports the error
		}
	}
}

// fill builds the response from the parsed head.
func (c *UpstreamConn) fill(noBody bool) *http.Response {
	h := &c.head
	c.header, c.vals = headerOf(h.fields, c.header, c.vals)
	c.resp = http.Response{Status: h.status, StatusCode: h.code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: c.header, Body: http.NoBody, ContentLength: max(h.contentLength, 0), Close: h.close}
	if !noBody && h.contentLength > 0 {
		c.body = clBody{br: c.br, n: h.contentLength, conn: c}
		c.resp.Body = &c.body
	}
	return &c.resp
}

func (u *upstreams) get(addr string) *UpstreamConn {
	u.mu.Lock()
	defer u.mu.Unlock()
	list := u.idle[addr]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	list[len(list)-1] = nil
	u.idle[addr] = list[:len(list)-1]
	u.nidle--
	return c
}

// dropIdle closes the idle connections to addr: its replica's run ended,
// and a connection to it must not be used for the next run.
func (u *upstreams) dropIdle(addr string) {
	u.mu.Lock()
	conns := u.idle[addr]
	delete(u.idle, addr)
	u.nidle -= len(conns)
	u.mu.Unlock()
	for _, c := range conns {
		c.c.Close()
	}
}

// release returns a connection whose response was read to its end and
// did not ask to close, or closes it.
func (u *upstreams) release(c *UpstreamConn, reusable bool) {
	if !reusable || c.br.Buffered() > 0 {
		c.c.Close()
		return
	}
	u.mu.Lock()
	if len(u.idle[c.addr]) < maxIdlePerAddr {
		if u.idle == nil {
			u.idle = map[string][]*UpstreamConn{}
		}
		c.gen, c.idleAt = u.gen, time.Now()
		u.idle[c.addr] = append(u.idle[c.addr], c)
		u.nidle++
		if !u.swept {
			u.swept = true
			if u.sweeper == nil {
				u.sweeper = time.AfterFunc(upIdleSweep, u.sweep)
			} else {
				u.sweeper.Reset(upIdleSweep)
			}
		}
		c = nil
	}
	u.mu.Unlock()
	if c != nil {
		c.c.Close()
	}
}

// sweep closes the connections that have been idle since before the last
// sweep, and runs again while any are left.
func (u *upstreams) sweep() {
	var stale []*UpstreamConn
	u.mu.Lock()
	for addr, list := range u.idle {
		// Idle connections are appended, so the oldest come first.
		i := 0
		for i < len(list) && list[i].gen < u.gen {
			i++
		}
		stale = append(stale, list[:i]...)
		if i == len(list) {
			delete(u.idle, addr)
			continue
		}
		u.idle[addr] = append(list[:0], list[i:]...)
		clear(list[len(list)-i:])
	}
	u.nidle -= len(stale)
	u.gen++
	u.swept = u.nidle > 0
	if u.swept {
		u.sweeper.Reset(upIdleSweep)
	}
	u.mu.Unlock()
	for _, c := range stale {
		c.c.Close()
	}
}

// closeAll drops every idle connection.
func (u *upstreams) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for addr, list := range u.idle {
		for _, c := range list {
			c.c.Close()
		}
		delete(u.idle, addr)
	}
	u.nidle = 0
}

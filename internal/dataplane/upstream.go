package embedded

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

// upstreams is the sidecars' HTTP/1.1 client to the pods: a keep-alive
// pool per pod address, with the request written and the response read
// on the calling goroutine. net/http's Transport hands every request to
// two connection goroutines; a proxy that streams one response per
// request does not need them, and saves that work on every hop. Request
// heads are written straight from the proxied request, and simple
// response heads are parsed (httphead.go) into objects the connection
// reuses; other responses are read by http.ReadResponse.
//
// The pool is bounded: at most maxIdle idle connections per address, and
// a connection idle for a sweep period or more (upIdleSweep: 30 to 60
// s) is closed by the sweeper, which runs only while the pool has idle
// connections. A pod that is gone leaves nothing behind for long.
type upstreams struct {
	mu      sync.Mutex
	idle    map[string][]*upConn
	nidle   int    // idle connections, all addresses
	gen     uint64 // sweep generation
	sweeper *time.Timer
	swept   bool // the sweeper is scheduled
	maxIdle int
	dialer  net.Dialer
}

// upIdleSweep is the period of the idle connection sweeper.
const upIdleSweep = 30 * time.Second

// staleCheckAfter: a connection idle this long is checked for a close by
// the replica before it is used again; one reused sooner is not (a
// system call saved on every busy connection).
const staleCheckAfter = 250 * time.Millisecond

type upConn struct {
	addr   string
	c      net.Conn
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

// upRequest is what is sent to a pod.
type upRequest struct {
	method string
	uri    string // origin-form request target
	host   string
	header http.Header // Host, Content-Length and Transfer-Encoding are not read
	body   io.Reader   // nil: no body
	length int64       // of body; -1: unknown, sent chunked
	// replay, when set, is body kept for sending again (see replayBody);
	// a request with a body and no replay cannot be sent again.
	replay *replayBody
	// now is about when the request started (zero: read the clock);
	// idle is the stream idle timeout (0: none).
	now  time.Time
	idle time.Duration
	// timeout is the route timeout and perTry the try timeout (0: none).
	// The route's deadline is set once the request has been sent whole
	// the first time, a try's each time (Envoy counts both from the end
	// of the request); a try's applies until the answer's head, the
	// route's until the end of the answer.
	timeout, perTry time.Duration
	deadline        time.Time // the route's
	tryDeadline     time.Time
	// watch, when set, watches the client's connection while the answer
	// is waited for: if the client goes away, the request is cancelled
	// and roundTrip fails with errDownstreamGone.
	watch *closeWatch
}

func newUpstreams() *upstreams {
	return &upstreams{idle: map[string][]*upConn{}, maxIdle: 256, dialer: net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}}
}

// roundTrip sends req to addr. The returned response and connection
// belong together: read the body, then hand the connection back with
// release, after which the response must not be used. A connection that
// cannot be made is a *connectError.
func (u *upstreams) roundTrip(ctx context.Context, addr string, req *upRequest) (*http.Response, *upConn, error) {
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
	d := &u.dialer
	if !req.deadline.IsZero() {
		dd := *d
		dd.Deadline = req.deadline
		d = &dd
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, &connectError{err: err}
	}
	rw := newSockIO(nc, req.idle)
	c := &upConn{addr: addr, c: nc, br: bufio.NewReaderSize(rw, 16<<10), bw: bufio.NewWriterSize(rw, 8<<10), header: http.Header{}}
	resp, err := c.exchange(ctx, req)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return resp, c, nil
}

// connectError: no connection to the replica could be made.
type connectError struct{ err error }

func (e *connectError) Error() string { return "connect: " + e.err.Error() }

func (e *connectError) Unwrap() error { return e.err }

// rewind readies the request to be sent again: true without a body, or
// with a replayable one.
func (req *upRequest) rewind() bool {
	return req.body == nil || req.replay != nil && req.replay.rewind()
}

// exchange writes the request and reads the response head; the context
// aborts both by expiring the connection's deadline, the client going
// away (req.watch) by closing the connection.
func (c *upConn) exchange(ctx context.Context, req *upRequest) (*http.Response, error) {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	now := req.now
	if now.IsZero() {
		now = time.Now()
	}
	c.idle = req.idle
	if !c.until.IsZero() {
		// The last request's deadline: not this one's.
		c.until, c.readAt = time.Time{}, time.Unix(1, 0)
	}
	c.readWithin(now)
	if err := writeRequest(c.bw, req); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	if req.body != nil || req.timeout > 0 || req.perTry > 0 {
		// Sending the body may have taken a while; the timeouts count
		// from here.
		sent := time.Now()
		if req.timeout > 0 && req.deadline.IsZero() {
			req.deadline = sent.Add(req.timeout)
		}
		req.tryDeadline = time.Time{}
		if req.perTry > 0 {
			req.tryDeadline = sent.Add(req.perTry)
		}
		c.until = earliest(req.deadline, req.tryDeadline)
		c.readWithin(sent)
	}
	if req.watch != nil {
		req.watch.arm(c.c)
	}
	resp, err := c.readResponse(req.method)
	if req.watch != nil && req.watch.disarm() {
		return nil, errDownstreamGone
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	// The try's timeout ends with the answer's head; the route's bounds
	// the body too.
	if !c.until.Equal(req.deadline) {
		c.until = req.deadline
		c.readAt = time.Unix(1, 0) // set anew by the next read
	}
	return resp, ctx.Err()
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
func (c *upConn) readWithin(now time.Time) {
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

// extendRead and readError make upConn the bodyConn of its responses:
// the stream idle timeout counts from the last bytes of the answer.
func (c *upConn) extendRead() { c.readWithin(time.Now()) }

func (c *upConn) readError(err error) error { return err }

// idleBody is a response body read by net/http whose reads keep the
// stream idle deadline ahead.
type idleBody struct {
	io.ReadCloser
	c *upConn
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.c.extendRead()
	return b.ReadCloser.Read(p)
}

// writeRequest writes req as HTTP/1.1: the request line, Host, the header
// fields and the body, with its length or chunked.
func writeRequest(bw *bufio.Writer, req *upRequest) error {
	if !httpguts.ValidHostHeader(req.host) {
		return errors.New("invalid Host " + strconv.Quote(req.host))
	}
	_, _ = bw.WriteString(req.method)
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(req.uri)
	_, _ = bw.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = bw.WriteString(req.host)
	_, _ = bw.WriteString("\r\n")
	writeFields(bw, req.header, framingField)
	switch {
	case req.length < 0:
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		cw := httputil.NewChunkedWriter(bw)
		if _, err := io.Copy(cw, req.body); err != nil {
			return err
		}
		if err := cw.Close(); err != nil {
			return err
		}
		_, err := bw.WriteString("\r\n")
		return err
	case req.length > 0 || req.method != http.MethodGet && req.method != http.MethodHead:
		// net/http's rule: a zero length is sent except for GET and HEAD.
		var num [20]byte
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.Write(strconv.AppendInt(num[:0], req.length, 10))
		_, _ = bw.WriteString("\r\n")
	}
	_, err := bw.WriteString("\r\n")
	if err != nil || req.length == 0 {
		return err
	}
	var n int64
	if b, ok := req.body.(*clBody); ok && b.n == req.length {
		n, err = b.WriteTo(bw)
	} else {
		n, err = io.Copy(bw, io.LimitReader(req.body, req.length))
	}
	if err == nil && n < req.length {
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
func (c *upConn) readResponse(method string) (*http.Response, error) {
	for range 10 {
		resp, err := c.readOne(method)
		if err != nil || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols || resp.StatusCode < 100 {
			return resp, err
		}
	}
	return nil, errors.New("too many 1xx informational responses")
}

func (c *upConn) readOne(method string) (*http.Response, error) {
	n, err := peekHead(c.br)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		b, _ := c.br.Peek(n)
		if h := &c.head; parseResponseHead(string(b), h) {
			noBody := method == http.MethodHead || h.code == http.StatusNoContent || h.code == http.StatusNotModified
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

// peekHead waits for a whole message head at the start of br and returns
// its length without consuming it; 0 means the head does not fit in the
// buffer or the stream ended inside it (the caller falls back to net/http,
// which reports it).
func peekHead(br *bufio.Reader) (int, error) {
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
func (c *upConn) fill(noBody bool) *http.Response {
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

func (u *upstreams) get(addr string) *upConn {
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

// release returns a connection whose response was read to its end and
// did not ask to close, or closes it.
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

func (u *upstreams) release(c *upConn, reusable bool) {
	if !reusable || c.br.Buffered() > 0 {
		c.c.Close()
		return
	}
	u.mu.Lock()
	if len(u.idle[c.addr]) < u.maxIdle {
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
	var stale []*upConn
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

package dataplane

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves one proxy listener (a sidecar, a gateway): HTTP/1.1
// with one goroutine per connection that reads a request, runs the
// handler and writes the answer, in turn. Unlike net/http's server it has
// no per-connection background reader and no per-request goroutines or
// contexts, which is most of a proxy hop's cost. Requests are parsed by
// the connection's reqReader (reqreader.go) under the listener's Limits;
// what breaks them is answered here (400, 408, 413, 414, 431, 501) and
// counted through Hooks.Reject. A Server is made by Proxy.Serve.
type Server struct {
	p     *Proxy
	ln    net.Listener
	h     http.Handler
	lim   *Limits
	hooks Hooks
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
	wg    sync.WaitGroup
	// parked counts the connections waiting without a connState (or,
	// on the event loop, idle for parkAfter).
	parked atomic.Int64
	// fh is h when the event loop serves the listener (loop), with
	// loopConns of its connections; conns holds the others (handed off
	// by the loop, or all of them without it).
	fh        FastHandler
	loop      *loopListener
	loopConns atomic.Int64
}

// Hooks report what a Server does on its own, for metrics. A nil hook is
// not called. Each must be cheap: it runs on the serving path.
type Hooks struct {
	// Reject counts a request the server refused itself (status 0: the
	// client went away with no answer) with Envoy's response flags, from
	// start, when its head started to arrive. Called on the connection's
	// goroutine, at most once per connection (the connection is closed
	// after it), before the refusal is written: it must not block.
	Reject func(status int, flags string, start time.Time)
	// Overflow counts a connection closed at once because the listener
	// already serves Limits' MaxConnections. Called on the accept
	// goroutine, once per refused connection: it must not block, or
	// accepting stops while it runs.
	Overflow func()
}

// maxDrain is how much of a request body the handler did not read is read
// and dropped to keep the connection; with more left, it is closed.
const maxDrain = 1 << 20

// parkAfter is how long a kept-alive connection waits for its next
// request holding its buffers; after that it gives them back and waits
// with none (see downConn.awaitRequest).
const parkAfter = 2 * time.Second

func (s *Server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			c.Close()
			return
		}
		if s.lim.maxConns > 0 && len(s.conns) >= s.lim.maxConns {
			s.mu.Unlock()
			// Counted before the close, which the client may see at once.
			if s.hooks.Overflow != nil {
				s.hooks.Overflow()
			}
			c.Close() // as Envoy does at its connection limit
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(c)
	}
}

// LiveConns is how many connections the server holds.
func (s *Server) LiveConns() int {
	return s.goConns() + int(s.loopConns.Load())
}

// goConns is how many connections goroutines serve.
func (s *Server) goConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// handOff serves a connection the event loop gives up on a goroutine,
// pending (bytes the loop read) first; resume, when set, answers a
// request the loop read and started before the requests in pending.
func (s *Server) handOff(c net.Conn, pending []byte, resume *resumed) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		c.Close()
		if resume != nil {
			resume.abandon() // closed meanwhile: counted as the client's going away
		}
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.handleFrom(c, pending, resume)
}

// resumed is a request the loop hands over in the middle of its
// exchange, and what answers it (FastHandler.Resume).
type resumed struct {
	req     *http.Request
	serve   func(w http.ResponseWriter)
	abandon func() // the server closed before it could be served
}

func (s *Server) handle(c net.Conn) { s.handleFrom(c, nil, nil) }

// handleFrom serves c, whose first bytes are pending, then the socket's;
// first, when set, is served before them.
func (s *Server) handleFrom(c net.Conn, pending []byte, first *resumed) {
	s.p.mem.add(gaugeConns, 1)
	d := downConns.Get().(*downConn)
	d.init(s.p, c, s.lim, &s.parked, pending)
	defer func() {
		d.release()
		downConns.Put(d)
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
		s.p.mem.add(gaugeConns, -1)
	}()
	now := time.Now()
	if first != nil {
		d.st.w.reset(first.req)
		first.serve(d.st.w)
		var ok bool
		if now, ok = s.answered(d, first.req); !ok {
			return
		}
	}
	for {
		if !d.awaitRequest(now) {
			return
		}
		rd, bw, w := d.st.rd, d.st.bw, d.st.w
		req, derr := rd.next()
		if derr != nil {
			s.refuse(d, derr, rd.headStart)
			return
		}
		if req.ContentLength != 0 {
			// The body may take as long as it takes while bytes keep
			// coming (the body readers move the deadline).
			d.readWithin(time.Now(), s.lim.streamIdle)
			if req.ProtoAtLeast(1, 1) && hasToken(req.Header.Get("Expect"), "100-continue") {
				// Answered here, as Envoy does: the pod gets the body
				// at once, without the expectation.
				req.Header.Del("Expect")
				_, _ = bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
				if bw.Flush() != nil {
					return
				}
			}
		}
		w.reset(req)
		s.h.ServeHTTP(w, req)
		var ok bool
		if now, ok = s.answered(d, req); !ok {
			return
		}
	}
}

// answered ends a request once its handler returned: it writes what is
// left of the answer and reads what the handler left of the body. It
// returns when the handler returned, from which the next request is
// waited for, and false when the connection is to be closed.
func (s *Server) answered(d *downConn, req *http.Request) (time.Time, bool) {
	rd, w := d.st.rd, d.st.w
	now := time.Now()
	// When nothing is left to read or decide, the answer's last write
	// waits for the next request (sockIO.writeAwait), under the deadline
	// awaitRequest then keeps.
	await := d.parkable && (req.Body == nil || req.Body == http.NoBody) && req.ProtoAtLeast(1, 1) &&
		!req.Close && !w.close && rd.br.Buffered() == 0 && !d.hasPending()
	if await {
		d.readWithin(now, d.idleWait())
		d.sock.expectAnswer()
	}
	err := w.finish()
	d.sock.clearAnswer()
	if err != nil {
		return now, false
	}
	if w.linger {
		d.linger()
		return now, false
	}
	// Read what the handler left of the body, so the next request
	// starts at its first byte.
	if req.Body != nil && req.Body != http.NoBody {
		n, err := io.Copy(io.Discard, io.LimitReader(req.Body, maxDrain+1))
		req.Body.Close()
		if err != nil || n > maxDrain {
			return now, false
		}
	}
	return now, !req.Close && !w.close
}

// refuse answers a request the server could not read (when the client
// can still be answered), counts it, and the connection is then closed.
// start is when its head started to arrive (zero: now).
func (s *Server) refuse(d *downConn, e *DownstreamError, start time.Time) {
	if e == errHeadAbandoned {
		return // the client left in the middle of a head: nobody to answer, nothing served
	}
	if start.IsZero() {
		start = time.Now()
	}
	if s.hooks.Reject != nil {
		s.hooks.Reject(e.Status, e.Flags, start)
	}
	if e.Status != 0 {
		writeLocalReply(d.st.bw, e.Status, e.Msg)
		if d.st.bw.Flush() == nil {
			d.linger()
		}
	}
}

// Lingering close (nginx's lingering_time, Envoy's delayed close): after
// an answer that leaves part of the request unread, the connection is
// half-closed and what the client still sends is read and dropped for a
// while, so that closing does not reset the connection (and destroy the
// answer) before the client has read it.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 1 << 20
)

func (d *downConn) linger() {
	if tc, ok := d.c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	d.setReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, d.rw, lingerBytes)
}

// errHeadAbandoned: the client closed its connection in the middle of a
// request head.
var errHeadAbandoned = &DownstreamError{Flags: FlagDC, Msg: "the client closed the connection in the middle of a request head"}

// writeLocalReply writes a short plain-text answer of the proxy itself
// that closes the connection.
func writeLocalReply(bw *bufio.Writer, status int, msg string) {
	_, _ = bw.Write(appendLocalReply(nil, status, msg, nil, true))
}

// appendLocalReply appends a short plain-text answer of the proxy itself
// to b: the reason in X-Graylane-Reason and the body, the fields of h
// (but its framing), and Connection: close when close is set.
func appendLocalReply(b []byte, status int, msg string, h http.Header, close bool) []byte {
	body := msg + "\n"
	o := outBuf{b: appendStatusLine(b, status)}
	writeFields(&o, h, framedHere)
	o.b = append(o.b, "Content-Type: text/plain\r\nX-Graylane-Reason: "...)
	o.b = append(o.b, msg...)
	o.b = append(o.b, "\r\nContent-Length: "...)
	o.b = strconv.AppendInt(o.b, int64(len(body)), 10)
	if close {
		o.b = append(o.b, "\r\nConnection: close"...)
	}
	o.b = append(o.b, "\r\n\r\n"...)
	return append(o.b, body...)
}

// downConn is a client connection's state for its whole life; its
// buffers, request reader and response writer (a connState) are held
// only while it has a request to serve, and given back while it idles.
// downConns are pooled.
type downConn struct {
	c          net.Conn
	sock       sockIO
	rw         io.ReadWriter
	parkable   bool // the socket can be waited on without a buffer
	lim        *Limits
	remoteAddr string
	parked     *atomic.Int64
	p          *Proxy
	st         *connState // nil while parked
	// readAt is the read deadline in force (zero: none). It is moved
	// lazily: setting it costs a timer update, and a second more of
	// idling is harmless.
	readAt time.Time
	watch  CloseWatch
}

// downConns pools downConns across every Proxy of the process (a
// sync.Pool: it holds nothing of a connection once released).
var downConns = sync.Pool{New: func() any { return new(downConn) }}

func (d *downConn) init(p *Proxy, c net.Conn, lim *Limits, parked *atomic.Int64, pending []byte) {
	d.p, d.c, d.lim, d.parked, d.readAt = p, c, lim, parked, time.Time{}
	d.rw, d.parkable = d.sock.reset(c, lim.streamIdle)
	if len(pending) > 0 {
		d.rw = &prefixed{pending: pending, ReadWriter: d.rw}
	}
	d.remoteAddr = c.RemoteAddr().String()
	d.watch.d = d
	d.attach(d.p.getState())
}

// release gives back the connection's state and drops its references.
func (d *downConn) release() {
	if d.st != nil {
		d.p.putState(d.st)
		d.st = nil
	}
	d.sock.reset(nil, 0)
	d.p, d.c, d.rw, d.lim, d.remoteAddr, d.parked = nil, nil, nil, nil, "", nil
}

// attach readies a connState for this connection.
func (d *downConn) attach(st *connState) {
	st.br.Reset(d.rw)
	st.bw.Reset(d.rw)
	st.rd.attach(d, st.br)
	st.w.d = d
	d.st = st
}

// awaitRequest waits for the first byte of the next request and reports
// whether one came. A connection idle for parkAfter gives its state
// back and waits for bytes with none; one idle for the idle timeout, or
// closed by the client, ends.
func (d *downConn) awaitRequest(now time.Time) bool {
	rd := d.st.rd
	rd.shrink()
	if rd.br.Buffered() > 0 {
		return true // pipelined
	}
	idle, wait := d.lim.idle, d.idleWait()
	d.readWithin(now, wait)
	_, err := rd.br.Peek(1)
	if err == nil {
		return true
	}
	if !IsTimeout(err) || wait == idle {
		return false
	}
	d.p.putState(d.st)
	d.st = nil
	d.parked.Add(1)
	var end time.Time
	if idle > 0 {
		end = now.Add(idle)
	}
	d.setReadDeadline(end)
	err = d.sock.waitReadable()
	d.parked.Add(-1)
	if err != nil {
		return false
	}
	d.attach(d.p.getState())
	_, err = d.st.rd.br.Peek(1)
	return err == nil
}

// idleWait is how long a connection waits for its next request holding
// its buffers: parkAfter when it can park, else the idle timeout.
func (d *downConn) idleWait() time.Duration {
	idle := d.lim.idle
	if d.parkable && (idle == 0 || idle > parkAfter) {
		return parkAfter
	}
	return idle
}

// readWithin moves the read deadline to now+dur (dur 0: none) when the
// one in force is earlier by more than a second, or later.
func (d *downConn) readWithin(now time.Time, dur time.Duration) {
	var t time.Time
	if dur > 0 {
		t = now.Add(dur)
	}
	switch {
	case t.IsZero():
		if !d.readAt.IsZero() {
			d.setReadDeadline(t)
		}
	case d.readAt.IsZero():
		d.setReadDeadline(t)
	default:
		if diff := t.Sub(d.readAt); diff > time.Second || diff < 0 {
			d.setReadDeadline(t)
		}
	}
}

func (d *downConn) setReadDeadline(t time.Time) {
	d.readAt = t
	_ = d.c.SetReadDeadline(t)
}

// extendRead keeps a request body's read deadline the stream idle
// timeout ahead; the body readers call it before they wait for bytes.
func (d *downConn) extendRead() {
	if d.lim.streamIdle > 0 {
		d.readWithin(time.Now(), d.lim.streamIdle)
	}
}

// readError says what a failed read of a request body means.
func (d *downConn) readError(err error) error {
	var de *DownstreamError
	switch {
	case errors.As(err, &de):
		return de
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return &DownstreamError{Status: http.StatusBadRequest, Flags: FlagDPE, Msg: "the request body ended early", err: err}
	case IsTimeout(err):
		return &DownstreamError{Status: http.StatusRequestTimeout, Flags: FlagSI, Msg: "stream timeout: the client stopped sending the request body", err: err}
	}
	return &DownstreamError{Flags: FlagDC, Msg: "the client connection failed", err: err}
}

// connState is what a connection's loop reuses from one request to the
// next: buffers, the request reader and the response writer. It is pooled
// across connections (Proxy.states), so a new connection allocates none of
// it (32 KiB of buffers among it).
type connState struct {
	br *bufio.Reader
	bw *bufio.Writer
	rd *reqReader
	w  *respWriter
}

func newConnState() *connState {
	st := &connState{br: bufio.NewReaderSize(nil, 16<<10), bw: bufio.NewWriterSize(nil, 16<<10)}
	st.rd = &reqReader{header: http.Header{}}
	st.w = &respWriter{bw: st.bw, header: http.Header{}}
	return st
}

// clear drops the connection's references before the state is pooled.
func (st *connState) clear() {
	st.br.Reset(nil)
	st.bw.Reset(nil)
	st.rd.clear()
	clear(st.w.header)
	st.w.req, st.w.d = nil, nil
}

func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Parked is how many of its connections wait for a request without
// holding buffers (see parkAfter).
func (s *Server) Parked() int64 { return s.parked.Load() }

// Close stops accepting, closes every connection and waits for their
// goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	s.done = true
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	ll := s.loop
	s.loop = nil // closed once, whoever else calls Close
	s.mu.Unlock()
	if ll != nil {
		ll.close()
	}
	s.wg.Wait()
}

// hasPending reports whether bytes the event loop read are still to be
// read (they are in no buffer the socket's waits know of).
func (d *downConn) hasPending() bool {
	p, ok := d.rw.(*prefixed)
	return ok && len(p.pending) > 0
}

// prefixed reads pending before the connection's own bytes.
type prefixed struct {
	pending []byte
	io.ReadWriter
}

func (p *prefixed) Read(b []byte) (int, error) {
	if len(p.pending) > 0 {
		n := copy(b, p.pending)
		p.pending = p.pending[n:]
		return n, nil
	}
	return p.ReadWriter.Read(b)
}

// appendStatusLine appends "HTTP/1.1 code text\r\n" to b.
func appendStatusLine(b []byte, code int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	return append(b, "\r\n"...)
}

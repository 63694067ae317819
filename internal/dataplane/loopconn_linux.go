//go:build linux

package dataplane

import (
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"
)

// loopConn is a client connection on the event loop. It reads request
// heads into a buffer it holds only while a head or an exchange is under
// way (an idle connection holds none), and serves one request at a time:
// the next one, pipelined, waits in the buffer (or the socket) until the
// answer before it is written.
type loopConn struct {
	l      *evloop
	s      *Server
	fd     int
	remote string
	in     []byte // request bytes read: in[:n]
	n      int
	more   bool // the last read filled the buffer, or came during an exchange: the socket may hold more
	scan   headScan
	// headStart is when the head being read started to arrive (zero:
	// none is), idleAt when the connection last went idle.
	headStart, idleAt time.Time
	parked            bool
	x                 *loopReq  // the exchange under way
	goneAt            time.Time // when the client closed its side (or the connection failed); zero: it has not
	dead              bool
}

// loopReq is a request the loop forwards: what its head parsed into,
// the Exchange the handler sees, the answer bytes not yet written. The
// loop reuses them (evloop.xs).
type loopReq struct {
	x      Exchange
	head   requestHead
	req    http.Request
	vals   []string
	up     *upConn
	out    outBuf // answer bytes not written yet: out.b[off:]
	off    int
	code   int
	flags  string
	upDone bool // the answer is all in out (or written), and counted (Done)
	close  bool // close the client connection after the answer
	// moved is when bytes last moved for the exchange (the stream idle
	// timeout counts from it).
	moved time.Time
}

// maxPending is how many answer bytes may wait for the client before the
// pod's connection is no longer read (back-pressure).
const maxPending = 64 << 10

// sent says whether the answer's head is in out (or written): its
// status is set then, and only then.
func (r *loopReq) sent() bool { return r.code != 0 }

// gone says whether the client closed its side (or the connection
// failed).
func (c *loopConn) gone() bool { return !c.goneAt.IsZero() }

func (l *evloop) getReq() *loopReq {
	if n := len(l.xs); n > 0 {
		r := l.xs[n-1]
		l.xs[n-1] = nil
		l.xs = l.xs[:n-1]
		return r
	}
	return &loopReq{x: Exchange{Header: http.Header{}}}
}

func (l *evloop) putReq(r *loopReq) {
	state, h, out, vals, fields := r.x.State, r.x.Header, r.out.b, r.vals, r.head.fields
	clear(h)
	clear(vals)
	clear(fields)
	if r.req.Header != nil {
		clear(r.req.Header)
	}
	hdr := r.req.Header
	if cap(out) > 4<<10 {
		out = nil // a free exchange keeps what an answer head needs, not a body's worth
	}
	*r = loopReq{x: Exchange{Header: h, State: state}, out: outBuf{b: out[:0]}, vals: vals[:0]}
	r.head.fields = fields[:0]
	r.req.Header = hdr
	if len(l.xs) < maxFreeStates {
		l.xs = append(l.xs, r)
	}
}

func (c *loopConn) event(ev uint32) {
	if ev&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 && c.x != nil {
		c.flush()
	}
	if c.dead {
		return
	}
	closed := ev&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0
	if ev&syscall.EPOLLIN != 0 || closed {
		if c.x != nil {
			c.more = true // read once the answer is written
		} else {
			c.readable()
		}
	}
	if !closed || c.dead {
		return
	}
	// The client closed its side (what it sent before is read). With a
	// request under way, it is cancelled if its answer does not come
	// within WatchDelay, as the goroutine path's CloseWatch does; else
	// nothing more can come.
	if c.x == nil {
		c.close()
	} else if !c.gone() {
		c.goneAt = c.l.now
	}
}

// readable reads what the client sent and serves the requests it holds.
func (c *loopConn) readable() {
	for !c.dead && c.x == nil {
		if c.in == nil {
			c.in, c.n = c.l.getBuf(), 0
		}
		if c.n == len(c.in) {
			c.handOff() // a head larger than the buffer: the goroutine path grows it
			return
		}
		k, errno := rawRead(c.fd, c.in[c.n:])
		switch {
		case errno == syscall.EAGAIN:
			c.more = false
			c.idle()
			return
		case errno != 0 || k == 0:
			c.close() // between requests, or in a head (nothing to answer)
			return
		}
		c.more = c.n+k == len(c.in)
		c.n += k
		if c.parked {
			c.parked = false
			c.s.parked.Add(-1)
		}
		c.process()
		if !c.more {
			c.idle()
			return
		}
	}
}

// idle gives the buffer back when nothing is in it.
func (c *loopConn) idle() {
	if c.x == nil && c.n == 0 && c.in != nil {
		c.l.putBuf(c.in)
		c.in = nil
	}
}

// process serves the requests buffered, one at a time.
func (c *loopConn) process() {
	for !c.dead && c.x == nil && c.n > 0 {
		n, derr := c.scan.next(c.in[:c.n], c.s.lim)
		if derr != nil {
			c.handOff() // the goroutine path answers it (414, 431) and counts it
			return
		}
		if n == 0 {
			if c.headStart.IsZero() {
				c.headStart = c.l.now
			}
			return
		}
		c.begin(n)
	}
}

// begin starts the exchange of the request whose head is c.in[:n], or
// hands the connection off.
func (c *loopConn) begin(n int) {
	l, lim := c.l, c.s.lim
	s := string(c.in[:n])
	r := l.getReq()
	h := &r.head
	if !parseRequestHead(s, h) || h.method != http.MethodGet {
		l.putReq(r)
		c.handOff()
		return
	}
	if f := h.framing(lim.maxBody); f.status != 0 || f.kind == bodyChunked || f.kind == bodyLength && f.length > 0 {
		l.putReq(r)
		c.handOff()
		return
	}
	header := r.req.Header
	if header == nil {
		header = http.Header{}
	}
	r.req, r.vals = h.request(header, r.vals, c.remote)
	x := &r.x
	x.Req, x.Target, x.Start, x.Limits, x.Addr, x.Out = &r.req, h.origin, l.now, lim, "", Request{}
	if !c.s.fh.Forward(x) {
		l.putReq(r)
		c.handOff()
		return
	}
	r.close, r.moved = h.close, l.now
	c.n = copy(c.in, c.in[n:c.n])
	c.scan, c.headStart, c.x = headScan{}, time.Time{}, r
	u := l.takeIdle(x.Addr)
	if u == nil {
		var err error
		if u, err = l.dial(x.Addr); err != nil {
			c.resume(Try{Err: &ConnectError{Err: err}})
			return
		}
	}
	u.c, r.up = c, u
	u.send(&x.Out)
}

// resume hands the connection, in the middle of its exchange, to a
// goroutine where the handler serves the rest of it (FastHandler.Resume):
// its first try ended as t says, and nothing has been answered.
func (c *loopConn) resume(t Try) {
	r := c.x
	if r.up != nil {
		r.up.close()
		r.up = nil
	}
	c.x = nil
	nc, pending, ok := c.detachConn()
	fh, x := c.s.fh, &r.x
	if !ok {
		fh.Done(x, 0, FlagDC)
		return
	}
	// r is the goroutine's now: it does not go back to the loop's list.
	c.s.handOff(nc, pending, &resumed{req: &r.req, serve: func(w http.ResponseWriter) { fh.Resume(x, w, t) },
		abandon: func() { fh.Done(x, 0, FlagDC) }})
}

// handOff gives the connection to a goroutine of the server's
// goroutine path, for the rest of its life, with the bytes it buffered:
// nothing of them was acted on.
func (c *loopConn) handOff() {
	if nc, pending, ok := c.detachConn(); ok {
		c.s.handOff(nc, pending, nil)
	}
}

// detachConn takes the connection off the loop as a net.Conn (on the
// runtime's network poller), with the bytes it buffered.
func (c *loopConn) detachConn() (net.Conn, []byte, bool) {
	pending := append([]byte(nil), c.in[:c.n]...)
	fd := c.fd
	c.l.forget(fd)
	c.fd = -1
	c.detach()
	f := os.NewFile(uintptr(fd), "")
	nc, err := net.FileConn(f) // a duplicate of fd
	f.Close()
	return nc, pending, err == nil
}

// detach drops the connection from the loop (its descriptor is closed
// or handed off by the caller).
func (c *loopConn) detach() {
	c.dead = true
	delete(c.l.conns, c)
	c.s.loopConns.Add(-1)
	c.s.p.mem.add(gaugeConns, -1)
	if c.parked {
		c.parked = false
		c.s.parked.Add(-1)
	}
	if c.in != nil {
		c.l.putBuf(c.in)
		c.in, c.n = nil, 0
	}
}

// close closes the connection; an exchange under way ends as if the
// client went away.
func (c *loopConn) close() {
	if c.dead {
		return
	}
	if r := c.x; r != nil {
		c.x = nil
		if r.up != nil {
			r.up.close()
		}
		if !r.upDone {
			code, flags := r.code, FlagDC
			if r.flags != "" {
				flags = r.flags
			}
			c.s.fh.Done(&r.x, code, flags)
		}
		c.l.putReq(r)
	}
	c.l.forget(c.fd)
	syscall.Close(c.fd)
	c.detach()
}

// cut ends an exchange whose pod's answer broke off after some of it was
// passed on: what was queued is written (as much as the socket takes),
// the exchange is counted with flags, and the client's connection is
// closed, which tells the client its answer is short.
func (c *loopConn) cut(flags string) {
	r := c.x
	if r.off < len(r.out.b) {
		if k, errno := rawWrite(c.fd, r.out.b[r.off:]); errno == 0 {
			r.off += k
		}
	}
	r.flags = flags
	c.close()
}

// timers checks the connection's deadlines and says when they are next
// to be checked (zero: none).
func (c *loopConn) timers(now time.Time) time.Time {
	lim := c.s.lim
	switch r := c.x; {
	case r != nil:
		c.exchangeTimers(now, r)
	case c.n > 0:
		// A head under way: its deadline is all it has until its next
		// bytes, an event.
		d := lim.headDeadline()
		if d <= 0 || c.headStart.IsZero() {
			return time.Time{}
		}
		if now.Sub(c.headStart) >= d {
			c.refuse(errHeadTimeout, c.headStart)
			return time.Time{}
		}
		return c.headStart.Add(d)
	default:
		idle := now.Sub(c.idleAt)
		if lim.idle > 0 && idle >= lim.idle {
			c.close()
			return time.Time{}
		}
		if !c.parked && idle >= parkAfter {
			c.parked = true
			c.s.parked.Add(1)
		}
		// An idle connection's deadlines are all it has until an
		// event, which has the loop check again within a tick.
		var next time.Time
		if !c.parked {
			next = c.idleAt.Add(parkAfter)
		}
		if t := c.idleAt.Add(lim.idle); lim.idle > 0 && (next.IsZero() || t.Before(next)) {
			next = t
		}
		return next
	}
	// In an exchange: checked every tick (a connection closed meanwhile
	// costs one tick more).
	return now.Add(loopTick)
}

func (c *loopConn) exchangeTimers(now time.Time, r *loopReq) {
	u := r.up
	switch {
	case c.gone() && !r.sent() && now.Sub(c.goneAt) >= WatchDelay:
		// The client went away while its answer was awaited: cancelled,
		// as Envoy does. Once the answer has started, it is written on
		// (as the goroutine path's CloseWatch is disarmed then): a
		// client really gone fails a write.
		c.close()
	case u != nil && u.connecting && now.Sub(r.moved) >= dialTimeout:
		c.resume(Try{Err: &ConnectError{Err: os.ErrDeadlineExceeded}})
	case c.s.lim.streamIdle > 0 && now.Sub(r.moved) >= c.s.lim.streamIdle:
		if r.sent() {
			r.flags = FlagSI
			c.close()
			return
		}
		r.up.close()
		r.up = nil
		c.localAnswer(r, http.StatusGatewayTimeout, FlagSI, "stream timeout: no answer from upstream")
	}
}

// refuse answers a head the loop cannot take in time (408), counts it,
// and closes the connection.
func (c *loopConn) refuse(e *DownstreamError, start time.Time) {
	if c.s.hooks.Reject != nil {
		c.s.hooks.Reject(e.Status, e.Flags, start)
	}
	_, _ = rawWrite(c.fd, appendLocalReply(nil, e.Status, e.Msg, nil, true))
	_ = syscall.Shutdown(c.fd, syscall.SHUT_WR)
	c.close()
}

// localAnswer answers the exchange's request itself (the pod's
// connection is gone), as the handler's own failures are answered: a
// short text body, the reason in X-Graylane-Reason.
func (c *loopConn) localAnswer(r *loopReq, code int, flags, msg string) {
	r.code, r.flags = code, flags
	r.out.b = appendLocalReply(r.out.b, code, msg, r.x.Header, r.close) // with the lane entry's cookie
	c.complete(r)
	c.flush()
}

// answerHead queues the answer's head: the status, the header the
// handler made, the framing of the pod's answer (length: its
// Content-Length, -1: chunked, -2: no body). It reports false when the
// handler declines the answer (nothing is queued).
func (c *loopConn) answerHead(r *loopReq, code int, pod http.Header, length int64) bool {
	h, ok := c.s.fh.Answer(&r.x, code, pod)
	if !ok {
		return false
	}
	if r.close {
		h.Set("Connection", "close")
	}
	r.code = code
	o := &r.out
	o.b = appendStatusLine(o.b, code)
	skip := framedHere
	if length == -2 {
		skip = codingField // no body: a Content-Length says what a GET would get
	}
	writeFields(o, h, skip)
	switch {
	case length >= 0:
		o.b = append(o.b, "Content-Length: "...)
		o.b = strconv.AppendInt(o.b, length, 10)
		o.b = append(o.b, "\r\n"...)
	case length == -1:
		o.b = append(o.b, "Transfer-Encoding: chunked\r\n"...)
	}
	o.b = append(o.b, "\r\n"...)
	return true
}

// flush writes what the answer has pending; once all of it is written
// and the pod's answer is all in, the exchange ends.
func (c *loopConn) flush() {
	r := c.x
	if r == nil || c.dead {
		return
	}
	if r.off < len(r.out.b) {
		k, errno := rawWrite(c.fd, r.out.b[r.off:])
		switch {
		case errno == syscall.EAGAIN:
			return
		case errno != 0:
			c.close() // the client is gone
			return
		}
		r.off += k
		r.moved = c.l.now
		if r.off < len(r.out.b) {
			return
		}
	}
	r.out.b, r.off = r.out.b[:0], 0
	if !r.upDone {
		if u := r.up; u != nil && u.paused {
			u.paused = false
			u.readable()
		}
		return
	}
	c.finish(r)
}

// complete ends an exchange whose answer is all in out: the handler
// counts it (before its last bytes are written, as the goroutine path
// does), and the pod's connection is pooled or closed.
func (c *loopConn) complete(r *loopReq) {
	r.upDone = true
	keep := c.s.fh.Done(&r.x, r.code, r.flags)
	if u := r.up; u != nil {
		r.up = nil
		u.c = nil
		if keep && u.reusable() {
			u.reset()
			c.l.pool(u)
		} else {
			u.close()
		}
	}
}

// finish ends a written exchange, and serves the next request.
func (c *loopConn) finish(r *loopReq) {
	c.x = nil
	closing := r.close
	c.l.putReq(r)
	if closing {
		_ = syscall.Shutdown(c.fd, syscall.SHUT_WR)
		c.close()
		return
	}
	c.idleAt = c.l.now
	c.process()
	if c.x == nil && c.more {
		c.readable()
	}
	if c.x == nil && c.gone() && !c.dead {
		c.close() // the client closed its side, and nothing it sent is left
		return
	}
	c.idle()
}

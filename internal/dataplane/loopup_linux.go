//go:build linux

package dataplane

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// upConn is a connection to a pod on the event loop: it sends an
// exchange's request and streams the answer to the client connection,
// then waits in the loop's pool for the next request to its pod. A pooled
// connection stays registered, so the pod closing it (its keep-alive
// timeout) is noticed at once, as Envoy does, and it is dropped.
type upConn struct {
	l          *evloop
	fd         int
	addr       string
	c          *loopConn // the exchange's client (nil while pooled)
	connecting bool
	paused     bool // the client has maxPending bytes to take first
	// peerClosed: an event said the pod closed its side (or the
	// connection failed): it is read to its end, and never pooled.
	peerClosed bool
	idleAt     time.Time
	out        outBuf // the request bytes not written yet: out.b[off:]
	off        int
	buf        []byte // answer bytes read: buf[:n]
	n          int
	// The answer being read.
	inBody bool
	mode   bodyKind // bodyNone, bodyLength, bodyChunked, bodyClose
	left   int64    // of a Content-Length body
	ck     chunkScan
	close_ bool // the pod asked to close, or its answer ends with the connection
	done   bool
	head   responseHead
	header http.Header
	vals   []string
}

// bodyClose: an answer whose body ends with the connection.
const bodyClose = bodyChunked + 1

// errNotIP: the loop dials IP addresses only.
var errNotIP = errors.New("not an IP:port address")

// dial starts a connection to addr (an IP:port); an error is one it
// failed with at once.
func (l *evloop) dial(addr string) (*upConn, error) {
	sa, ok := sockaddr(addr)
	if !ok {
		return nil, errNotIP
	}
	family := syscall.AF_INET
	if _, v6 := sa.(*syscall.SockaddrInet6); v6 {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, int(dialKeepAlive/time.Second))
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, int(dialKeepAlive/time.Second))
	u := &upConn{l: l, fd: fd, addr: addr}
	switch err := syscall.Connect(fd, sa); err {
	case nil:
	case syscall.EINPROGRESS, syscall.EINTR:
		u.connecting = true
	default:
		syscall.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	if err := l.add(fd, u, edge); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return u, nil
}

// send writes the exchange's request (once connected).
func (u *upConn) send(req *Request) {
	u.out.b, u.off = u.out.b[:0], 0
	if err := writeRequest(&u.out, req); err != nil {
		u.c.resume(Try{Err: err}) // an invalid Host
		return
	}
	if !u.connecting {
		u.write()
	}
}

// write writes what is left of the request.
func (u *upConn) write() {
	for u.off < len(u.out.b) {
		k, errno := rawWrite(u.fd, u.out.b[u.off:])
		switch {
		case errno == syscall.EAGAIN:
			return
		case errno != 0:
			u.failed(os.NewSyscallError("write", errno))
			return
		}
		u.off += k
	}
}

func (u *upConn) event(ev uint32) {
	c := u.c
	if c == nil {
		// Pooled: the pod closed it, or sent what nobody asked for. A
		// readable event alone may be one its last exchange left in the
		// same batch: the socket is looked at first.
		closed := ev&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0
		if closed || ev&syscall.EPOLLIN != 0 && peekFD(u.fd) {
			u.l.unpool(u)
			u.close()
		}
		return
	}
	if u.connecting {
		if ev&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) == 0 {
			return
		}
		if e, err := syscall.GetsockoptInt(u.fd, syscall.SOL_SOCKET, syscall.SO_ERROR); err != nil || e != 0 {
			if err == nil {
				err = syscall.Errno(e)
			}
			c.resume(Try{Err: &ConnectError{Err: os.NewSyscallError("connect", err)}})
			return
		}
		u.connecting = false
		c.x.moved = u.l.now
	}
	if ev&syscall.EPOLLOUT != 0 && u.off < len(u.out.b) {
		u.write()
		if u.c == nil || u.c.dead {
			return
		}
	}
	if ev&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		u.peerClosed = true
	}
	if ev&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		u.readable()
	}
}

// failed ends the connection's exchange after the connection failed
// with err: before any of the answer was passed on, the handler's
// Resume goes on from the failed try (its retry policy decides, as for
// any try); in the middle of the answer, the client's answer is cut.
func (u *upConn) failed(err error) {
	c := u.c
	switch {
	case c.x.sent(): // (inBody comes after the answer head is queued)
		c.cut(FlagUC)
	default:
		c.resume(Try{Err: err})
	}
}

// readable reads the answer and passes it on, as long as the client
// takes it.
func (u *upConn) readable() {
	for u.c != nil && !u.done {
		if u.paused {
			return
		}
		if u.buf == nil {
			u.buf, u.n = u.l.getBuf(), 0
		}
		room := len(u.buf) - u.n
		if room == 0 {
			if len(u.buf) >= maxAnswerHead {
				u.c.resume(Try{Err: errAnswerHeadTooLarge})
				return
			}
			// A head larger than the buffer (long cookies, policies):
			// a larger buffer, which is not kept once released.
			u.buf = append(u.buf[:u.n], make([]byte, len(u.buf))...)
			room = len(u.buf) - u.n
		}
		k, errno := rawRead(u.fd, u.buf[u.n:])
		switch {
		case errno == syscall.EAGAIN:
			return
		case errno != 0:
			u.failed(os.NewSyscallError("read", errno))
			return
		case k == 0:
			u.ended()
			return
		}
		u.n += k
		u.c.x.moved = u.l.now
		// A short read emptied the socket; but when the pod closed its
		// side, the end must be read too: no event will say it again.
		if !u.parse() || k < room && !u.peerClosed {
			return
		}
	}
}

// ended: the pod closed the connection.
func (u *upConn) ended() {
	if u.inBody && u.mode == bodyClose { // (close_ is set: frame)
		u.c.x.out.b = append(u.c.x.out.b, "0\r\n\r\n"...)
		u.finished()
		return
	}
	u.failed(io.ErrUnexpectedEOF)
}

// maxAnswerHead bounds the head of a pod's answer read on the loop
// (Envoy's max_response_headers_kb is 60 KiB).
const maxAnswerHead = 64 << 10

// errAnswerHeadTooLarge: the pod's answer head is larger than maxAnswerHead.
var errAnswerHeadTooLarge = errors.New("the answer's head is larger than 64 KiB")

// parse passes on what the buffer holds; false when the exchange ended
// or the connection was handed off.
func (u *upConn) parse() bool {
	c := u.c
	for u.n > 0 {
		if !u.inBody {
			head, ok := u.answerHead()
			switch {
			case !ok || u.done || u.c == nil:
				return false
			case !head:
				return true
			}
			continue
		}
		r := c.x
		switch u.mode {
		case bodyLength:
			k := int(min(int64(u.n), u.left))
			r.out.b = append(r.out.b, u.buf[:k]...)
			u.left -= int64(k)
			u.consume(k)
			if u.left == 0 {
				u.finished()
				return false
			}
		case bodyChunked:
			k, fin, bad := u.ck.feed(u.buf[:u.n])
			r.out.b = append(r.out.b, u.buf[:k]...)
			u.consume(k)
			if bad {
				c.cut(FlagUPE)
				return false
			}
			if fin {
				u.finished()
				return false
			}
		case bodyClose:
			r.out.b = strconv.AppendInt(r.out.b, int64(u.n), 16)
			r.out.b = append(r.out.b, "\r\n"...)
			r.out.b = append(r.out.b, u.buf[:u.n]...)
			r.out.b = append(r.out.b, "\r\n"...)
			u.consume(u.n)
		}
	}
	c.flush()
	if u.c != nil && len(c.x.out.b)-c.x.off > maxPending {
		u.paused = true
	}
	return !c.dead && u.c != nil
}

// answerHead reads the answer's head when the buffer holds it whole
// (head: it did), and reports false when the exchange cannot go on.
func (u *upConn) answerHead() (head, ok bool) {
	n := headEnd(u.buf[:u.n])
	if n < 0 {
		return false, true
	}
	s := string(u.buf[:n])
	u.consume(n)
	h := &u.head
	if u.header == nil {
		u.header = http.Header{}
	}
	if parseResponseHead(s, h) && (bodiless(h.code) || h.contentLength >= 0 || h.chunked) {
		u.header, u.vals = headerOf(h.fields, u.header, u.vals)
		return true, u.start(h.code, u.header, u.frame(h.code, h.contentLength, h.chunked, h.close))
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(s)), &http.Request{Method: http.MethodGet})
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		err = errors.New("101 Switching Protocols to a request without Upgrade")
	}
	if err != nil {
		u.c.resume(Try{Err: err}) // not HTTP/1.x
		return true, false
	}
	if resp.StatusCode < 200 {
		return true, true // informational: skipped, as net/http's Transport does
	}
	length := u.frame(resp.StatusCode, resp.ContentLength, len(resp.TransferEncoding) > 0, resp.Close)
	return true, u.start(resp.StatusCode, resp.Header, length)
}

// frame sets how the answer's body is read from its head (contentLength
// -1: none given) and returns the length start takes: the
// Content-Length, -1 chunked or until the pod closes, -2 no body.
func (u *upConn) frame(code int, contentLength int64, chunked, close bool) int64 {
	u.close_ = close
	switch {
	case bodiless(code):
		u.mode, u.left = bodyNone, 0
		return -2
	case chunked:
		u.mode, u.ck = bodyChunked, chunkScan{}
		return -1
	case contentLength >= 0:
		u.mode, u.left = bodyLength, contentLength
		return contentLength
	}
	u.mode, u.close_ = bodyClose, true
	return -1
}

// start passes on the answer's head (an answer without a body is then
// done); false when the handler declined it.
func (u *upConn) start(code int, pod http.Header, length int64) bool {
	c := u.c
	if !c.answerHead(c.x, code, pod, length) {
		c.resume(Try{Code: code, Header: pod.Clone()})
		return false
	}
	u.inBody = true
	if u.mode == bodyNone || u.mode == bodyLength && u.left == 0 {
		u.finished()
	}
	return true
}

func (u *upConn) consume(k int) {
	u.n = copy(u.buf, u.buf[k:u.n])
}

// finished: the pod's answer is all read.
func (u *upConn) finished() {
	if u.done {
		return
	}
	u.done = true
	c := u.c
	c.complete(c.x)
	c.flush()
}

// reusable: the answer ended where its framing said, the pod did not ask
// to close, nothing came after it.
func (u *upConn) reusable() bool {
	return u.done && !u.close_ && !u.peerClosed && u.n == 0 && u.mode != bodyClose && u.off == len(u.out.b)
}

// reset readies a connection for the pool.
func (u *upConn) reset() {
	if u.buf != nil {
		u.l.putBuf(u.buf)
		u.buf = nil
	}
	clear(u.header)
	clear(u.vals)
	u.vals = u.vals[:0]
	u.out.b, u.off, u.n = u.out.b[:0], 0, 0
	u.inBody, u.mode, u.left, u.close_, u.done, u.paused = false, bodyNone, 0, false, false, false
}

func (u *upConn) close() {
	if u.fd < 0 {
		return
	}
	u.l.forget(u.fd)
	syscall.Close(u.fd)
	u.fd = -1
	if u.buf != nil {
		u.l.putBuf(u.buf)
		u.buf = nil
	}
	u.c = nil
}

// chunkScan follows a chunked body (RFC 9112 7.1) as it streams by, to
// find its end; the bytes are passed on as they are, trailer fields
// among them.
type chunkScan struct {
	state  uint8
	size   int64
	digits int
}

const (
	ckSize      = iota // in the chunk size
	ckExt              // in a chunk extension, until the line ends
	ckData             // in a chunk's data (size bytes left)
	ckDataEnd          // the CRLF after the data
	ckDataLF           // its LF
	ckLineStart        // a trailer line starts (or the empty last line)
	ckLastLF           // the LF of the last line
	ckTrailer          // in a trailer field line
)

// feed scans b: it returns how many bytes belong to the body (all of b
// until its end), whether the body ended, and whether it is malformed.
func (s *chunkScan) feed(b []byte) (n int, done, bad bool) {
	for i := 0; i < len(b); i++ {
		ch := b[i]
		switch s.state {
		case ckSize:
			switch v := unhex(ch); {
			case v >= 0:
				s.size = s.size<<4 | int64(v)
				s.digits++
				if s.digits > 15 {
					return i, false, true
				}
			case s.digits == 0:
				return i, false, true
			case ch == ';' || ch == ' ' || ch == '\t' || ch == '\r':
				s.state = ckExt
			case ch == '\n':
				s.endSizeLine()
			default:
				return i, false, true
			}
		case ckExt:
			if ch == '\n' {
				s.endSizeLine()
			}
		case ckData:
			k := int(min(int64(len(b)-i), s.size))
			s.size -= int64(k)
			i += k - 1
			if s.size == 0 {
				s.state = ckDataEnd
			}
		case ckDataEnd:
			switch ch {
			case '\r':
				s.state = ckDataLF
			case '\n':
				s.state, s.digits = ckSize, 0
			default:
				return i, false, true
			}
		case ckDataLF:
			if ch != '\n' {
				return i, false, true
			}
			s.state, s.digits = ckSize, 0
		case ckLineStart:
			switch ch {
			case '\r':
				s.state = ckLastLF
			case '\n':
				return i + 1, true, false
			default:
				s.state = ckTrailer
			}
		case ckLastLF:
			if ch != '\n' {
				return i, false, true
			}
			return i + 1, true, false
		case ckTrailer:
			if ch == '\n' {
				s.state = ckLineStart
			}
		}
	}
	return len(b), false, false
}

func (s *chunkScan) endSizeLine() {
	if s.size == 0 {
		s.state = ckLineStart
		return
	}
	s.state = ckData
}

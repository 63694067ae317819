//go:build linux

package dataplane

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// sockIO reads and writes a proxied TCP connection with raw system calls
// on its non-blocking socket, waiting in the runtime's network poller
// only when the socket has nothing to read or no room to write
// (syscall.RawConn). A raw call skips the runtime's syscall bookkeeping,
// and with it the wake-up of the runtime's monitor thread: at a few
// hundred requests a second the process falls idle between requests, the
// monitor goes to sleep, and every request's first ordinary system call
// woke it again, a thread wake-up on the request's path and a thread
// competing for the CPU with the pods. Reads and writes of a non-blocking
// socket never block, so holding the processor through one is safe.
//
// A write that finds the socket full moves the write deadline to
// writeIdle ahead before it waits, and clears it once done: a peer that
// stops reading for writeIdle fails the write (Envoy's stream idle
// timeout), and writes that do not wait cost no timer.
type sockIO struct {
	c         net.Conn
	rc        syscall.RawConn
	buf       []byte
	n         int
	errno     syscall.Errno
	writeIdle time.Duration
	waited    bool // a write set the write deadline
	// awaitAnswer makes the next Write wait, once all of it is written,
	// until the socket has something to read (see writeAwait); wrote
	// says that writeAwaitFn wrote it all.
	awaitAnswer bool
	wrote       bool
	readFn      func(fd uintptr) bool
	writeFn     func(fd uintptr) bool
	peekFn      func(fd uintptr) bool
	awaitFn     func(fd uintptr) bool
}

// newSockIO returns c's reader-writer: a sockIO for a TCP connection, c
// itself for anything else.
func newSockIO(c net.Conn, writeIdle time.Duration) io.ReadWriter {
	rw, _ := new(sockIO).reset(c, writeIdle)
	return rw
}

// reset readies s for c (nil: drops the connection) and returns c's
// reader-writer: s for a TCP connection, c itself for anything else. It
// reports whether s is used, and so waitReadable works.
func (s *sockIO) reset(c net.Conn, writeIdle time.Duration) (io.ReadWriter, bool) {
	s.c, s.rc, s.buf, s.writeIdle, s.waited, s.awaitAnswer = nil, nil, nil, writeIdle, false, false
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c, false
	}
	s.c, s.rc = c, rc
	if s.readFn == nil {
		s.readFn, s.writeFn, s.peekFn, s.awaitFn = s.read, s.write, s.peek, s.writeThenAwait
	}
	return s, true
}

func (s *sockIO) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(s.buf))), uintptr(len(s.buf)))
		switch e {
		case 0:
			s.n = int(n)
			return true
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			s.errno = e
			return true
		}
	}
}

func (s *sockIO) write(fd uintptr) bool {
	for s.n < len(s.buf) {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.buf[s.n])), uintptr(len(s.buf)-s.n))
		switch e {
		case 0:
			s.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			if s.writeIdle > 0 {
				_ = s.c.SetWriteDeadline(time.Now().Add(s.writeIdle))
				s.waited = true
			}
			return false
		default:
			s.errno = e
			return true
		}
	}
	return true
}

// peek reports whether the socket has bytes to read, an end or an error
// (MSG_PEEK: nothing is consumed).
func (s *sockIO) peek(fd uintptr) bool { return peekFD(int(fd)) }

// waitReadable waits, holding no buffer, until the socket has bytes to
// read (or an end or error to report), or the read deadline passes.
func (s *sockIO) waitReadable() error {
	return s.rc.Read(s.peekFn)
}

func (s *sockIO) Read(p []byte) (int, error) {
	n, err := s.do("read", s.rc.Read, s.readFn, p)
	if err == nil && n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, err
}

func (s *sockIO) Write(p []byte) (int, error) {
	if s.awaitAnswer {
		s.awaitAnswer = false
		n, err := s.writeAwait(p)
		if err != nil || n == len(p) {
			return n, err
		}
		m, err := s.Write(p[n:])
		return n + m, err
	}
	n, err := s.do("write", s.rc.Write, s.writeFn, p)
	if s.waited {
		s.waited = false
		_ = s.c.SetWriteDeadline(time.Time{})
	}
	return n, err
}

// writeAwait writes a request whose answer is read next, and waits until
// the answer starts to arrive: the write and the wait run in one
// rc.Read, whose readiness reset comes before the write, so the answer's
// arrival cannot be missed; and the read that follows finds bytes at
// once. Reading first, as rc.Read does, would cost a system call that
// fails with EAGAIN on every request (the answer cannot be there yet).
// When the socket has no room for all of p, it returns what it wrote
// (the caller writes the rest the ordinary way) without waiting. The
// wait's own outcome (the read deadline, a close) is not reported: the
// read that follows reports it.
func (s *sockIO) writeAwait(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.buf, s.n, s.errno, s.wrote = p, 0, 0, false
	err := s.rc.Read(s.awaitFn)
	n, errno, wrote := s.n, s.errno, s.wrote
	s.buf, s.wrote = nil, false
	switch {
	case errno != 0:
		return n, s.opError("write", errno)
	case wrote:
		return n, nil
	}
	return n, err // nothing waited for: rc.Read failed before or while writing
}

// writeThenAwait is writeAwait's raw call: the first call writes (true,
// ending the call, when the socket is full or fails), the next one comes
// once the socket is readable.
func (s *sockIO) writeThenAwait(fd uintptr) bool {
	if s.wrote {
		return true
	}
	for s.n < len(s.buf) {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.buf[s.n])), uintptr(len(s.buf)-s.n))
		switch e {
		case 0:
			s.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return true
		default:
			s.errno = e
			return true
		}
	}
	s.wrote = true
	return false
}

// expectAnswer makes the next Write a writeAwait (until then, or
// clearAnswer).
func (s *sockIO) expectAnswer() { s.awaitAnswer = true }

func (s *sockIO) clearAnswer() { s.awaitAnswer = false }

// do runs the raw call fn on p through the RawConn's wait (rc.Read or
// rc.Write) and returns what it moved and the error net.Conn would.
func (s *sockIO) do(op string, wait func(func(uintptr) bool) error, fn func(uintptr) bool, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.buf, s.n, s.errno = p, 0, 0
	err := wait(fn)
	n, errno := s.n, s.errno
	s.buf = nil
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, s.opError(op, errno)
	}
	return n, nil
}

// opError is the error net.Conn would return for errno.
func (s *sockIO) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: s.c.LocalAddr(), Addr: s.c.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}

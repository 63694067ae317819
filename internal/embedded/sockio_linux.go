//go:build linux

package embedded

import (
	"io"
	"net"
	"os"
	"syscall"
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
type sockIO struct {
	c       net.Conn
	rc      syscall.RawConn
	buf     []byte
	n       int
	errno   syscall.Errno
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
}

// newSockIO returns c's reader-writer: a sockIO for a TCP connection, c
// itself for anything else.
func newSockIO(c net.Conn) io.ReadWriter {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	s := &sockIO{c: c, rc: rc}
	s.readFn, s.writeFn = s.read, s.write
	return s
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
			return false
		default:
			s.errno = e
			return true
		}
	}
	return true
}

func (s *sockIO) Read(p []byte) (int, error) {
	n, err := s.do("read", s.rc.Read, s.readFn, p)
	if err == nil && n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, err
}

func (s *sockIO) Write(p []byte) (int, error) {
	return s.do("write", s.rc.Write, s.writeFn, p)
}

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

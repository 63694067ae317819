//go:build linux

package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// side is one socket of a forwarded pair in the epoll loop.
type side struct {
	fd, peer int
	client   bool // the client's socket (else the upstream's)
	buf      []byte
	n        int
}

func serveEpoll(ln net.Listener, upstream string) error {
	lf, err := ln.(*net.TCPListener).File() // a blocking duplicate
	if err != nil {
		return err
	}
	lfd := int(lf.Fd())
	if err := syscall.SetNonblock(lfd, true); err != nil {
		return err
	}
	ua, err := net.ResolveTCPAddr("tcp", upstream)
	if err != nil || ua.IP.To4() == nil {
		return fmt.Errorf("-upstream %q: want an IPv4 host:port", upstream)
	}
	sa := &syscall.SockaddrInet4{Port: ua.Port}
	copy(sa.Addr[:], ua.IP.To4())
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, lfd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(lfd)}); err != nil {
		return err
	}
	// The loop holds lf: its finalizer would close lfd once unreachable.
	// (lf.Fd is not called again: it puts the socket in blocking mode.)
	l := &loop{ep: ep, sides: map[int]*side{}, upstream: sa, listener: lf}
	evs := make([]syscall.EpollEvent, 128)
	for {
		n, errno := rawEpollWait(ep, evs)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return errno
		}
		for _, ev := range evs[:n] {
			if int(ev.Fd) == lfd {
				l.accept(lfd)
				continue
			}
			if s := l.sides[int(ev.Fd)]; s != nil {
				l.readable(s)
			}
		}
	}
}

type loop struct {
	ep       int
	sides    map[int]*side
	upstream *syscall.SockaddrInet4
	listener *os.File
}

func (l *loop) accept(lfd int) {
	for {
		cfd, _, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN: none left
		}
		ufd, err := dialBlocking(l.upstream)
		if err != nil {
			syscall.Close(cfd)
			continue
		}
		_ = syscall.SetsockoptInt(cfd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		l.add(&side{fd: cfd, peer: ufd, client: true, buf: make([]byte, 16<<10)})
		l.add(&side{fd: ufd, peer: cfd, buf: make([]byte, 16<<10)})
	}
}

// dialBlocking connects to the upstream (once per client connection, so
// a blocking connect keeps the loop simple) and makes the socket
// non-blocking.
func dialBlocking(sa *syscall.SockaddrInet4) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

func (l *loop) add(s *side) {
	l.sides[s.fd] = s
	_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, s.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(s.fd)})
}

// readable reads what s has; a whole request (or answer) is written to
// the peer in one call (the bench's messages are far smaller than a
// socket buffer, so a short write ends the pair like an error).
func (l *loop) readable(s *side) {
	k, errno := rawIO(syscall.SYS_READ, s.fd, s.buf[s.n:])
	if errno == syscall.EAGAIN || errno == syscall.EINTR {
		return
	}
	if errno != 0 || k <= 0 {
		l.closePair(s)
		return
	}
	s.n += k
	var ready bool
	if s.client {
		ready = bytes.Contains(s.buf[:s.n], headEnd)
	} else {
		ready = answerLen(s.buf[:s.n]) > 0
	}
	if !ready {
		if s.n == len(s.buf) {
			l.closePair(s)
		}
		return
	}
	w, errno := rawIO(syscall.SYS_WRITE, s.peer, s.buf[:s.n])
	if errno != 0 || w != s.n {
		l.closePair(s)
		return
	}
	s.n = 0
}

// The loop's system calls are raw: no runtime bookkeeping around them.
// Through the runtime's syscall path (syscall.EpollWait), a wait that
// blocks hands the loop's processor to another thread and takes it back
// when the loop wakes: at 1000 requests a second that was 6 context
// switches and 88 µs of CPU per request. Holding the processor while
// blocked in epoll_wait is what an event loop's thread is for; the
// runtime's preemption signal (a collection's stop-the-world) interrupts
// the wait with EINTR, and the loop then reaches a safe point at once.
func rawEpollWait(ep int, evs []syscall.EpollEvent) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), ^uintptr(0), 0, 0)
	return int(n), e
}

// rawIO reads or writes b on a non-blocking socket.
func rawIO(trap uintptr, fd int, b []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	return int(n), e
}

func (l *loop) closePair(s *side) {
	for _, fd := range []int{s.fd, s.peer} {
		delete(l.sides, fd)
		_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, fd, nil)
		syscall.Close(fd)
	}
}

//go:build linux

package dataplane

import (
	"net"
	"syscall"
	"unsafe"
)

// peerClosed reports whether an idle connection has something to read -
// its end, an error, or bytes nobody asked for - so that it cannot carry
// a new request (MSG_PEEK: nothing is consumed, and the call does not
// wait).
func peerClosed(c net.Conn) bool {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	readable := false
	_ = rc.Control(func(fd uintptr) { readable = peekFD(int(fd)) })
	return readable
}

// peekFD reports whether a socket has bytes to read, an end or an error
// (MSG_PEEK: nothing is consumed; MSG_DONTWAIT: it does not wait).
func peekFD(fd int) bool {
	var b [1]byte
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		if e != syscall.EINTR {
			return e != syscall.EAGAIN
		}
	}
}

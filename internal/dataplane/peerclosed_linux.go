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
	_ = rc.Control(func(fd uintptr) {
		var b [1]byte
		for {
			_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
			if e != syscall.EINTR {
				readable = e != syscall.EAGAIN
				return
			}
		}
	})
	return readable
}

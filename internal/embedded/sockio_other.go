//go:build !linux

package embedded

import (
	"io"
	"net"
)

// newSockIO returns c: raw socket calls (sockio_linux.go) are used on
// Linux only.
func newSockIO(c net.Conn) io.ReadWriter { return c }

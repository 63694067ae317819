//go:build !linux

package dataplane

import (
	"errors"
	"io"
	"net"
	"time"
)

// sockIO is unused: raw socket calls (sockio_linux.go) are used on Linux
// only. Elsewhere the write idle timeout is not applied and idle
// connections keep their buffers.
type sockIO struct{}

// newSockIO returns c.
func newSockIO(c net.Conn, _ time.Duration) io.ReadWriter { return c }

// reset returns c and false: waitReadable does not work.
func (s *sockIO) reset(c net.Conn, _ time.Duration) (io.ReadWriter, bool) {
	if c == nil {
		return nil, false
	}
	return c, false
}

// expectAnswer and clearAnswer do nothing: writes do not wait for the
// answer here.
func (s *sockIO) expectAnswer() {}

func (s *sockIO) clearAnswer() {}

func (s *sockIO) waitReadable() error {
	return errors.New("waiting without a buffer is not supported on this system")
}

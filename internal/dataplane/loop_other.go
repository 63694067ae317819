//go:build !linux

package dataplane

import "net"

// The event loop is Linux's (loop_linux.go); elsewhere every listener is
// served the goroutine way.

type loopListener struct{}

func (*loopListener) close() {}

func loopable(net.Listener) bool { return false }

func (s *Server) serveLoop() bool { return false }

func loopDropIdle(string) {}

func loopIdleConns(string) int { return 0 }

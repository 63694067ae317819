//go:build !linux

package main

import (
	"errors"
	"net"
)

// serveEpoll is Linux's (epoll_linux.go).
func serveEpoll(net.Listener, string) error { return errors.New("-mode epoll needs Linux") }

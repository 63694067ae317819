package sample

import (
	"context"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
)

// A sample host serves every built-in replica of `graylane up` in one
// process. When a replica stalls under load (a busy machine, a paused
// process), the proxies in front of it open a connection per waiting
// request: a 2 s stall at 500 req/s left 2,500 connections to the sample
// host and its resident size at 166 MB, and after the proxies closed them
// the process still held 142 MB, since an idle Go process collects no
// garbage and returns no memory for minutes. So, as internal/dataplane's
// memRelief does for the proxy listeners, the connections of every sample
// server in the process are counted, and those its replicas open for their
// outbound calls, and once a burst is over - at least
// releaseConns fewer connections than at the peak, and half of it at most -
// the heap is collected and returned to the system (debug.FreeOSMemory),
// in the background.

// releaseConns is how far the connections must have fallen from their
// peak before memory is given back (each costs the server tens of KiB:
// buffers and its goroutine's stack, and the answer's outbound calls
// theirs). Low, because a burst often ends in steps (the proxies close
// their idle connections in sweeps of 30 s) and each step must be able
// to release; a release costs one garbage collection.
const releaseConns = 64

// hostConns follows the connections of this process: connStateHook is
// each sample server's http.Server.ConnState (a test replaces it before it
// starts a server), and each replica's outbound transport dials through
// hostConns.dial.
var (
	hostConns     connRelief
	connStateHook = hostConns.connState
)

// connRelief counts open connections and gives memory back after a burst.
// The zero value counts from zero and releases with debug.FreeOSMemory.
type connRelief struct {
	mu        sync.Mutex
	n, peak   int
	releasing bool
	release   func() // nil: debug.FreeOSMemory
	released  func() // nil: nothing; tests wait on it
}

// connState is an http.Server.ConnState hook.
func (m *connRelief) connState(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		m.add(1)
	case http.StateClosed, http.StateHijacked:
		m.add(-1)
	}
}

// dial wraps a transport's DialContext: each connection it opens counts
// until it is closed.
func (m *connRelief) dial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		m.add(1)
		return &countedConn{Conn: c, relief: m}, nil
	}
}

// countedConn is an outbound connection that leaves the count when closed.
type countedConn struct {
	net.Conn
	relief *connRelief
	once   sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.relief.add(-1) })
	return c.Conn.Close()
}

func (m *connRelief) add(delta int) {
	m.mu.Lock()
	m.n += delta
	m.peak = max(m.peak, m.n)
	start := delta < 0 && !m.releasing && m.peak-m.n >= releaseConns && m.n <= m.peak/2
	m.releasing = m.releasing || start
	release, released := m.release, m.released
	m.mu.Unlock()
	if !start {
		return
	}
	if release == nil {
		release = debug.FreeOSMemory
	}
	go func() {
		release()
		m.mu.Lock()
		m.peak, m.releasing = m.n, false
		m.mu.Unlock()
		if released != nil {
			released()
		}
	}()
}

// Package dataplane is Graylane's HTTP/1.1 data plane: the connection
// server of the proxy listeners (sidecars, gateways), the parsing of
// request and response heads, request framing and bodies, the socket I/O,
// and the keep-alive pool of connections to the pods. It decides nothing
// about routing: the handler given to Proxy.Serve does (in the local
// runtime, internal/embedded's forward), and sends requests on with
// Proxy.RoundTrip.
//
// On Linux with two processors or more, a handler that is a FastHandler
// has its plain requests (a GET without a body) forwarded on the
// process's event loop (loop_linux.go), with its decision and no
// goroutine switch; every other connection is served by a goroutine of
// its own (connserver.go). Forward, Answer and Done run on the loop's
// thread: they must not block or take contended locks, and what they
// cost is added to every loop request's.
//
// The package has one piece of package-level mutable state: the
// process's event loop (theLoop, loop_linux.go), shared by every Proxy,
// with its pool of connections to pods (Proxy.DropIdle and IdleConns
// reach it too). Everything else a proxy shares between its listeners
// lives in a Proxy. What is package-level is
// read only (defaults, error values answered as they are) or a sync.Pool
// (downConns: per-connection state, reused across every Proxy of the
// process, which is safe as a pooled value holds nothing of its last
// connection).
//
// # Cost contract of the hot path
//
// A request on a kept-alive connection costs, on the proxy's side, the
// system calls to read the request and write the answer, the handler,
// and no allocation of the data plane's own (heads are parsed into
// objects the connection reuses). What is called per request, and how:
//
//   - the handler's ServeHTTP runs on the connection's goroutine, once per
//     request, one request at a time per connection; while it runs
//     nothing reads the connection (a CloseWatch notices a client that
//     leaves). It may block (it waits for the pod), but everything it
//     does before the answer is added latency: route decisions and
//     metrics must not allocate or take contended locks per request;
//   - Hooks.Reject runs on the connection's goroutine, at most once per
//     connection; Hooks.Overflow on the accept goroutine, once per
//     connection refused. Neither may block;
//   - RoundTrip runs on the caller's goroutine: it takes an idle
//     connection from the pool (one mutex, a map lookup by address),
//     writes the request, reads the answer's head; Release gives the
//     connection back (the same mutex). A connection idle for
//     staleCheckAfter or more costs one more system call (peerClosed)
//     before reuse.
package dataplane

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
)

// Proxy holds what a process's proxy listeners share: the free list of
// connection buffers, the memory relief that gives memory back after a
// burst, and the pool of connections to the pods.
//
// The zero value is ready to use: no listener, no idle upstream
// connection, an empty buffer list. A Proxy must not be copied after
// first use. All methods are safe for concurrent use.
type Proxy struct {
	states statePool
	mem    memRelief
	up     upstreams
	noLoop atomic.Bool
}

// UseEventLoop says whether the listeners served from now on may use the
// event loop (the default, where the platform, the handler and the
// processors allow: see FastHandler); false serves every connection on
// a goroutine of its own.
func (p *Proxy) UseEventLoop(on bool) { p.noLoop.Store(!on) }

// Serve serves the proxy listener ln on its own goroutine until the
// returned Server is closed: each request is read under lim (nil: the
// defaults of the zero EdgeOptions) and handed to h, whose
// http.ResponseWriter is also a ResponseWriter. hooks count what the
// server refuses on its own. See the package documentation for the cost
// contract of h and hooks.
func (p *Proxy) Serve(ln net.Listener, h http.Handler, lim *Limits, hooks Hooks) *Server {
	if lim == nil {
		lim = defaultEdgeLimits
	}
	s := &Server{p: p, ln: ln, h: h, lim: lim, hooks: hooks, conns: map[net.Conn]struct{}{}}
	if fh, ok := h.(FastHandler); ok && !p.noLoop.Load() && loopable(ln) {
		s.fh = fh
		if s.serveLoop() {
			return s
		}
		s.fh = nil
	}
	go s.serve()
	return s
}

// RoundTrip sends req to the pod at addr, on an idle pooled connection
// when there is one, else a new one. The returned response and
// connection belong together: read the body, then hand the connection
// back with Release (or Discard), after which the response must not be
// used. ctx aborts the exchange; req.Watch, when set, cancels it when
// the client goes away (then the error is ErrDownstreamGone). A
// connection that cannot be made is a *ConnectError; a body the client
// fails to send is a *DownstreamError.
func (p *Proxy) RoundTrip(ctx context.Context, addr string, req *Request) (*http.Response, *UpstreamConn, error) {
	return p.up.roundTrip(ctx, addr, req)
}

// Release returns the connection of a RoundTrip: kept for the next
// request to its address when reusable (its response was read to its end
// and did not ask to close) and the pool has room, closed otherwise.
func (p *Proxy) Release(c *UpstreamConn, reusable bool) { p.up.release(c, reusable) }

// DropIdle closes the idle connections to addr: its pod's process ended,
// and a connection to it must not be used for the next one. The event
// loop's pool (the process's) drops them soon after.
func (p *Proxy) DropIdle(addr string) {
	p.up.dropIdle(addr)
	loopDropIdle(addr)
}

// CloseIdle closes every idle upstream connection.
func (p *Proxy) CloseIdle() { p.up.closeAll() }

// IdleConns is how many idle connections to addr the pools keep (this
// Proxy's, and the event loop's, which every Proxy of the process
// shares).
func (p *Proxy) IdleConns(addr string) int {
	p.up.mu.Lock()
	n := len(p.up.idle[addr])
	p.up.mu.Unlock()
	return n + loopIdleConns(addr)
}

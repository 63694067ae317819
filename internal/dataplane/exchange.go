package dataplane

import (
	"net/http"
	"time"
)

// FastHandler is a handler whose plain requests a Server can forward on
// its event loop (loop_linux.go), without a goroutine: an HTTP/1.1 GET
// without a body, whose head the simple parser reads within the limits.
// Everything else, and every request Forward declines, goes to
// ServeHTTP on a goroutine of the connection's own, as with a plain
// http.Handler.
//
// Forward, Answer and Done run on the loop's thread: none may block, and
// what they cost is every loop request's latency.
type FastHandler interface {
	http.Handler
	// Forward decides where x.Req goes: it sets x.Addr (an IP:port) and
	// x.Out and returns true, or returns false, leaving nothing of its
	// decision behind, to have the request served by ServeHTTP (which
	// decides again). A request it takes is answered on the loop, and
	// Done is called once it ends; or, when its first try fails or gets
	// an answer Answer declines, Resume is called on a goroutine.
	Forward(x *Exchange) bool
	// Answer makes the answer's header from x.Header, where Forward may
	// have set fields, and pod, the pod's answer's fields (the loop's:
	// Answer may edit it, and return it as the answer's header). Its
	// framing fields are ignored: the loop frames the answer as the
	// pod's was. ok false declines the answer (its route retries it):
	// nothing of it is passed on, and Resume is called.
	Answer(x *Exchange, code int, pod http.Header) (h http.Header, ok bool)
	// Done ends an exchange Forward took: code is the status answered
	// (0: none, the client went away), flags Envoy's response flags. It
	// reports whether the pod's connection may be kept for the next
	// request (when the exchange left it reusable).
	Done(x *Exchange, code int, flags string) bool
	// Resume serves the rest of an exchange whose first try, to x.Addr,
	// failed (try.Err: a *ConnectError, or what broke the connection
	// before the answer) or was declined by Answer (try.Code,
	// try.Header), on a goroutine of the connection's own: w answers the
	// client (it is a ResponseWriter), and nothing has been answered
	// yet. The connection stays on that goroutine for the rest of its
	// life.
	Resume(x *Exchange, w http.ResponseWriter, try Try)
}

// Try is how an exchange's first try on the event loop ended, when it
// did not end the exchange (see FastHandler.Resume).
type Try struct {
	Err    error       // the try failed; else the answer was declined
	Code   int         // the declined answer's status
	Header http.Header // and its header fields
}

// Exchange is a request the event loop forwards, with what Forward
// decided. The loop reuses exchanges from one free list for every
// server of the process: State is kept across them, so it may hold what
// another handler's exchange left.
type Exchange struct {
	// Req is the request: a GET without a body. The proxy owns its
	// header, which Forward may edit (it may be x.Out.Header).
	Req *http.Request
	// Target is the request's path and query as Req.URL.RequestURI()
	// gives them.
	Target string
	// Start is when the request's head was read whole.
	Start time.Time
	// Header is the answer's header, empty when Forward is called.
	Header http.Header
	// Limits are the listener's.
	Limits *Limits
	// Set by Forward: the pod's address and the request sent to it (its
	// Body, replay, timeouts, deadlines and Watch are not used).
	Addr string
	Out  Request
	// State is the handler's own, kept when the exchange is reused (by
	// any server of the process: check its type).
	State any
}

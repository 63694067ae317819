package dataplane

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// EdgeOptions bound what a client can make a proxy listener (a gateway,
// a sidecar, the client proxy) hold, as Envoy's HTTP connection manager
// and nginx do at the edge. The zero value of every field means its
// default (below); a negative duration, body size or connection count
// turns that bound off. docs/up.md lists the answers each bound gives.
type EdgeOptions struct {
	// MaxRequestHeadersBytes bounds a request head: the request line and
	// every header field line with their line ends (default 60 KiB,
	// Envoy's max_request_headers_kb; at most 8 MiB). Over it: 431.
	MaxRequestHeadersBytes int
	// MaxHeadersCount bounds the header field lines of a request (default
	// 100, Envoy's max_headers_count). Over it: 431.
	MaxHeadersCount int
	// MaxRequestLineBytes bounds the request line, and with it the request
	// target (default 16 KiB). Over it: 414.
	MaxRequestLineBytes int
	// MaxHeaderFieldBytes bounds one header field line (default 16 KiB).
	// Over it: 431.
	MaxHeaderFieldBytes int
	// MaxRequestBodyBytes bounds a request body (default 1 GiB): a larger
	// Content-Length is answered 413 at once, a chunked body that grows
	// past it is cut with 413. Negative: no bound.
	MaxRequestBodyBytes int64
	// RequestHeadersTimeout is how long a request head may take to
	// arrive once its first byte has (default 30 s; Envoy's
	// request_headers_timeout, nginx's client_header_timeout). Then: 408.
	RequestHeadersTimeout time.Duration
	// StreamIdleTimeout is how long a request may go without any bytes
	// moving (default 5 min, Envoy's stream_idle_timeout): a body the
	// client stops sending is answered 408, an upstream that does not
	// answer 504, a client or upstream that stops reading is cut.
	StreamIdleTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends no request
	// (default 90 s).
	IdleTimeout time.Duration
	// MaxConnections bounds the connections a listener serves at once
	// (default 10000); one more is closed as soon as it is accepted.
	MaxConnections int
}

// Defaults of EdgeOptions.
const (
	DefaultMaxRequestHeadersBytes = 60 << 10
	DefaultMaxHeadersCount        = 100
	DefaultMaxRequestLineBytes    = 16 << 10
	DefaultMaxHeaderFieldBytes    = 16 << 10
	DefaultMaxRequestBodyBytes    = 1 << 30
	DefaultRequestHeadersTimeout  = 30 * time.Second
	DefaultStreamIdleTimeout      = 5 * time.Minute
	DefaultIdleTimeout            = 90 * time.Second
	DefaultMaxConnections         = 10000

	// maxHeadLimit is the largest MaxRequestHeadersBytes (Envoy's bound
	// too): a head is held in memory whole while it is parsed.
	maxHeadLimit = 8 << 20
)

// Limits are EdgeOptions with the defaults applied: for the
// durations, body size and connection count 0 means no bound.
type Limits struct {
	maxHead, maxFields, maxLine, maxField int
	maxBody                               int64 // <0: none
	headersTimeout, streamIdle, idle      time.Duration
	maxConns                              int
}

// Limits checks o and applies the defaults.
func (o EdgeOptions) Limits() (*Limits, error) {
	l := &Limits{}
	var errs []error
	size := func(name string, v, def, most int) int {
		switch {
		case v == 0:
			return def
		case v < 0 || v > most:
			errs = append(errs, fmt.Errorf("%s %d: must be between 1 and %d", name, v, most))
		}
		return v
	}
	l.maxHead = size("MaxRequestHeadersBytes", o.MaxRequestHeadersBytes, DefaultMaxRequestHeadersBytes, maxHeadLimit)
	l.maxFields = size("MaxHeadersCount", o.MaxHeadersCount, DefaultMaxHeadersCount, 1<<20)
	l.maxLine = size("MaxRequestLineBytes", o.MaxRequestLineBytes, DefaultMaxRequestLineBytes, maxHeadLimit)
	l.maxField = size("MaxHeaderFieldBytes", o.MaxHeaderFieldBytes, DefaultMaxHeaderFieldBytes, maxHeadLimit)
	dur := func(v, def time.Duration) time.Duration {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0
		}
		return v
	}
	l.headersTimeout = dur(o.RequestHeadersTimeout, DefaultRequestHeadersTimeout)
	l.streamIdle = dur(o.StreamIdleTimeout, DefaultStreamIdleTimeout)
	l.idle = dur(o.IdleTimeout, DefaultIdleTimeout)
	switch {
	case o.MaxRequestBodyBytes == 0:
		l.maxBody = DefaultMaxRequestBodyBytes
	case o.MaxRequestBodyBytes < 0:
		l.maxBody = -1
	default:
		l.maxBody = o.MaxRequestBodyBytes
	}
	switch {
	case o.MaxConnections == 0:
		l.maxConns = DefaultMaxConnections
	case o.MaxConnections > 0:
		l.maxConns = o.MaxConnections
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("edge options: %w", err)
	}
	return l, nil
}

// defaultEdgeLimits are the limits of the zero EdgeOptions. Read only.
var defaultEdgeLimits, _ = EdgeOptions{}.Limits()

// DefaultLimits are the limits of the zero EdgeOptions. Read only.
func DefaultLimits() *Limits { return defaultEdgeLimits }

// StreamIdle is the stream idle timeout (0: none).
func (l *Limits) StreamIdle() time.Duration { return l.streamIdle }

// headDeadline is how long the rest of a head may take once it started:
// the headers timeout, else the stream idle timeout, else none (0).
func (l *Limits) headDeadline() time.Duration {
	if l.headersTimeout > 0 {
		return l.headersTimeout
	}
	return l.streamIdle
}

// Response flags, as Envoy and Istio's metrics spell them.
const (
	FlagDPE = "DPE" // downstream protocol error: the request was malformed or over a limit
	FlagSI  = "SI"  // stream idle timeout
	FlagDC  = "DC"  // downstream connection termination
	FlagUC  = "UC"  // upstream connection termination (in the middle of the answer)
	FlagUPE = "UPE" // upstream protocol error (a malformed answer body)
)

// DownstreamError is a failure of the client, not of the destination:
// its request could not be read (malformed, over a limit), it went away,
// or it stopped sending. The body readers return it, so that the proxy
// can tell it from an upstream failure: it answers status when the
// answer has not started (0: the client is gone, no answer), closes both
// connections and counts the request with flags and no destination.
type DownstreamError struct {
	Status int    // the answer's status; 0: none (the client is gone)
	Flags  string // Envoy's response flags (FlagDPE, FlagSI, FlagDC)
	Msg    string // for the answer's body and X-Graylane-Reason
	err    error  // the underlying error, if any
}

func (e *DownstreamError) Error() string {
	if e.err != nil {
		return "downstream: " + e.Msg + ": " + e.err.Error()
	}
	return "downstream: " + e.Msg
}

func (e *DownstreamError) Unwrap() error { return e.err }

// badRequest is a DownstreamError answered 400 (DPE).
func badRequest(msg string) *DownstreamError {
	return &DownstreamError{Status: http.StatusBadRequest, Flags: FlagDPE, Msg: msg}
}

// ErrDownstreamGone (read only): the client closed its connection while the proxy
// waited for the destination's answer; the upstream request was
// cancelled.
var ErrDownstreamGone = &DownstreamError{Flags: FlagDC, Msg: "the client closed the connection before the answer"}

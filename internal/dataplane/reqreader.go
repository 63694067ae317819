package dataplane

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// reqReader reads the requests of one connection. The head is read under
// the listener's Limits (headScan), then parsed: simple heads (see
// httphead.go) into objects reused from one request to the next; the
// rest by scanRawHead for the framing and net/http for the other details,
// from the head's bytes alone. Both paths decide the framing with
// decideFraming and read bodies with the strict readers of body.go. A
// request and its header are valid until the next call to next.
type reqReader struct {
	// base is the connection's reader; br is the one in use: a larger
	// one while a head that does not fit base's buffer is read (grow),
	// until it has nothing buffered any more (shrink).
	base, br *bufio.Reader
	d        *downConn
	scan     headScan
	// headStart is when a head that did not arrive whole started (zero
	// when it came in one piece).
	headStart time.Time
	head      requestHead
	raw       rawHead
	req       http.Request
	header    http.Header
	vals      []string
	body      clBody
	chunked   chunkedBody
	// origin is the fast path's origin-form target ("" after the slow
	// path: the request's URL says).
	origin string
}

func (r *reqReader) attach(d *downConn, br *bufio.Reader) { r.d, r.base, r.br = d, br, br }

// clear drops every reference to the connection and its requests.
func (r *reqReader) clear() {
	r.req, r.head, r.raw, r.body, r.chunked = http.Request{}, requestHead{}, rawHead{}, clBody{}, chunkedBody{}
	clear(r.header)
	clear(r.vals)
	r.d, r.base, r.br, r.origin = nil, nil, nil, ""
}

// shrink goes back to the connection's own reader once the larger one
// has nothing buffered.
func (r *reqReader) shrink() {
	if r.br != r.base && r.br.Buffered() == 0 {
		r.br = r.base
	}
}

// The answers to heads over a limit.
var (
	errRequestLineTooLong = &DownstreamError{Status: http.StatusRequestURITooLong, Flags: FlagDPE, Msg: "request line too long"}
	errFieldTooLarge      = &DownstreamError{Status: http.StatusRequestHeaderFieldsTooLarge, Flags: FlagDPE, Msg: "header field too large"}
	errHeadTooLarge       = &DownstreamError{Status: http.StatusRequestHeaderFieldsTooLarge, Flags: FlagDPE, Msg: "request headers too large"}
	errTooManyFields      = &DownstreamError{Status: http.StatusRequestHeaderFieldsTooLarge, Flags: FlagDPE, Msg: "too many header fields"}
	errHeadTimeout        = &DownstreamError{Status: http.StatusRequestTimeout, Msg: "request header timeout"}
)

// next reads the next request; at least its first byte is buffered.
func (r *reqReader) next() (*http.Request, *DownstreamError) {
	r.scan, r.headStart, r.origin = headScan{}, time.Time{}, ""
	b, _ := r.br.Peek(r.br.Buffered())
	n, derr := r.scan.next(b, r.d.lim)
	if n == 0 && derr == nil {
		n, derr = r.readHead()
	}
	if derr != nil {
		return nil, derr
	}
	b, _ = r.br.Peek(n)
	s := string(b)
	_, _ = r.br.Discard(n)
	if parseRequestHead(s, &r.head) {
		return r.fill()
	}
	return r.slow(s)
}

// readHead waits for the rest of a head that has started, under the
// headers timeout, and returns its length once it is buffered whole.
func (r *reqReader) readHead() (int, *DownstreamError) {
	r.headStart = time.Now()
	var t time.Time
	if dur := r.d.lim.headDeadline(); dur > 0 {
		t = r.headStart.Add(dur)
	}
	r.d.setReadDeadline(t)
	for {
		b, _ := r.br.Peek(r.br.Buffered())
		if len(b) == r.br.Size() {
			if r.br != r.base {
				return 0, errHeadTooLarge // the larger reader holds a whole head and a byte more
			}
			r.grow(b)
			continue
		}
		if _, err := r.br.Peek(len(b) + 1); err != nil {
			if IsTimeout(err) {
				return 0, errHeadTimeout
			}
			return 0, errHeadAbandoned
		}
		b, _ = r.br.Peek(r.br.Buffered())
		if n, derr := r.scan.next(b, r.d.lim); n > 0 || derr != nil {
			return n, derr
		}
	}
}

// grow moves the bytes of a head larger than the connection's buffer
// (b, all of it buffered) to a reader that can hold a head of the
// largest size allowed, which reads on from the connection.
func (r *reqReader) grow(b []byte) {
	prefix := bytes.Clone(b)
	_, _ = r.br.Discard(len(b))
	r.br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(prefix), r.d.rw), max(r.d.lim.maxHead, len(prefix))+1)
}

// fill builds the request from a head the simple parser took.
func (r *reqReader) fill() (*http.Request, *DownstreamError) {
	h := &r.head
	f := h.framing(r.d.lim.maxBody)
	if f.status != 0 {
		return nil, refusal(f)
	}
	r.req, r.vals = h.request(r.header, r.vals, r.d.remoteAddr)
	r.origin = h.origin
	if f.kind == bodyLength {
		r.body = clBody{br: r.br, n: f.length, conn: r.d}
		r.req.Body, r.req.ContentLength = &r.body, f.length
	}
	return &r.req, nil
}

// slow builds the request from any other head.
func (r *reqReader) slow(s string) (*http.Request, *DownstreamError) {
	if derr := scanRawHead(s, &r.raw); derr != nil {
		return nil, derr
	}
	in := framingInput{method: r.raw.method, minor: r.raw.minor, hosts: r.raw.hosts, authority: r.raw.authority,
		contentLength: r.raw.contentLength, transferEncoding: r.raw.transferEnc, maxBody: r.d.lim.maxBody}
	f := decideFraming(&in)
	if f.status != 0 {
		return nil, refusal(f)
	}
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(s)))
	if err != nil {
		return nil, badRequest("malformed request head")
	}
	if err := checkFields(req); err != nil {
		return nil, badRequest(err.Error())
	}
	req.RemoteAddr = r.d.remoteAddr
	req.TransferEncoding = nil
	req.Header.Del("Transfer-Encoding")
	switch f.kind {
	case bodyNone:
		req.Body, req.ContentLength = http.NoBody, 0
	case bodyLength:
		r.body = clBody{br: r.br, n: f.length, conn: r.d}
		req.Body, req.ContentLength = &r.body, f.length
	case bodyChunked:
		r.chunked = chunkedBody{br: r.br, conn: r.d, lim: r.d.lim}
		req.Body, req.ContentLength = &r.chunked, -1
	}
	return req, nil
}

// checkFields refuses what http.ReadRequest lets through and net/http's
// server refuses: invalid field names or values, an invalid Host, a
// protocol other than HTTP/1.x.
func checkFields(req *http.Request) error {
	if req.ProtoMajor != 1 {
		return fmt.Errorf("unsupported protocol %s", req.Proto)
	}
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("invalid header name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("invalid value of header %s", k)
			}
		}
	}
	if !httpguts.ValidHostHeader(req.Host) {
		return fmt.Errorf("invalid Host %q", req.Host)
	}
	return nil
}

// headerOf fills the (cleared) map h from fields; every value gets its own
// full slice of vals, so an append to one never overwrites another.
func headerOf(fields []headField, h http.Header, vals []string) (http.Header, []string) {
	clear(h)
	vals = vals[:0]
	for _, f := range fields {
		if vs, ok := h[f.name]; ok {
			h[f.name] = append(vs, f.value)
			continue
		}
		vals = append(vals, f.value)
		h[f.name] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	return h, vals
}

func refusal(f framing) *DownstreamError {
	return &DownstreamError{Status: f.status, Flags: FlagDPE, Msg: f.reason}
}

// headScan finds the end of a request head while it arrives, checking the
// limits line by line: the request line (414), each field line and their
// count (431), the whole head (431). It remembers where it stopped, so
// that a head arriving in pieces is scanned once. A head ends with an
// empty line; CRLF and bare LF line ends are both found (bare LF heads go
// to net/http, which reads them as nginx does).
type headScan struct {
	off       int // bytes scanned, from the head's start
	lineStart int
	lines     int // complete lines, the request line among them
}

// next scans on in b (the head's bytes from its start, more of them than
// last time) and returns the head's length once it is whole, 0 while it
// is not, or the refusal of a head over a limit.
func (s *headScan) next(b []byte, lim *Limits) (int, *DownstreamError) {
	for {
		j := bytes.IndexByte(b[s.off:], '\n')
		if j < 0 {
			s.off = len(b)
			n := len(b) - s.lineStart
			if n > 0 && b[len(b)-1] == '\r' {
				n--
			}
			if derr := s.lineLimit(n, lim); derr != nil {
				return 0, derr
			}
			if len(b) > lim.maxHead {
				return 0, errHeadTooLarge
			}
			return 0, nil
		}
		end := s.off + j + 1
		n := end - s.lineStart - 1 // without the LF
		if n > 0 && b[end-2] == '\r' {
			n--
		}
		if end > lim.maxHead {
			return 0, errHeadTooLarge
		}
		if n == 0 && s.lines > 0 {
			return end, nil
		}
		if derr := s.lineLimit(n, lim); derr != nil {
			return 0, derr
		}
		s.lines++
		if s.lines-1 > lim.maxFields {
			return 0, errTooManyFields
		}
		s.lineStart, s.off = end, end
	}
}

// lineLimit checks the current line's length n.
func (s *headScan) lineLimit(n int, lim *Limits) *DownstreamError {
	switch {
	case s.lines == 0 && n > lim.maxLine:
		return errRequestLineTooLong
	case s.lines > 0 && n > lim.maxField:
		return errFieldTooLarge
	}
	return nil
}

package dataplane

import (
	"net/http"
	"strings"
)

// A request's framing - where its body ends, and so where the next
// request on the connection starts - is decided by one pure function,
// decideFraming, from the request line and the raw values of the fields
// that carry it, on both parsing paths. An edge that reads the framing one
// way while the pod behind it reads it another is open to request
// smuggling; so the rules are RFC 9112's (§3.2, §6.1-6.3) with Envoy's
// strict choices wherever the RFC leaves one: anything ambiguous is
// refused, never normalised and forwarded.

// bodyKind is how a request's body is delimited.
type bodyKind uint8

const (
	bodyNone    bodyKind = iota // no body
	bodyLength                  // Content-Length bytes
	bodyChunked                 // the chunked transfer coding
)

// framingInput is what a request's framing is decided from: the request
// line's method and version, how many Host fields it has, whether its
// target carries an authority (absolute-form), and the raw values of its
// Content-Length and Transfer-Encoding field lines as received, one entry
// per line.
type framingInput struct {
	method           string
	minor            int // HTTP/1.minor: 0 or 1
	hosts            int
	authority        bool
	contentLength    []string
	transferEncoding []string
	maxBody          int64 // <0: no bound
}

// framing is the decision: the body's kind and length, or the status the
// request is refused with (400, 413, 501) and why.
type framing struct {
	kind   bodyKind
	length int64
	status int
	reason string
}

// maxLengthDigits: a Content-Length of more significant digits than this
// does not fit an int64 and is refused as too large.
const maxLengthDigits = 18

// decideFraming decides a request's framing:
//   - more than one Host field, or an HTTP/1.1 request without Host whose
//     target has no authority: 400;
//   - Transfer-Encoding on HTTP/1.0: 400 (a 1.0 recipient cannot read it);
//   - Transfer-Encoding and Content-Length together: 400 (Envoy's default,
//     allow_chunked_length false), never one of them preferred;
//   - transfer codings whose final one is not chunked, or chunked twice:
//     400; other codings before a final chunked: 501 (not implemented);
//   - Content-Length values (several fields, or a comma-separated list)
//     that are not all the same decimal number: 400;
//   - a length over maxBody, or one too long to represent: 413.
func decideFraming(in *framingInput) framing {
	switch {
	case in.hosts > 1:
		return refuse(http.StatusBadRequest, "more than one Host field")
	case in.hosts == 0 && in.minor >= 1 && !in.authority:
		return refuse(http.StatusBadRequest, "HTTP/1.1 request without a Host field")
	}
	if len(in.transferEncoding) > 0 {
		switch {
		case in.minor == 0:
			return refuse(http.StatusBadRequest, "Transfer-Encoding in an HTTP/1.0 request")
		case len(in.contentLength) > 0:
			return refuse(http.StatusBadRequest, "both Transfer-Encoding and Content-Length")
		}
		return decideCodings(in.transferEncoding)
	}
	if len(in.contentLength) == 0 {
		return framing{kind: bodyNone}
	}
	n, f, ok := contentLength(in.contentLength)
	if !ok {
		return f
	}
	if in.maxBody >= 0 && n > in.maxBody {
		return refuse(http.StatusRequestEntityTooLarge, "request body larger than the limit")
	}
	if n == 0 {
		return framing{kind: bodyNone}
	}
	return framing{kind: bodyLength, length: n}
}

func refuse(status int, reason string) framing { return framing{status: status, reason: reason} }

// decideCodings reads the transfer codings of every Transfer-Encoding
// line in order; chunked must be the last and appear once.
func decideCodings(values []string) framing {
	codings, chunked, other := 0, false, false
	for _, v := range values {
		for v != "" {
			var c string
			c, v, _ = strings.Cut(v, ",")
			c = trimOWS(c)
			if c == "" {
				continue // empty list elements are allowed (RFC 9110 §5.6.1)
			}
			codings++
			switch {
			case chunked:
				return refuse(http.StatusBadRequest, "a transfer coding after chunked")
			case strings.EqualFold(c, "chunked"):
				chunked = true
			default:
				other = true
			}
		}
	}
	switch {
	case codings == 0 || !chunked:
		return refuse(http.StatusBadRequest, "Transfer-Encoding whose final coding is not chunked")
	case other:
		return refuse(http.StatusNotImplemented, "transfer codings other than chunked are not supported")
	}
	return framing{kind: bodyChunked, length: -1}
}

// contentLength reads the Content-Length values: each line a
// comma-separated list of decimal numbers, all of them the same.
func contentLength(values []string) (int64, framing, bool) {
	var n int64 = -1
	for _, v := range values {
		if trimOWS(v) == "" {
			return 0, refuse(http.StatusBadRequest, "empty Content-Length"), false
		}
		for {
			e, rest, more := strings.Cut(v, ",")
			m, f, ok := decimal(trimOWS(e))
			if !ok {
				return 0, f, false
			}
			if n >= 0 && m != n {
				return 0, refuse(http.StatusBadRequest, "differing Content-Length values"), false
			}
			n = m
			if !more {
				break
			}
			v = rest
		}
	}
	return n, framing{}, true
}

// decimal reads 1*DIGIT; leading zeros do not count towards the digits.
func decimal(s string) (int64, framing, bool) {
	if s == "" {
		return 0, refuse(http.StatusBadRequest, "invalid Content-Length"), false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, refuse(http.StatusBadRequest, "invalid Content-Length"), false
		}
	}
	s = strings.TrimLeft(s, "0")
	if len(s) > maxLengthDigits {
		return 0, refuse(http.StatusRequestEntityTooLarge, "Content-Length too large"), false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		n = n*10 + int64(s[i]-'0')
	}
	return n, framing{}, true
}

// trimOWS removes optional white space (SP, HTAB) around s.
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// rawHead is what scanRawHead reads of a head that the simple parser
// did not take: the request line's parts and the raw framing fields.
type rawHead struct {
	method, target string
	minor          int
	hosts          int
	authority      bool
	contentLength  []string
	transferEnc    []string
}

// scanRawHead reads the request line and the field lines of head (a
// whole head, CRLF or bare LF line ends) as RFC 9112 has a server read
// them, for the framing decision: it refuses (400) what a recipient must
// not guess at - a request line that is not three parts, a version other
// than HTTP/1.0 or 1.1, obsolete line folding, a field line without a
// colon or with white space before it - and collects the Host,
// Content-Length and Transfer-Encoding values. Other checks of names,
// values and the target are net/http's.
func scanRawHead(head string, h *rawHead) *DownstreamError {
	*h = rawHead{contentLength: h.contentLength[:0], transferEnc: h.transferEnc[:0]}
	line, rest := nextLine(head)
	method, rest1, ok1 := strings.Cut(line, " ")
	target, version, ok2 := strings.Cut(rest1, " ")
	if !ok1 || !ok2 || method == "" || target == "" {
		return badRequest("malformed request line")
	}
	switch version {
	case "HTTP/1.1":
		h.minor = 1
	case "HTTP/1.0":
	default:
		return badRequest("unsupported protocol version")
	}
	h.method, h.target = method, target
	h.authority = !strings.HasPrefix(target, "/") && target != "*"
	for {
		line, rest = nextLine(rest)
		if line == "" {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return badRequest("obsolete line folding")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !simpleToken(name) {
			return badRequest("malformed header field line")
		}
		switch {
		case strings.EqualFold(name, "Host"):
			h.hosts++
		case strings.EqualFold(name, "Content-Length"):
			h.contentLength = append(h.contentLength, trimOWS(value))
		case strings.EqualFold(name, "Transfer-Encoding"):
			h.transferEnc = append(h.transferEnc, trimOWS(value))
		}
	}
}

// nextLine splits off the first line of s, without its CRLF or LF.
func nextLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, ""
	}
	line, rest = s[:i], s[i+1:]
	return strings.TrimSuffix(line, "\r"), rest
}

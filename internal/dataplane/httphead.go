package dataplane

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
)

// The proxy listeners parse the common HTTP/1.1 message heads themselves:
// a request or response line and header fields with CRLF line ends, a
// Content-Length (or no body), no transfer coding (but a response's
// chunked alone). The parsers below are pure functions over the head's
// text; the fields they return are substrings of it, so a request costs
// one allocation (the head as a string) instead of net/http's dozen.
// Anything else - a chunked request, unknown-length bodies, Expect,
// Upgrade, obsolete line folding, bare LF line ends, odd request targets,
// HTTP/1.0 - is "not simple": a request goes to the slow path
// (reqreader.go), which answers 400 or reads it, a response to net/http
// (the goroutine path reads a chunked answer's body with net/http too). Either way the request's framing is decided by
// decideFraming (framing.go).

// headField is one header line: the canonical name and the value without
// surrounding blanks.
type headField struct{ name, value string }

// headCommon is what request and response heads share.
type headCommon struct {
	fields        []headField
	contentLength int64  // -1: no Content-Length field
	clValue       string // the Content-Length value as sent
	close         bool   // Connection: close
}

// requestHead is a parsed simple request head.
type requestHead struct {
	headCommon
	method string
	target string // the request target as sent
	// origin is the target's path and query as url.URL.RequestURI
	// gives them (a substring of target: no allocation).
	origin string
	host   string // the Host field ("" for absolute-form, where the URL wins)
	hosts  int    // Host fields (0 or 1)
	url    url.URL
}

// framing decides the body framing of a head parseRequestHead took.
func (h *requestHead) framing(maxBody int64) framing {
	in := framingInput{method: h.method, minor: 1, hosts: h.hosts, authority: h.url.Host != "", maxBody: maxBody}
	var cl [1]string
	if h.contentLength >= 0 {
		cl[0] = h.clValue
		in.contentLength = cl[:1]
	}
	return decideFraming(&in)
}

// request is the bodiless request of a head parseRequestHead took, with
// header (reused: see headerOf) filled from its fields; vals is headerOf's
// backing store.
func (h *requestHead) request(header http.Header, vals []string, remote string) (http.Request, []string) {
	header, vals = headerOf(h.fields, header, vals)
	return http.Request{Method: h.method, URL: &h.url, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: header, Body: http.NoBody, Host: h.host, Close: h.close, RequestURI: h.target, RemoteAddr: remote}, vals
}

// responseHead is a parsed simple response head.
type responseHead struct {
	headCommon
	status  string // "200 OK"
	code    int
	chunked bool // Transfer-Encoding: chunked (the field is not in fields)
}

// headEnd returns the length of the head at the start of b (through its
// empty line), or -1 when b holds no complete head yet. A head ending in a
// bare LF is found too (so that the caller does not wait for bytes that
// never come); parseRequestHead rejects it as not simple.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
}

// parseRequestHead parses s, a whole head ending in an empty line, into h
// (its slices are reused). It reports false for anything that is not a
// simple request, malformed or not; the slow path (reqreader.go) then
// decides.
func parseRequestHead(s string, h *requestHead) bool {
	line, rest, ok := cutLine(s)
	if !ok {
		return false
	}
	method, rest1, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest1, " ")
	if !ok1 || !ok2 || proto != "HTTP/1.1" || !simpleMethod(method) || method == http.MethodConnect {
		return false
	}
	h.method, h.target, h.host = method, target, ""
	if !parseTarget(target, &h.url) {
		return false
	}
	// parseTarget took only characters net/url keeps as they are, so the
	// origin form is the target without its scheme and authority.
	h.origin = target
	if h.url.Host != "" {
		h.origin = target[len("http://")+len(h.url.Host):]
		if h.origin == "" {
			h.origin = "/"
		}
	}
	hosts := 0
	ok = parseFields(rest, &h.headCommon, func(f headField) bool {
		switch f.name {
		case "Host":
			hosts++
			h.host = f.value
			return simpleHost(f.value)
		case "Transfer-Encoding", "Expect", "Upgrade", "Pragma", "Trailer":
			return false
		}
		return true
	})
	if !ok || hosts > 1 || (hosts == 0 && h.url.Host == "") {
		return false
	}
	h.hosts = hosts
	if h.url.Host != "" {
		h.host = h.url.Host
	}
	// As with http.ReadRequest, the Host field is not among the fields.
	fields := h.fields[:0]
	for _, f := range h.fields {
		if f.name != "Host" {
			fields = append(fields, f)
		}
	}
	h.fields = fields
	return true
}

// parseResponseHead parses a simple response head: HTTP/1.1, a final
// (non-1xx) status, no transfer coding but chunked alone.
func parseResponseHead(s string, h *responseHead) bool {
	line, rest, ok := cutLine(s)
	if !ok || len(line) < 12 || line[:9] != "HTTP/1.1 " || (len(line) > 12 && line[12] != ' ') {
		return false
	}
	code := 0
	for _, c := range []byte(line[9:12]) {
		if c < '0' || c > '9' {
			return false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 {
		return false
	}
	h.status, h.code, h.chunked = line[9:], code, false
	ok = parseFields(rest, &h.headCommon, func(f headField) bool {
		switch f.name {
		case "Transfer-Encoding":
			// Only chunked alone, once (net/http decides the rest).
			if h.chunked || !strings.EqualFold(f.value, "chunked") {
				return false
			}
			h.chunked = true
		case "Pragma", "Trailer":
			return false
		}
		return true
	})
	if !ok || h.chunked && h.contentLength >= 0 {
		return false // both framings: net/http's (RFC 9112 6.3) decides
	}
	if h.chunked {
		// As net/http's Header: the framing is the proxy's to write.
		h.fields = slices.DeleteFunc(h.fields, func(f headField) bool { return f.name == "Transfer-Encoding" })
	}
	return true
}

// bodiless says whether an answer with status code has no body whatever
// its head says (to a GET).
func bodiless(code int) bool { return code == http.StatusNoContent || code == http.StatusNotModified }

// cutLine splits off the first line, which must end in CRLF.
func cutLine(s string) (line, rest string, ok bool) {
	i := strings.IndexByte(s, '\n')
	if i < 1 || s[i-1] != '\r' {
		return "", "", false
	}
	return s[:i-1], s[i+1:], true
}

// parseFields parses the header lines of s (through the empty line) into
// h; check sees each field and may refuse it.
func parseFields(s string, h *headCommon, check func(headField) bool) bool {
	h.fields, h.contentLength, h.clValue, h.close = h.fields[:0], -1, "", false
	for {
		line, rest, ok := cutLine(s)
		if !ok {
			return false
		}
		if line == "" {
			return rest == ""
		}
		s = rest
		name, value, ok := strings.Cut(line, ":")
		if !ok || !simpleToken(name) {
			return false
		}
		for i := 0; i < len(value); i++ {
			if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
				return false
			}
		}
		f := headField{name: canonicalName(name), value: textproto.TrimString(value)}
		switch f.name {
		case "Content-Length":
			n, ok := parseLength(f.value)
			if !ok || h.contentLength >= 0 {
				return false
			}
			h.contentLength, h.clValue = n, f.value
		case "Connection":
			h.close = h.close || hasToken(f.value, "close")
		}
		if !check(f) {
			return false
		}
		h.fields = append(h.fields, f)
	}
}

// canonicalName is textproto.CanonicalMIMEHeaderKey(name) (name is a
// token), with the names nearly every message carries, already in
// canonical form, recognised without looking at each byte.
func canonicalName(name string) string {
	switch name {
	case "Host", "Content-Type", "Content-Length", "Date", "Connection", "User-Agent", "Accept",
		"Accept-Encoding", "Server", "Cache-Control", "Cookie", "Set-Cookie", "Vary", "Etag", "Last-Modified":
		return name
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

// parseLength reads a Content-Length value: 1 to 18 digits.
func parseLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// hasToken reports whether the comma-separated list v holds token
// (ASCII case-insensitive), as net/http's Connection handling reads it.
func hasToken(v, token string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(textproto.TrimString(t), token) {
			return true
		}
	}
	return false
}

// parseTarget fills u from an origin-form target ("/p?q") or an
// absolute-form one ("http://host:port/p?q", what an HTTP_PROXY client
// sends), when it holds only characters that url.ParseRequestURI keeps as
// they are; other targets go to net/http.
func parseTarget(t string, u *url.URL) bool {
	*u = url.URL{}
	if rest, ok := strings.CutPrefix(t, "http://"); ok {
		i := strings.IndexAny(rest, "/?")
		if i < 0 {
			i = len(rest)
		}
		if i == 0 || !simpleHost(rest[:i]) {
			return false
		}
		u.Scheme, u.Host, t = "http", rest[:i], rest[i:]
		if t == "" {
			return true
		}
		if t[0] == '?' {
			return false // ParseRequestURI would take "?..." as part of the host
		}
	}
	if len(t) == 0 || t[0] != '/' || strings.HasPrefix(t, "//") {
		return false
	}
	path, query, hasQuery := strings.Cut(t, "?")
	for i := 0; i < len(path); i++ {
		if !pathByte(path[i]) {
			return false
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	u.Path = path
	if hasQuery {
		if query == "" {
			u.ForceQuery = true
		}
		u.RawQuery = query
	}
	return true
}

// pathByte: the characters net/url neither unescapes nor escapes in a path.
func pathByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_.~$&+,/:;=@", c) >= 0
}

// simpleHost: a DNS name or IPv4 address with an optional port.
func simpleHost(h string) bool {
	if h == "" {
		return false
	}
	name, port, hasPort := strings.Cut(h, ":")
	if name == "" || hasPort && (port == "" || len(port) > 5) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	return true
}

// simpleMethod: upper-case letters only (GET, POST, PROPFIND...).
func simpleMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
}

// simpleToken: a header field name (RFC 9110 token).
func simpleToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

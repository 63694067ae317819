package sample

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	// HealthPath answers 200 "ok" without latency, errors or upstream calls; it
	// shadows an application path of the same name.
	HealthPath = "/healthz"

	upstreamTimeout = 10 * time.Second
	// maxUpstreamBody bounds what is read of a 2xx upstream answer, and
	// maxErrorBody of a failing one (it is quoted in the 502).
	maxUpstreamBody = 1 << 20
	maxErrorBody    = 4 << 10
)

// Header values shared by every response; net/http only reads them.
var (
	ctText     = []string{"text/plain; charset=utf-8"}
	ctJSON     = []string{"application/json"}
	acceptText = []string{"text/plain"}
	acceptJSON = []string{"application/json"}
	okBody     = []byte("ok\n")
)

// Handler is the sample app's http.Handler. Build it with [NewHandler]; it is
// safe for concurrent use.
type Handler struct {
	identity     string   // "app(version)"
	podName      []string // X-Pod-Name on HealthPath, nil: none
	podUID       []string // X-Pod-Uid on HealthPath, nil: none
	xSample      []string // X-Sample header value
	textLine     []byte   // identity + "\n"
	jsonHead     []byte   // {"app":"...","version":"..."
	jsonLine     []byte   // jsonHead + "}\n"
	injectedText []byte
	injectedJSON []byte
	upstreams    []upstream
	errorRate    float64
	latency      time.Duration
	propagate    headerMatcher
	transport    *http.Transport
	client       *http.Client
	// resolver resolves lb:// upstreams (the Nacos mode); sidecar calls
	// the instances it picks, through HTTP_PROXY whatever NO_PROXY says.
	resolver  resolver
	sidecar   *http.Transport
	sidecarCl *http.Client
}

type upstream struct {
	raw string
	url *url.URL
	// service is SERVICE of lb://SERVICE/path, resolved per call.
	service string
}

// resolver is where a call to an lb:// upstream goes: the URL, and whether
// it is an instance's address (called through the sidecar).
type resolver interface {
	resolve(service string, u *url.URL) (target *url.URL, sidecar bool, err error)
}

// errNoResolver: an lb:// upstream in a handler that runs without Nacos.
var errNoResolver = errors.New("lb:// upstream without Nacos discovery")

// NewHandler validates o and precomputes the answers. Outbound calls go
// through a clone of http.DefaultTransport whose proxy is o.Proxy, or when
// that is nil read from the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY)
// now, not cached process-wide.
func NewHandler(o Options) (*Handler, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	id := o.App + "(" + o.Version + ")"
	head := jsonObjectHead(o.App, o.Version)
	h := &Handler{
		identity:     id,
		xSample:      []string{id},
		textLine:     []byte(id + "\n"),
		jsonHead:     head,
		jsonLine:     append(bytes.Clone(head), "}\n"...),
		injectedText: []byte(id + ": injected error\n"),
		injectedJSON: appendJSONFailure(head, "injected error", nil),
		errorRate:    o.ErrorRate,
		latency:      o.Latency,
		propagate:    newHeaderMatcher(o.PropagateHeaders),
		transport:    newTransport(o.Proxy),
	}
	if o.PodName != "" {
		h.podName = []string{o.PodName}
	}
	if o.PodUID != "" {
		h.podUID = []string{o.PodUID}
	}
	h.client = &http.Client{Transport: h.transport, Timeout: upstreamTimeout}
	for _, raw := range o.Upstreams {
		u, _ := parseUpstream(raw) // checked by Validate
		h.upstreams = append(h.upstreams, upstream{raw: raw, url: u, service: lbService(u)})
	}
	if o.Nacos != nil {
		h.sidecar = newTransport(sidecarProxy(o.Nacos.Sidecar))
		h.sidecarCl = &http.Client{Transport: h.sidecar, Timeout: upstreamTimeout}
	}
	return h, nil
}

// sidecarProxy is the proxy of calls to instances: always the sidecar
// (a pod's sidecar intercepts every connection), nil when there is none.
func sidecarProxy(raw string) func(*url.URL) (*url.URL, error) {
	if raw == "" {
		return func(*url.URL) (*url.URL, error) { return nil, nil }
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	return func(*url.URL) (*url.URL, error) { return u, err }
}

// lbServices are the services of the lb:// upstreams.
func (h *Handler) lbServices() []string {
	var out []string
	for _, u := range h.upstreams {
		if u.service != "" && !slices.Contains(out, u.service) {
			out = append(out, u.service)
		}
	}
	return out
}

// CloseIdleConnections closes the idle keep-alive connections to upstreams.
func (h *Handler) CloseIdleConnections() {
	h.transport.CloseIdleConnections()
	if h.sidecar != nil {
		h.sidecar.CloseIdleConnections()
	}
}

// ServeHTTP answers every method and path except [HealthPath] the same way:
// latency, then maybe an injected 500, then the upstream calls, in order.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if r.URL.Path == HealthPath {
		hdr["Content-Type"] = ctText
		if h.podName != nil {
			hdr["X-Pod-Name"] = h.podName
		}
		if h.podUID != nil {
			hdr["X-Pod-Uid"] = h.podUID
		}
		_, _ = w.Write(okBody)
		return
	}
	hdr["X-Sample"] = h.xSample
	asJSON := wantsJSON(r.Header)
	if asJSON {
		hdr["Content-Type"] = ctJSON
	} else {
		hdr["Content-Type"] = ctText
	}
	if h.latency > 0 && !sleep(r.Context(), h.latency) {
		return // the client is gone
	}
	if h.errorRate > 0 && rand.Float64() < h.errorRate {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(pick(asJSON, h.injectedJSON, h.injectedText))
		return
	}
	if len(h.upstreams) == 0 {
		_, _ = w.Write(pick(asJSON, h.jsonLine, h.textLine))
		return
	}
	s := scratchPool.Get().(*scratch)
	s.buf.Reset()
	status := h.callUpstreams(r, asJSON, s)
	w.WriteHeader(status)
	_, _ = w.Write(s.buf.Bytes())
	if s.buf.Cap() <= 64<<10 {
		scratchPool.Put(s)
	}
}

// scratch is the per-request memory of a hop with upstreams, pooled.
type scratch struct {
	buf bytes.Buffer // the answer being built
	lr  io.LimitedReader
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// callUpstreams writes the answer into s.buf and returns its status: 200 with
// every upstream's answer, or 502 naming the first upstream that failed.
func (h *Handler) callUpstreams(r *http.Request, asJSON bool, s *scratch) int {
	b := &s.buf
	multi := len(h.upstreams) > 1
	if asJSON {
		b.Write(h.jsonHead)
		b.WriteString(pick(multi, `,"upstreams":[`, `,"upstream":`))
	} else {
		b.WriteString(h.identity)
		b.WriteString(pick(multi, " -> [", " -> "))
	}
	for i := range h.upstreams {
		u := &h.upstreams[i]
		if i > 0 {
			b.WriteString(pick(asJSON, ",", ", "))
		}
		start := b.Len()
		problem, err := h.call(r, u, asJSON, s)
		if problem != "" || err != nil {
			var body []byte // what a failing upstream answered
			if err == nil {
				body = bytes.Clone(b.Bytes()[start:])
			}
			b.Reset()
			h.writeFailure(b, asJSON, u.raw, problem, err, body)
			return http.StatusBadGateway
		}
		if asJSON && !json.Valid(b.Bytes()[start:]) {
			// Not a sample: carry its answer as a JSON string.
			text := string(b.Bytes()[start:])
			b.Truncate(start)
			writeJSONString(b, text)
		}
	}
	if multi {
		b.WriteByte(']')
	}
	b.WriteString(pick(asJSON, "}\n", "\n"))
	return http.StatusOK
}

// call makes one upstream request and appends its answer, trimmed of trailing
// newlines, to s.buf. problem is the status line of a non-2xx answer; err is a
// transport error.
func (h *Handler) call(in *http.Request, u *upstream, asJSON bool, s *scratch) (problem string, err error) {
	b := &s.buf
	target, client := u.url, h.client
	if u.service != "" {
		if h.resolver == nil {
			return "", errNoResolver
		}
		t, viaSidecar, err := h.resolver.resolve(u.service, u.url)
		if err != nil {
			return "", err
		}
		if target = t; viaSidecar {
			client = h.sidecarCl
		}
	}
	req := (&http.Request{
		Method:     http.MethodGet,
		URL:        target,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, 8),
		Host:       target.Host,
	}).WithContext(in.Context())
	for k, v := range in.Header {
		if h.propagate.match(k) {
			req.Header[k] = v
		}
	}
	req.Header["Accept"] = pick(asJSON, acceptJSON, acceptText)
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", err
	}
	defer resp.Body.Close()
	limit := int64(maxUpstreamBody)
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if !ok {
		limit = maxErrorBody
	}
	start := b.Len()
	s.lr = io.LimitedReader{R: resp.Body, N: limit}
	_, err = b.ReadFrom(&s.lr)
	s.lr.R = nil
	if err != nil {
		if !ok {
			b.Truncate(start)
			return resp.Status, nil
		}
		return "", err
	}
	for n := b.Len(); n > start && (b.Bytes()[n-1] == '\n' || b.Bytes()[n-1] == '\r'); n-- {
		b.Truncate(n - 1)
	}
	if !ok {
		return resp.Status, nil
	}
	return "", nil
}

// writeFailure writes the 502 answer naming the upstream that failed. body is
// what that upstream answered, if anything: quoted in text, nested as
// "upstream" in JSON when it is JSON.
func (h *Handler) writeFailure(b *bytes.Buffer, asJSON bool, upstreamURL, problem string, err error, body []byte) {
	if problem == "" {
		problem = err.Error()
	}
	msg := upstreamURL + ": " + problem
	if asJSON {
		if len(body) > 0 && !json.Valid(body) {
			msg += ": " + string(body)
			body = nil
		}
		b.Write(appendJSONFailure(h.jsonHead, msg, body))
		return
	}
	b.WriteString(h.identity)
	b.WriteString(" -> ")
	b.WriteString(msg)
	if len(body) > 0 {
		b.WriteString(": ")
		b.Write(body)
	}
	b.WriteByte('\n')
}

// jsonObjectHead returns `{"app":APP,"version":VERSION` without the closing brace.
func jsonObjectHead(app, version string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"app":`)
	writeJSONString(&b, app)
	b.WriteString(`,"version":`)
	writeJSONString(&b, version)
	return b.Bytes()
}

// appendJSONFailure returns head + "error" (+ "upstream" when nested is set) + "}\n".
func appendJSONFailure(head []byte, msg string, nested []byte) []byte {
	var b bytes.Buffer
	b.Write(head)
	b.WriteString(`,"error":`)
	writeJSONString(&b, msg)
	if len(nested) > 0 {
		b.WriteString(`,"upstream":`)
		b.Write(nested)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// writeJSONString writes s as a JSON string without HTML escaping, so "->"
// stays readable.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}

func pick[T any](cond bool, yes, no T) T {
	if cond {
		return yes
	}
	return no
}

// sleep waits d, and reports false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// wantsJSON reports whether an Accept header asks for application/json.
func wantsJSON(h http.Header) bool {
	for _, v := range h["Accept"] {
		if containsFold(v, "application/json") {
			return true
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// headerMatcher matches header names against propagate_headers, without
// allocating.
type headerMatcher struct {
	exact    []string
	prefixes []string
}

func newHeaderMatcher(patterns []string) headerMatcher {
	var m headerMatcher
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			m.prefixes = append(m.prefixes, prefix)
		} else {
			m.exact = append(m.exact, p)
		}
	}
	return m
}

func (m *headerMatcher) match(name string) bool {
	for _, e := range m.exact {
		if len(e) == len(name) && strings.EqualFold(e, name) {
			return true
		}
	}
	for _, p := range m.prefixes {
		if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
			return true
		}
	}
	return false
}

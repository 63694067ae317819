package embedded

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// connServer serves the proxy listeners (sidecars, gateways): HTTP/1.1
// with one goroutine per connection that reads a request, runs the
// handler and writes the answer, in turn. Unlike net/http's server it has
// no per-connection background reader and no per-request goroutines or
// contexts, which is most of a proxy hop's cost. Requests are parsed by
// the connection's reqReader: simple heads by httphead.go's
// parser into reused objects, the rest by http.ReadRequest.
type connServer struct {
	ln    net.Listener
	h     http.Handler
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
	wg    sync.WaitGroup
}

// idleTimeout closes a kept-alive connection that sends nothing.
const idleTimeout = 90 * time.Second

// maxDrain is how much of a request body the handler did not read is read
// and dropped to keep the connection; with more left, it is closed.
const maxDrain = 1 << 20

func newConnServer(ln net.Listener, h http.Handler) *connServer {
	s := &connServer{ln: ln, h: h, conns: map[net.Conn]struct{}{}}
	go s.serve()
	return s
}

func (s *connServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(c)
	}
}

func (s *connServer) handle(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	st := connStates.Get().(*connState)
	defer st.release()
	rd, bw, w := st.attach(c)
	var deadline time.Time // the read deadline in force (zero: none)
	for {
		// The idle deadline is moved at most once a second: setting it
		// costs a timer update, and a second more of idling is harmless.
		if now := time.Now(); deadline.IsZero() || now.Add(idleTimeout).Sub(deadline) > time.Second {
			deadline = now.Add(idleTimeout)
			_ = c.SetReadDeadline(deadline)
		}
		req, err := rd.next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !isClosed(err) {
				_, _ = bw.WriteString("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				_ = bw.Flush()
			}
			return
		}
		if req.ContentLength != 0 {
			// A body is read while the handler runs, for as long as it takes.
			deadline = time.Time{}
			_ = c.SetReadDeadline(deadline)
			if req.ProtoAtLeast(1, 1) && hasToken(req.Header.Get("Expect"), "100-continue") {
				// Answered here, as Envoy does: the pod gets the body
				// at once, without the expectation.
				req.Header.Del("Expect")
				_, _ = bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
				if bw.Flush() != nil {
					return
				}
			}
		}
		w.reset(req)
		s.h.ServeHTTP(w, req)
		if err := w.finish(); err != nil {
			return
		}
		// Read what the handler left of the body, so the next request
		// starts at its first byte.
		if req.Body != nil && req.Body != http.NoBody {
			n, err := io.Copy(io.Discard, io.LimitReader(req.Body, maxDrain+1))
			req.Body.Close()
			if err != nil || n > maxDrain {
				return
			}
		}
		if req.Close || w.close {
			return
		}
	}
}

// connState is what a connection's loop reuses from one request to the
// next: buffers, the request reader and the response writer. It is pooled
// across connections, so a new connection allocates none of it (32 KiB of
// buffers among it).
type connState struct {
	br *bufio.Reader
	bw *bufio.Writer
	rd *reqReader
	w  *respWriter
}

var connStates = sync.Pool{New: func() any {
	st := &connState{br: bufio.NewReaderSize(nil, 16<<10), bw: bufio.NewWriterSize(nil, 16<<10)}
	st.rd = newReqReader(st.br, "")
	st.w = &respWriter{bw: st.bw, header: http.Header{}}
	return st
}}

// attach readies the state for connection c.
func (st *connState) attach(c net.Conn) (*reqReader, *bufio.Writer, *respWriter) {
	rw := newSockIO(c)
	st.br.Reset(rw)
	st.bw.Reset(rw)
	st.rd.remoteAddr = c.RemoteAddr().String()
	return st.rd, st.bw, st.w
}

// release drops the connection's references and returns the state to the
// pool.
func (st *connState) release() {
	st.br.Reset(nil)
	st.bw.Reset(nil)
	st.rd.req, st.rd.head, st.rd.body = http.Request{}, requestHead{}, clBody{}
	clear(st.rd.header)
	clear(st.rd.vals)
	clear(st.w.header)
	st.w.req = nil
	connStates.Put(st)
}

// reqReader reads the requests of one connection. Simple heads (see
// httphead.go) are parsed into objects reused from one request to the
// next; the rest goes to http.ReadRequest. A request and its header are
// valid until the next call to next.
type reqReader struct {
	br         *bufio.Reader
	remoteAddr string
	head       requestHead
	req        http.Request
	header     http.Header
	vals       []string
	body       clBody
}

func newReqReader(br *bufio.Reader, remoteAddr string) *reqReader {
	return &reqReader{br: br, remoteAddr: remoteAddr, header: http.Header{}}
}

// next reads the next request.
func (r *reqReader) next() (*http.Request, error) {
	n, err := peekHead(r.br)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		b, _ := r.br.Peek(n)
		if parseRequestHead(string(b), &r.head) {
			_, _ = r.br.Discard(n)
			return r.fill(), nil
		}
	}
	req, err := http.ReadRequest(r.br)
	if err != nil {
		return nil, err
	}
	if err := checkFields(req); err != nil {
		return nil, err
	}
	req.RemoteAddr = r.remoteAddr
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

// fill builds the request from the parsed head.
func (r *reqReader) fill() *http.Request {
	h := &r.head
	r.header, r.vals = headerOf(h.fields, r.header, r.vals)
	r.req = http.Request{Method: h.method, URL: &h.url, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: r.header, Body: http.NoBody, Host: h.host, Close: h.close, RequestURI: h.target, RemoteAddr: r.remoteAddr}
	if h.contentLength > 0 {
		r.body = clBody{br: r.br, n: h.contentLength}
		r.req.Body, r.req.ContentLength = &r.body, h.contentLength
	}
	return &r.req
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

// peekHead waits for a whole message head at the start of br and returns
// its length without consuming it; 0 means the head does not fit in the
// buffer or the stream ended inside it (the caller falls back to net/http,
// which reports it).
func peekHead(br *bufio.Reader) (int, error) {
	if _, err := br.Peek(1); err != nil {
		return 0, err
	}
	for {
		b, _ := br.Peek(br.Buffered())
		if n := headEnd(b); n > 0 {
			return n, nil
		}
		if len(b) == br.Size() {
			return 0, nil
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return 0, nil // net/http reads the same bytes and reports the error
		}
	}
}

// clBody is a body of known length read from a bufio.Reader; WriteTo
// copies straight out of the reader's buffer.
type clBody struct {
	br *bufio.Reader
	n  int64
}

func (b *clBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.br.Read(p)
	b.n -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *clBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for b.n > 0 {
		if b.br.Buffered() == 0 {
			if _, err := b.br.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return total, err
			}
		}
		p, _ := b.br.Peek(int(min(b.n, int64(b.br.Buffered()))))
		n, err := w.Write(p)
		_, _ = b.br.Discard(n)
		b.n -= int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (b *clBody) Close() error { return nil }

func isClosed(err error) bool {
	var ne net.Error
	return errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout())
}

// close stops accepting, closes every connection and waits for their
// goroutines.
func (s *connServer) close() {
	s.mu.Lock()
	s.done = true
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// respWriter is the http.ResponseWriter of a connServer request: the head
// is written when the status is known, the body with its Content-Length
// when the handler set one, chunked otherwise.
type respWriter struct {
	bw          *bufio.Writer
	header      http.Header
	req         *http.Request
	status      int
	wroteHeader bool
	noBody      bool
	chunked     bool
	close       bool
	cl          int64
	num         [20]byte // status code digits
}

func (w *respWriter) Header() http.Header { return w.header }

// reset readies the connection's writer for the next request.
func (w *respWriter) reset(req *http.Request) {
	clear(w.header)
	*w = respWriter{bw: w.bw, header: w.header, req: req, cl: -1}
}

func (w *respWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader, w.status = true, code
	w.noBody = w.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified || (code >= 100 && code < 200)
	h := w.header
	if v := h.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			w.cl = n
		}
	}
	http10 := w.req.ProtoMajor == 1 && w.req.ProtoMinor == 0
	switch {
	case w.noBody || w.cl >= 0:
	case http10:
		w.close = true
	default:
		w.chunked = true
		h.Set("Transfer-Encoding", "chunked")
	}
	if w.close || w.req.Close {
		h.Set("Connection", "close")
	}
	_, _ = w.bw.WriteString("HTTP/1.1 ")
	_, _ = w.bw.Write(strconv.AppendInt(w.num[:0], int64(code), 10))
	_ = w.bw.WriteByte(' ')
	_, _ = w.bw.WriteString(http.StatusText(code))
	_, _ = w.bw.WriteString("\r\n")
	writeFields(w.bw, h, nil)
	_, _ = w.bw.WriteString("\r\n")
}

// writeFields writes the header lines of h, except the names skip reports,
// as net/http's Header.Write does (line breaks in values become spaces,
// values are trimmed) but in map order: field order across names carries
// no meaning, and sorting costs.
func writeFields(bw *bufio.Writer, h http.Header, skip func(string) bool) {
	for k, vs := range h {
		if skip != nil && skip(k) {
			continue
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			_, _ = bw.WriteString(k)
			_, _ = bw.WriteString(": ")
			_, _ = bw.WriteString(textproto.TrimString(v))
			_, _ = bw.WriteString("\r\n")
		}
	}
}

func (w *respWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		if w.header.Get("Content-Type") == "" {
			w.header.Set("Content-Type", http.DetectContentType(p))
		}
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody || len(p) == 0 {
		return len(p), nil
	}
	if w.chunked {
		_, _ = w.bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		_, _ = w.bw.WriteString("\r\n")
		n, err := w.bw.Write(p)
		_, _ = w.bw.WriteString("\r\n")
		return n, err
	}
	return w.bw.Write(p)
}

// Flush sends what is buffered (streamed answers).
func (w *respWriter) Flush() { _ = w.bw.Flush() }

func (w *respWriter) finish() error {
	if !w.wroteHeader {
		w.header.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	}
	if w.chunked {
		_, _ = w.bw.WriteString("0\r\n\r\n")
	}
	return w.bw.Flush()
}

// abort marks the connection for closing after this answer: the handler
// could not send the whole body it announced.
func (w *respWriter) abort() { w.close = true }

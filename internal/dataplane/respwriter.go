package dataplane

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// respWriter is the http.ResponseWriter of a Server request: the head
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
	d           *downConn
	dead        bool // hung up: nothing more is written
	writeFailed bool // a write to the client failed
	linger      bool // close with a lingering close after the answer
}

func (w *respWriter) Header() http.Header { return w.header }

// reset readies the connection's writer for the next request.
func (w *respWriter) reset(req *http.Request) {
	clear(w.header)
	*w = respWriter{bw: w.bw, header: w.header, req: req, cl: -1, d: w.d}
}

func (w *respWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader, w.status = true, code
	w.noBody = w.req.Method == http.MethodHead || bodiless(code) || (code >= 100 && code < 200)
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
	_, _ = w.bw.Write(appendStatusLine(w.bw.AvailableBuffer(), code))
	writeFields(w.bw, h, nil)
	_, _ = w.bw.WriteString("\r\n")
}

// writeFields writes the header lines of h, except the names skip reports,
// as net/http's Header.Write does (line breaks in values become spaces,
// values are trimmed) but in map order: field order across names carries
// no meaning, and sorting costs.
func writeFields(bw io.StringWriter, h http.Header, skip func(string) bool) {
	for k, vs := range h {
		if skip != nil && skip(k) {
			continue
		}
		for _, v := range vs {
			if hasLineBreak(v) {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			_, _ = bw.WriteString(k)
			_, _ = bw.WriteString(": ")
			_, _ = bw.WriteString(textproto.TrimString(v))
			_, _ = bw.WriteString("\r\n")
		}
	}
}

// outBuf collects bytes to write; writeFields and appendLocalReply write to it.
type outBuf struct{ b []byte }

func (o *outBuf) WriteString(s string) (int, error) { o.b = append(o.b, s...); return len(s), nil }
func (o *outBuf) Write(p []byte) (int, error)       { o.b = append(o.b, p...); return len(p), nil }
func (o *outBuf) WriteByte(c byte) error            { o.b = append(o.b, c); return nil }

// framedHere: the fields of the answer's framing, which the writer of the answer writes itself (the event loop, appendLocalReply).
func framedHere(name string) bool { return name == "Content-Length" || name == "Transfer-Encoding" }

func codingField(name string) bool { return name == "Transfer-Encoding" }

// hasLineBreak reports whether v holds a CR or LF (strings.ContainsAny
// costs more for the short values of header fields).
func hasLineBreak(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] == '\r' || v[i] == '\n' {
			return true
		}
	}
	return false
}

func (w *respWriter) Write(p []byte) (int, error) {
	if w.dead {
		return 0, errHungUp
	}
	if !w.wroteHeader {
		if w.header.Get("Content-Type") == "" {
			w.header.Set("Content-Type", http.DetectContentType(p))
		}
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody || len(p) == 0 {
		return len(p), nil
	}
	var n int
	var err error
	if w.chunked {
		_, _ = w.bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		_, _ = w.bw.WriteString("\r\n")
		n, err = w.bw.Write(p)
		_, _ = w.bw.WriteString("\r\n")
	} else {
		n, err = w.bw.Write(p)
	}
	w.writeFailed = w.writeFailed || err != nil
	return n, err
}

// Flush sends what is buffered (streamed answers).
func (w *respWriter) Flush() { _ = w.bw.Flush() }

func (w *respWriter) finish() error {
	if w.dead {
		return errHungUp
	}
	if !w.wroteHeader {
		w.header.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	}
	if w.chunked {
		_, _ = w.bw.WriteString("0\r\n\r\n")
	}
	return w.bw.Flush()
}

// Abort marks the connection for closing after this answer: the handler
// could not send the whole body it announced.
func (w *respWriter) Abort() { w.close = true }

// The proxy's handler (forward) uses these beyond http.ResponseWriter;
// see ResponseWriter.

func (w *respWriter) Limits() *Limits { return w.d.lim }

func (w *respWriter) CloseWatch() *CloseWatch { return &w.d.watch }

func (w *respWriter) Answering() bool { return w.wroteHeader }

func (w *respWriter) WriteFailed() bool { return w.writeFailed }

// Target is the request's path and query as req.URL.RequestURI() gives
// them; for a head the simple parser read, without allocating.
func (w *respWriter) Target() string {
	if o := w.d.st.rd.origin; o != "" {
		return o
	}
	return w.req.URL.RequestURI()
}

// hangup ends the connection without (more of) an answer.
func (w *respWriter) Hangup() { w.dead, w.close = true, true }

// refuseAfter marks the connection for a lingering close after the
// answer: part of the request was not read.
func (w *respWriter) RefuseAfter() { w.close, w.linger = true, true }

// errHungUp: the handler hung up on the client.
var errHungUp = errors.New("connection hung up")

// ResponseWriter is what the proxy's handler uses of a Server's answer
// beyond http.ResponseWriter: the http.ResponseWriter a Server hands its
// handler is one. Every method is a field read or write on the
// connection's own state: cheap, never blocking, for the handler's
// goroutine only.
type ResponseWriter interface {
	http.ResponseWriter
	// Limits are the listener's limits.
	Limits() *Limits
	// CloseWatch is the connection's watch for the client going away
	// (see Request.Watch).
	CloseWatch() *CloseWatch
	// Answering reports whether the answer's head was written.
	Answering() bool
	// WriteFailed reports whether writing the answer to the client
	// failed (the client went away in the middle of it).
	WriteFailed() bool
	// Target is the request's path and query as req.URL.RequestURI()
	// gives them, without allocating for a head the simple parser read.
	Target() string
	// Abort closes the connection after this answer: the handler could
	// not send the whole body it announced.
	Abort()
	// Hangup ends the connection without (more of) an answer.
	Hangup()
	// RefuseAfter closes the connection after the answer with a
	// lingering close: part of the request was not read.
	RefuseAfter()
}

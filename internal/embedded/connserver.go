package embedded

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// connServer serves the proxy listeners (sidecars, gateways): HTTP/1.1
// with one goroutine per connection that reads a request, runs the
// handler and writes the answer, in turn. Unlike net/http's server it has
// no per-connection background reader and no per-request goroutines or
// contexts, which is most of a proxy hop's cost; the request parsing is
// still net/http's (http.ReadRequest).
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
	br := bufio.NewReaderSize(c, 16<<10)
	bw := bufio.NewWriterSize(c, 16<<10)
	w := &respWriter{bw: bw, header: http.Header{}}
	for {
		_ = c.SetReadDeadline(time.Now().Add(idleTimeout))
		req, err := http.ReadRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !isClosed(err) {
				_, _ = bw.WriteString("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				_ = bw.Flush()
			}
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		req.RemoteAddr = c.RemoteAddr().String()
		w.reset(req)
		s.h.ServeHTTP(w, req)
		if err := w.finish(); err != nil {
			return
		}
		// Read what the handler left of the body, so the next request
		// starts at its first byte.
		if req.Body != nil {
			if _, err := io.Copy(io.Discard, io.LimitReader(req.Body, 1<<20)); err != nil {
				return
			}
			req.Body.Close()
		}
		if req.Close || w.close {
			return
		}
	}
}

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
	_, _ = w.bw.WriteString(strconv.Itoa(code))
	_ = w.bw.WriteByte(' ')
	_, _ = w.bw.WriteString(http.StatusText(code))
	_, _ = w.bw.WriteString("\r\n")
	_ = h.Write(w.bw)
	_, _ = w.bw.WriteString("\r\n")
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

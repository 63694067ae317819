package embedded

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// upstreams is the sidecars' HTTP/1.1 client to the pods: a keep-alive
// pool per pod address, with the request written and the response read
// on the calling goroutine. net/http's Transport hands every request to
// two connection goroutines; a proxy that streams one response per
// request does not need them, and saves that work on every hop. Request
// heads are written straight from the proxied request, and simple
// response heads are parsed (httphead.go) into objects the connection
// reuses; other responses are read by http.ReadResponse.
type upstreams struct {
	mu      sync.Mutex
	idle    map[string][]*upConn
	maxIdle int
	dialer  net.Dialer
}

type upConn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	// The last response, valid until the connection is released.
	head   responseHead
	resp   http.Response
	header http.Header
	vals   []string
	body   clBody
}

// upRequest is what is sent to a pod.
type upRequest struct {
	method string
	uri    string // origin-form request target
	host   string
	header http.Header // Host, Content-Length and Transfer-Encoding are not read
	body   io.Reader   // nil: no body
	length int64       // of body; -1: unknown, sent chunked
	// getBody returns a fresh copy of the body for a retry; nil: a
	// request with a body cannot be sent again.
	getBody func() (io.ReadCloser, error)
}

func newUpstreams() *upstreams {
	return &upstreams{idle: map[string][]*upConn{}, maxIdle: 256, dialer: net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}}
}

// roundTrip sends req to addr. The returned response and connection
// belong together: read the body, then hand the connection back with
// release, after which the response must not be used.
func (u *upstreams) roundTrip(ctx context.Context, addr string, req *upRequest) (*http.Response, *upConn, error) {
	if c := u.get(addr); c != nil {
		resp, err := c.exchange(ctx, req)
		if err == nil {
			return resp, c, nil
		}
		c.c.Close()
		// A kept-alive connection the pod closed meanwhile: try a new
		// one when the request can be sent again.
		if req.body != nil && req.getBody == nil {
			return nil, nil, err
		}
		if req.getBody != nil {
			if req.body, err = req.getBody(); err != nil {
				return nil, nil, err
			}
		}
	}
	nc, err := u.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	rw := newSockIO(nc)
	c := &upConn{addr: addr, c: nc, br: bufio.NewReaderSize(rw, 16<<10), bw: bufio.NewWriterSize(rw, 8<<10), header: http.Header{}}
	resp, err := c.exchange(ctx, req)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return resp, c, nil
}

// exchange writes the request and reads the response head; the context
// aborts both by expiring the connection's deadline.
func (c *upConn) exchange(ctx context.Context, req *upRequest) (*http.Response, error) {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	if err := writeRequest(c.bw, req); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	resp, err := c.readResponse(req.method)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return resp, ctx.Err()
}

// writeRequest writes req as HTTP/1.1: the request line, Host, the header
// fields and the body, with its length or chunked.
func writeRequest(bw *bufio.Writer, req *upRequest) error {
	if !httpguts.ValidHostHeader(req.host) {
		return errors.New("invalid Host " + strconv.Quote(req.host))
	}
	_, _ = bw.WriteString(req.method)
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(req.uri)
	_, _ = bw.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = bw.WriteString(req.host)
	_, _ = bw.WriteString("\r\n")
	writeFields(bw, req.header, framingField)
	switch {
	case req.length < 0:
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		cw := httputil.NewChunkedWriter(bw)
		if _, err := io.Copy(cw, req.body); err != nil {
			return err
		}
		if err := cw.Close(); err != nil {
			return err
		}
		_, err := bw.WriteString("\r\n")
		return err
	case req.length > 0 || req.method != http.MethodGet && req.method != http.MethodHead:
		// net/http's rule: a zero length is sent except for GET and HEAD.
		var num [20]byte
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.Write(strconv.AppendInt(num[:0], req.length, 10))
		_, _ = bw.WriteString("\r\n")
	}
	_, err := bw.WriteString("\r\n")
	if err != nil || req.length == 0 {
		return err
	}
	var n int64
	if b, ok := req.body.(*clBody); ok && b.n == req.length {
		n, err = b.WriteTo(bw)
	} else {
		n, err = io.Copy(bw, io.LimitReader(req.body, req.length))
	}
	if err == nil && n < req.length {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// framingField: the fields writeRequest writes itself.
func framingField(name string) bool {
	switch name {
	case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// readResponse reads the next final response head (informational 1xx
// answers other than 101 are skipped, as net/http's Transport does).
func (c *upConn) readResponse(method string) (*http.Response, error) {
	for range 10 {
		resp, err := c.readOne(method)
		if err != nil || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols || resp.StatusCode < 100 {
			return resp, err
		}
	}
	return nil, errors.New("too many 1xx informational responses")
}

func (c *upConn) readOne(method string) (*http.Response, error) {
	n, err := peekHead(c.br)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		b, _ := c.br.Peek(n)
		if h := &c.head; parseResponseHead(string(b), h) {
			noBody := method == http.MethodHead || h.code == http.StatusNoContent || h.code == http.StatusNotModified
			if noBody || h.contentLength >= 0 {
				_, _ = c.br.Discard(n)
				return c.fill(noBody), nil
			}
		}
	}
	return http.ReadResponse(c.br, &http.Request{Method: method})
}

// fill builds the response from the parsed head.
func (c *upConn) fill(noBody bool) *http.Response {
	h := &c.head
	c.header, c.vals = headerOf(h.fields, c.header, c.vals)
	c.resp = http.Response{Status: h.status, StatusCode: h.code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: c.header, Body: http.NoBody, ContentLength: max(h.contentLength, 0), Close: h.close}
	if !noBody && h.contentLength > 0 {
		c.body = clBody{br: c.br, n: h.contentLength}
		c.resp.Body = &c.body
	}
	return &c.resp
}

func (u *upstreams) get(addr string) *upConn {
	u.mu.Lock()
	defer u.mu.Unlock()
	list := u.idle[addr]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	u.idle[addr] = list[:len(list)-1]
	return c
}

// release returns a connection whose response was read to its end and
// did not ask to close, or closes it.
func (u *upstreams) release(c *upConn, reusable bool) {
	if !reusable || c.br.Buffered() > 0 {
		c.c.Close()
		return
	}
	u.mu.Lock()
	if len(u.idle[c.addr]) < u.maxIdle {
		u.idle[c.addr] = append(u.idle[c.addr], c)
		c = nil
	}
	u.mu.Unlock()
	if c != nil {
		c.c.Close()
	}
}

// closeAll drops every idle connection.
func (u *upstreams) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for addr, list := range u.idle {
		for _, c := range list {
			c.c.Close()
		}
		delete(u.idle, addr)
	}
}

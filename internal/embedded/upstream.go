package embedded

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// upstreams is the sidecars' HTTP/1.1 client to the pods: a keep-alive
// pool per pod address, with the request written and the response read
// on the calling goroutine. net/http's Transport hands every request to
// two connection goroutines; a proxy that streams one response per
// request does not need them, and saves that work on every hop.
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
}

func newUpstreams() *upstreams {
	return &upstreams{idle: map[string][]*upConn{}, maxIdle: 256, dialer: net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}}
}

// roundTrip sends req to addr. The returned connection belongs to the
// response: hand it back with release once the body is read.
func (u *upstreams) roundTrip(ctx context.Context, addr string, req *http.Request) (*http.Response, *upConn, error) {
	if c := u.get(addr); c != nil {
		resp, err := c.exchange(ctx, req)
		if err == nil {
			return resp, c, nil
		}
		c.c.Close()
		// A kept-alive connection the pod closed meanwhile: try a new
		// one when the request can be sent again.
		if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
			return nil, nil, err
		}
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, nil, err
			}
		}
	}
	nc, err := u.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	c := &upConn{addr: addr, c: nc, br: bufio.NewReaderSize(nc, 16<<10), bw: bufio.NewWriterSize(nc, 8<<10)}
	resp, err := c.exchange(ctx, req)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return resp, c, nil
}

// exchange writes the request and reads the response head; the context
// aborts both by expiring the connection's deadline.
func (c *upConn) exchange(ctx context.Context, req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := req.Write(c.bw); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return resp, ctx.Err()
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

// release returns a connection whose response body was read to the end,
// or closes it.
func (u *upstreams) release(c *upConn, resp *http.Response, reusable bool) {
	if !reusable || resp.Close || c.br.Buffered() > 0 {
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

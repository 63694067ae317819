package dataplane

import (
	"io"
	"net/http"
)

// MaxReplayBody is how much of a request body is kept to send it again:
// Envoy's per-connection buffer limit (1 MiB). A longer body is sent once.
const MaxReplayBody = 1 << 20

// KeepBody makes the request's body replayable: what is read of it is
// kept, up to MaxReplayBody, so that Rewind can send it again. A request
// without a body needs nothing kept.
func (req *Request) KeepBody() {
	if req.Body != nil && req.replay == nil {
		req.replay = &replayBody{src: req.Body}
		req.Body = req.replay
	}
}

// Discard drops an answer that will be retried: a short body is read so
// the connection can be used again, a longer one closes it.
func (p *Proxy) Discard(resp *http.Response, c *UpstreamConn) {
	_, err := io.CopyN(io.Discard, resp.Body, 64<<10+1)
	resp.Body.Close()
	p.Release(c, err == io.EOF && !resp.Close)
}

// replayBody is a request body read once from the client and kept, up to
// MaxReplayBody, so that a retry can send it again: a retry reads what was
// kept, then what the client has not sent yet.
type replayBody struct {
	src  io.Reader
	kept []byte
	pos  int  // read position in kept
	over bool // more than MaxReplayBody was read: it cannot be sent again
}

func (b *replayBody) Read(p []byte) (int, error) {
	if b.pos < len(b.kept) {
		n := copy(p, b.kept[b.pos:])
		b.pos += n
		return n, nil
	}
	n, err := b.src.Read(p)
	if n > 0 && !b.over {
		if len(b.kept)+n > MaxReplayBody {
			b.over, b.kept, b.pos = true, nil, 0
		} else {
			b.kept = append(b.kept, p[:n]...)
			b.pos = len(b.kept)
		}
	}
	return n, err
}

// rewind starts the body again; false when it cannot be.
func (b *replayBody) rewind() bool {
	if b.over {
		return false
	}
	b.pos = 0
	return true
}

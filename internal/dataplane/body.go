package dataplane

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"

	"golang.org/x/net/http/httpguts"
)

// bodyConn is the connection a body is read from: the readers call
// extendRead before they wait for more bytes (the stream idle timeout
// counts from the last bytes that came), and readError says what a failed
// read means (a client's body: a DownstreamError).
type bodyConn interface {
	extendRead()
	readError(err error) error
}

// clBody is a body of known length read from a bufio.Reader; WriteTo
// copies straight out of the reader's buffer. conn may be nil.
type clBody struct {
	br   *bufio.Reader
	n    int64
	conn bodyConn
}

func (b *clBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	if b.conn != nil && b.br.Buffered() == 0 {
		b.conn.extendRead()
	}
	n, err := b.br.Read(p)
	b.n -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && b.conn != nil {
		err = b.conn.readError(err)
	}
	return n, err
}

func (b *clBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for b.n > 0 {
		if b.br.Buffered() == 0 {
			if b.conn != nil {
				b.conn.extendRead()
			}
			if _, err := b.br.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				if b.conn != nil {
					err = b.conn.readError(err)
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

// chunkedBody reads a chunked request body (RFC 9112 §7.1) strictly:
// a chunk size is 1 to 15 hex digits (no sign, no 0x, no white space
// before it), chunk extensions are checked for control characters and
// dropped, every line ends in CRLF, chunk data is followed by CRLF, and
// the trailer section is read under the head limits and dropped (it is
// not forwarded). Any other byte sequence is a 400; a body growing past
// the body limit a 413. Errors are sticky.
type chunkedBody struct {
	br    *bufio.Reader
	conn  bodyConn
	lim   *Limits
	state chunkState
	left  int64 // data bytes left in the current chunk
	total int64 // data bytes so far
	lines int   // trailer field lines so far
	tsize int   // trailer bytes so far
	err   error
}

type chunkState uint8

const (
	chunkSize     chunkState = iota // at a chunk-size line
	chunkData                       // in chunk data
	chunkDataEnd                    // at the CRLF after chunk data
	chunkTrailers                   // in the trailer section
	chunkDone                       // after the final CRLF
)

// maxChunkLine bounds a chunk-size line with its extensions.
const maxChunkLine = 4096

// maxChunkDigits keeps a chunk size within 60 bits.
const maxChunkDigits = 15

func (b *chunkedBody) Read(p []byte) (int, error) {
	if err := b.advance(); err != nil {
		return 0, err
	}
	if b.state == chunkDone {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	if b.br.Buffered() == 0 {
		b.conn.extendRead()
	}
	n, err := b.br.Read(p)
	b.consumed(n)
	if err != nil {
		return n, b.fail(err)
	}
	return n, nil
}

func (b *chunkedBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if err := b.advance(); err != nil {
			return total, err
		}
		if b.state == chunkDone {
			return total, nil
		}
		if b.br.Buffered() == 0 {
			b.conn.extendRead()
			if _, err := b.br.Peek(1); err != nil {
				return total, b.fail(err)
			}
		}
		p, _ := b.br.Peek(int(min(b.left, int64(b.br.Buffered()))))
		n, err := w.Write(p)
		_, _ = b.br.Discard(n)
		b.consumed(n)
		total += int64(n)
		if err != nil {
			return total, err // the destination's error, not the client's
		}
	}
}

func (b *chunkedBody) Close() error { return nil }

func (b *chunkedBody) consumed(n int) {
	b.left -= int64(n)
	if b.left == 0 && b.state == chunkData {
		b.state = chunkDataEnd
	}
}

// fail records a read error of the client's connection (or a framing
// error) as the body's sticky error.
func (b *chunkedBody) fail(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	b.err = b.conn.readError(err)
	return b.err
}

// advance reads the framing up to the next chunk data or the end.
func (b *chunkedBody) advance() error {
	for b.err == nil {
		switch b.state {
		case chunkData, chunkDone:
			return nil
		case chunkDataEnd:
			if b.br.Buffered() < 2 {
				b.conn.extendRead()
			}
			crlf, err := b.br.Peek(2)
			if len(crlf) > 0 && crlf[0] != '\r' || len(crlf) == 2 && crlf[1] != '\n' {
				return b.fail(badRequest("chunk data not followed by CRLF"))
			}
			if err != nil {
				return b.fail(err)
			}
			_, _ = b.br.Discard(2)
			b.state = chunkSize
		case chunkSize:
			line, err := b.line(maxChunkLine)
			if err != nil {
				return err
			}
			n, ok := parseChunkSize(line)
			_, _ = b.br.Discard(len(line))
			if !ok {
				return b.fail(badRequest("invalid chunk size line"))
			}
			if n == 0 {
				b.state = chunkTrailers
				continue
			}
			b.total += n
			if b.lim.maxBody >= 0 && b.total > b.lim.maxBody {
				return b.fail(&DownstreamError{Status: http.StatusRequestEntityTooLarge, Flags: FlagDPE, Msg: "request body larger than the limit"})
			}
			b.left, b.state = n, chunkData
		case chunkTrailers:
			line, err := b.line(b.lim.maxField + 2)
			if err != nil {
				return err
			}
			_, _ = b.br.Discard(len(line))
			if derr := b.trailer(line); derr != nil {
				return b.fail(derr)
			}
		}
	}
	return b.err
}

// trailer checks one line of the trailer section; the empty line ends
// the body.
func (b *chunkedBody) trailer(line []byte) *DownstreamError {
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return badRequest("trailer line not ended by CRLF")
	}
	line = line[:len(line)-2]
	if len(line) == 0 {
		b.state = chunkDone
		return nil
	}
	b.lines++
	b.tsize += len(line) + 2
	if b.lines > b.lim.maxFields || b.tsize > b.lim.maxHead {
		return &DownstreamError{Status: http.StatusRequestHeaderFieldsTooLarge, Flags: FlagDPE, Msg: "trailer section too large"}
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok || !simpleToken(string(name)) || !httpguts.ValidHeaderFieldValue(string(value)) {
		return badRequest("malformed trailer field")
	}
	return nil
}

// line returns the next line, through its LF, without consuming it.
func (b *chunkedBody) line(limit int) ([]byte, error) {
	for i := 0; ; {
		buf, _ := b.br.Peek(b.br.Buffered())
		j := bytes.IndexByte(buf[i:], '\n')
		if j >= 0 && i+j+1 <= limit {
			return buf[:i+j+1], nil
		}
		if j >= 0 || len(buf) >= limit || len(buf) >= b.br.Size() {
			return nil, b.fail(badRequest(fmt.Sprintf("chunked body line longer than %d bytes", limit)))
		}
		i = len(buf)
		b.conn.extendRead()
		if _, err := b.br.Peek(len(buf) + 1); err != nil {
			return nil, b.fail(err)
		}
	}
}

// parseChunkSize reads a chunk-size line through its CRLF:
// chunk-size [ chunk-ext ] CRLF, where chunk-ext is
// *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ); the extension is
// only checked for characters a field value may not hold.
func parseChunkSize(line []byte) (int64, bool) {
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return 0, false // no size, or a bare LF
	}
	line = line[:len(line)-2]
	var n int64
	i := 0
	for ; i < len(line); i++ {
		v := unhex(line[i])
		if v < 0 {
			break
		}
		if i == maxChunkDigits {
			return 0, false
		}
		n = n<<4 | int64(v)
	}
	if i == 0 {
		return 0, false
	}
	ext := line[i:]
	if len(ext) == 0 {
		return n, true
	}
	for len(ext) > 0 && (ext[0] == ' ' || ext[0] == '\t') {
		ext = ext[1:] // BWS, before a ";" only
	}
	if len(ext) == 0 || ext[0] != ';' {
		return 0, false
	}
	for _, c := range ext {
		if c < ' ' && c != '\t' || c == 0x7f {
			return 0, false
		}
	}
	return n, true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

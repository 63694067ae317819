package dataplane

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func defaultLimits(tb testing.TB) *Limits {
	tb.Helper()
	lim, err := EdgeOptions{}.Limits()
	if err != nil {
		tb.Fatal(err)
	}
	return lim
}

// pipeReader returns a reqReader that reads raw as a connection's loop
// does, from one end of a pipe whose other end sends raw and closes.
func pipeReader(tb testing.TB, raw string, lim *Limits) *reqReader {
	a, b := net.Pipe()
	go func() {
		_, _ = io.WriteString(b, raw)
		b.Close()
	}()
	tb.Cleanup(func() { a.Close(); b.Close() })
	d := &downConn{c: a, rw: a, lim: lim, remoteAddr: "1.2.3.4:5"}
	st := newConnState()
	st.br.Reset(a)
	st.rd.attach(d, st.br)
	d.st = st
	return st.rd
}

// readNext reads the next request as the connection's loop does.
func readNext(rd *reqReader) (*http.Request, error) {
	rd.shrink()
	if _, err := rd.br.Peek(1); err != nil {
		return nil, err
	}
	req, derr := rd.next()
	if derr != nil {
		return nil, derr
	}
	return req, nil
}

func TestDecideFraming(t *testing.T) {
	type in = framingInput
	cl := func(v ...string) []string { return v }
	tests := []struct {
		name string
		in   in
		want framing
	}{
		{"no body", in{minor: 1, hosts: 1}, framing{kind: bodyNone}},
		{"length", in{minor: 1, hosts: 1, contentLength: cl("5"), maxBody: -1}, framing{kind: bodyLength, length: 5}},
		{"length zero is no body", in{minor: 1, hosts: 1, contentLength: cl("0"), maxBody: -1}, framing{kind: bodyNone}},
		{"identical lengths, lines and lists", in{minor: 1, hosts: 1, contentLength: cl("5", " 5 , 05"), maxBody: -1}, framing{kind: bodyLength, length: 5}},
		{"differing lengths", in{minor: 1, hosts: 1, contentLength: cl("5", "6"), maxBody: -1}, refuse(400, "differing Content-Length values")},
		{"differing in a list", in{minor: 1, hosts: 1, contentLength: cl("5, 6"), maxBody: -1}, refuse(400, "differing Content-Length values")},
		{"signed length", in{minor: 1, hosts: 1, contentLength: cl("+5"), maxBody: -1}, refuse(400, "invalid Content-Length")},
		{"negative length", in{minor: 1, hosts: 1, contentLength: cl("-5"), maxBody: -1}, refuse(400, "invalid Content-Length")},
		{"hex length", in{minor: 1, hosts: 1, contentLength: cl("0x5"), maxBody: -1}, refuse(400, "invalid Content-Length")},
		{"empty length", in{minor: 1, hosts: 1, contentLength: cl(""), maxBody: -1}, refuse(400, "empty Content-Length")},
		{"empty list element", in{minor: 1, hosts: 1, contentLength: cl("5,"), maxBody: -1}, refuse(400, "invalid Content-Length")},
		{"18 digits over the limit", in{minor: 1, hosts: 1, contentLength: cl("999999999999999999"), maxBody: 1 << 30}, refuse(413, "request body larger than the limit")},
		{"19 digits", in{minor: 1, hosts: 1, contentLength: cl("1000000000000000000"), maxBody: -1}, refuse(413, "Content-Length too large")},
		{"leading zeros do not count", in{minor: 1, hosts: 1, contentLength: cl("0000000000000000000007"), maxBody: -1}, framing{kind: bodyLength, length: 7}},
		{"at the body limit", in{minor: 1, hosts: 1, contentLength: cl("10"), maxBody: 10}, framing{kind: bodyLength, length: 10}},
		{"over the body limit", in{minor: 1, hosts: 1, contentLength: cl("11"), maxBody: 10}, refuse(413, "request body larger than the limit")},
		{"chunked", in{minor: 1, hosts: 1, transferEncoding: cl("chunked")}, framing{kind: bodyChunked, length: -1}},
		{"chunked, any case, empty elements", in{minor: 1, hosts: 1, transferEncoding: cl(" , CHUNKED ,")}, framing{kind: bodyChunked, length: -1}},
		{"CL.TE", in{minor: 1, hosts: 1, contentLength: cl("5"), transferEncoding: cl("chunked")}, refuse(400, "both Transfer-Encoding and Content-Length")},
		{"TE.CL", in{minor: 1, hosts: 1, contentLength: cl("3"), transferEncoding: cl("chunked")}, refuse(400, "both Transfer-Encoding and Content-Length")},
		{"TE on HTTP/1.0", in{minor: 0, transferEncoding: cl("chunked")}, refuse(400, "Transfer-Encoding in an HTTP/1.0 request")},
		{"final coding not chunked", in{minor: 1, hosts: 1, transferEncoding: cl("chunked, gzip")}, refuse(400, "a transfer coding after chunked")},
		{"only gzip", in{minor: 1, hosts: 1, transferEncoding: cl("gzip")}, refuse(400, "Transfer-Encoding whose final coding is not chunked")},
		{"empty TE", in{minor: 1, hosts: 1, transferEncoding: cl("")}, refuse(400, "Transfer-Encoding whose final coding is not chunked")},
		{"chunked twice, two lines", in{minor: 1, hosts: 1, transferEncoding: cl("chunked", "chunked")}, refuse(400, "a transfer coding after chunked")},
		{"gzip then chunked", in{minor: 1, hosts: 1, transferEncoding: cl("gzip", "chunked")}, refuse(501, "transfer codings other than chunked are not supported")},
		{"chunked with a parameter", in{minor: 1, hosts: 1, transferEncoding: cl("chunked;q=1")}, refuse(400, "Transfer-Encoding whose final coding is not chunked")},
		{"HTTP/1.1 without Host", in{minor: 1}, refuse(400, "HTTP/1.1 request without a Host field")},
		{"HTTP/1.1 absolute-form without Host", in{minor: 1, authority: true}, framing{kind: bodyNone}},
		{"HTTP/1.0 without Host", in{minor: 0}, framing{kind: bodyNone}},
		{"two Hosts", in{minor: 1, hosts: 2}, refuse(400, "more than one Host field")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := decideFraming(&tc.in)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(framing{})); diff != "" {
				t.Errorf("decideFraming (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseChunkSize(t *testing.T) {
	tests := []struct {
		line string
		n    int64
		ok   bool
	}{
		{"5\r\n", 5, true},
		{"1aF\r\n", 0x1af, true},
		{"5;name=value\r\n", 5, true},
		{"5 ; name=\"quoted value\"\r\n", 5, true},
		{"fffffffffffffff\r\n", 0xfffffffffffffff, true},
		{"zz\r\n", 0, false},
		{"-5\r\n", 0, false},
		{"0x5\r\n", 0, false},
		{"ffffffffffffffffffff\r\n", 0, false}, // twenty f's
		{"ffffffffffffffff\r\n", 0, false},     // sixteen: over 60 bits
		{"5\n", 0, false},                      // bare LF
		{" 5\r\n", 0, false},
		{"5 \r\n", 0, false},
		{"\r\n", 0, false},
		{"5;a\x00b\r\n", 0, false},
		{"5x\r\n", 0, false},
	}
	for _, tc := range tests {
		n, ok := parseChunkSize([]byte(tc.line))
		if n != tc.n || ok != tc.ok {
			t.Errorf("parseChunkSize(%q) = %d, %v; want %d, %v", tc.line, n, ok, tc.n, tc.ok)
		}
	}
}

// TestReadRequestRefusals: what the reader refuses, with which answer,
// on either parsing path, from raw bytes.
func TestReadRequestRefusals(t *testing.T) {
	lim := defaultLimits(t)
	small := *lim
	small.maxHead, small.maxFields, small.maxLine, small.maxField = 200, 3, 40, 30
	tiny := small
	tiny.maxHead = 80
	tests := []struct {
		name   string
		lim    *Limits
		raw    string
		status int
		msg    string
	}{
		{"CL.TE", lim, "POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: b\r\n\r\n", 400, "both Transfer-Encoding and Content-Length"},
		{"no Host", lim, "GET / HTTP/1.1\r\n\r\n", 400, "HTTP/1.1 request without a Host field"},
		{"HTTP/1.0 chunked", lim, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0 request"},
		{"obsolete line folding", lim, "GET / HTTP/1.1\r\nHost: b\r\nX-A: 1\r\n 2\r\n\r\n", 400, "obsolete line folding"},
		{"folded Transfer-Encoding", lim, "POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", 400, "obsolete line folding"},
		{"white space before the colon", lim, "POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding : chunked\r\n\r\n", 400, "malformed header field line"},
		{"HTTP/2.0 line", lim, "GET / HTTP/2.0\r\nHost: b\r\n\r\n", 400, "unsupported protocol version"},
		{"gzip coding", lim, "POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "transfer codings other than chunked are not supported"},
		{"huge length", lim, "POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 999999999999999999\r\n\r\n", 413, "request body larger than the limit"},
		{"request line", &small, "GET /" + strings.Repeat("a", 40) + " HTTP/1.1\r\nHost: b\r\n\r\n", 414, "request line too long"},
		{"request line in progress", &small, "GET /" + strings.Repeat("a", 40), 414, "request line too long"},
		{"field line", &small, "GET / HTTP/1.1\r\nHost: b\r\nX: " + strings.Repeat("v", 30) + "\r\n\r\n", 431, "header field too large"},
		{"field line in progress", &small, "GET / HTTP/1.1\r\nHost: b\r\nX: " + strings.Repeat("v", 30), 431, "header field too large"},
		{"field count", &small, "GET / HTTP/1.1\r\nHost: b\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431, "too many header fields"},
		{"whole head", &tiny, "GET / HTTP/1.1\r\nHost: " + strings.Repeat("b", 20) + "\r\nA: " + strings.Repeat("1", 25) + "\r\nB: " + strings.Repeat("2", 25) + "\r\n\r\n", 431, "request headers too large"},
		{"whole head in progress", &tiny, "GET / HTTP/1.1\r\nHost: " + strings.Repeat("b", 20) + "\r\nA: " + strings.Repeat("1", 25) + "\r\nB: " + strings.Repeat("2", 25), 431, "request headers too large"},
		{"under every limit", &small, "GET / HTTP/1.1\r\nHost: " + strings.Repeat("b", 20) + "\r\nA: " + strings.Repeat("1", 25) + "\r\nB: " + strings.Repeat("2", 25) + "\r\n\r\n", 0, ""},
		{"head over 60 KiB", lim, "GET / HTTP/1.1\r\nHost: b\r\n" + strings.Repeat("X-Field: "+strings.Repeat("v", 1000)+"\r\n", 70) + "\r\n", 431, "request headers too large"},
		{"101 fields", lim, "GET / HTTP/1.1\r\nHost: b\r\n" + strings.Repeat("X: v\r\n", 100) + "\r\n", 431, "too many header fields"},
		{"100 fields", lim, "GET / HTTP/1.1\r\nHost: b\r\n" + strings.Repeat("X: v\r\n", 99) + "\r\n", 0, ""},
		{"head over the buffer, under the limit", lim, "GET / HTTP/1.1\r\nHost: b\r\n" + strings.Repeat("X-Field: "+strings.Repeat("v", 1000)+"\r\n", 40) + "\r\n", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rd := pipeReader(t, tc.raw, tc.lim)
			_, err := readNext(rd)
			var got DownstreamError
			if de := (*DownstreamError)(nil); errors.As(err, &de) {
				got = *de
			} else if err != nil {
				t.Fatalf("error %v, want a DownstreamError", err)
			}
			want := DownstreamError{Status: tc.status, Msg: tc.msg}
			if tc.status != 0 && tc.status != http.StatusRequestTimeout {
				want.Flags = FlagDPE
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(DownstreamError{})); diff != "" {
				t.Errorf("refusal (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChunkedBody: strict chunked bodies, read whole and via WriteTo.
func TestChunkedBody(t *testing.T) {
	head := "POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n"
	tests := []struct {
		name, body string
		want       string // the body read, or the error's message
		status     int
	}{
		{"chunks and extensions", "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n", "hello world", 0},
		{"trailers dropped", "3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n", "abc", 0},
		{"zz", "zz\r\nhello\r\n0\r\n\r\n", "invalid chunk size line", 400},
		{"-5", "-5\r\nhello\r\n0\r\n\r\n", "invalid chunk size line", 400},
		{"0x5", "0x5\r\nhello\r\n0\r\n\r\n", "invalid chunk size line", 400},
		{"twenty f's", strings.Repeat("f", 20) + "\r\nhello\r\n0\r\n\r\n", "invalid chunk size line", 400},
		{"missing CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n", "chunk data not followed by CRLF", 400},
		{"LF-only lines", "5\nhello\n0\n\n", "invalid chunk size line", 400},
		{"LF after data", "5\r\nhello\n0\r\n\r\n", "chunk data not followed by CRLF", 400},
		{"LF-only trailer end", "5\r\nhello\r\n0\r\n\n", "trailer line not ended by CRLF", 400},
		{"bad trailer", "5\r\nhello\r\n0\r\nno colon\r\n\r\n", "malformed trailer field", 400},
		{"ends early", "5\r\nhel", "the request body ended early", 400},
		{"no last chunk", "5\r\nhello\r\n", "the request body ended early", 400},
		{"long size line", "5;" + strings.Repeat("e", maxChunkLine) + "\r\nhello\r\n0\r\n\r\n", "chunked body line longer than 4096 bytes", 400},
	}
	for _, tc := range tests {
		for _, via := range []string{"Read", "WriteTo"} {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				rd := pipeReader(t, head+tc.body, defaultLimits(t))
				req, err := readNext(rd)
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if via == "Read" {
					_, err = io.Copy(&buf, struct{ io.Reader }{req.Body})
				} else {
					_, err = req.Body.(io.WriterTo).WriteTo(&buf)
				}
				got, status := buf.String(), 0
				if de := (*DownstreamError)(nil); errors.As(err, &de) {
					got, status = de.Msg, de.Status
				} else if err != nil {
					t.Fatalf("error %v, want a DownstreamError", err)
				}
				if got != tc.want || status != tc.status {
					t.Errorf("got %q, %d; want %q, %d", got, status, tc.want, tc.status)
				}
			})
		}
	}
}

// TestChunkedBodyLimit: a chunked body growing past the body limit is
// cut with 413.
func TestChunkedBodyLimit(t *testing.T) {
	lim := defaultLimits(t)
	lim.maxBody = 8
	rd := pipeReader(t, "POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", lim)
	req, err := readNext(rd)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(req.Body)
	var de *DownstreamError
	if !errors.As(err, &de) || de.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("error %v, want a 413", err)
	}
}

var framingSeeds = []string{
	"GET / HTTP/1.1\r\nHost: b\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: b\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: b\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\nHost: b\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\nHost: b\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n",
	"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi",
	"POST http://b/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: b\r\nX: 1\r\n 2\r\n\r\n",
}

// FuzzRequestFraming: whatever the bytes, reading a request never
// panics; a refusal is a DownstreamError with a client error status;
// and a request the proxy accepts, net/http (the framing most pods read
// with) reads with the same body and leaves the same bytes for the next
// request - no message is framed one way at the edge and another behind
// it.
func FuzzRequestFraming(f *testing.F) {
	for _, s := range framingSeeds {
		f.Add(s)
	}
	lim, err := EdgeOptions{}.Limits()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		rd := pipeReader(t, raw, lim)
		req, err := readNext(rd)
		if err != nil {
			var de *DownstreamError
			if errors.As(err, &de) {
				if de != errHeadAbandoned && (de.Status < 400 || de.Status > 501 || de.Flags != FlagDPE) {
					t.Fatalf("%q: refused with %d %q %q", raw, de.Status, de.Flags, de.Msg)
				}
			} else if err != io.EOF {
				t.Fatalf("%q: error %v", raw, err)
			}
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			var de *DownstreamError
			if !errors.As(err, &de) {
				t.Fatalf("%q: body error %v is not a DownstreamError", raw, err)
			}
			return
		}
		rest, _ := io.ReadAll(rd.br)
		br := bufio.NewReader(strings.NewReader(raw))
		want, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		wantBody, err := io.ReadAll(want.Body)
		if err != nil {
			return
		}
		wantRest, _ := io.ReadAll(br)
		if !bytes.Equal(body, wantBody) || !bytes.Equal(rest, wantRest) {
			t.Errorf("%q: framed as body %q then %q; net/http: body %q then %q", raw, body, rest, wantBody, wantRest)
		}
	})
}

func TestFramingSeeds(t *testing.T) {
	// The seeds run as part of FuzzRequestFraming; this names what they
	// must give.
	want := []string{"ok", "ok", "ok", "400", "400", "ok", "body 400", "body 400", "400", "ok", "501", "400"}
	for i, raw := range framingSeeds {
		rd := pipeReader(t, raw, defaultLimits(t))
		got := "ok"
		req, err := readNext(rd)
		var de *DownstreamError
		switch {
		case errors.As(err, &de):
			got = strconv.Itoa(de.Status)
		case err != nil:
			t.Fatalf("%q: %v", raw, err)
		default:
			if _, err := io.ReadAll(req.Body); errors.As(err, &de) {
				got = "body " + strconv.Itoa(de.Status)
			}
		}
		if got != want[i] {
			t.Errorf("%q: %s, want %s", raw, got, want[i])
		}
	}
}

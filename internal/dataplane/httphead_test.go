package dataplane

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// parsedRequest is what the proxy uses of a request, for comparisons.
type parsedRequest struct {
	Method, RequestURI, Host string
	URL                      url.URL
	Header                   http.Header
	ContentLength            int64
	Close                    bool
	Body                     string
}

func summarize(req *http.Request) parsedRequest {
	b, _ := io.ReadAll(req.Body)
	return parsedRequest{Method: req.Method, RequestURI: req.RequestURI, Host: req.Host, URL: *req.URL,
		Header: req.Header, ContentLength: req.ContentLength, Close: req.Close, Body: string(b)}
}

// readFast reads one request as a proxy connection does; fast reports
// whether the simple-head parser took it (rather than the slow path).
func readFast(tb testing.TB, raw string) (req *http.Request, fast bool, err error) {
	rd := pipeReader(tb, raw, defaultLimits(tb))
	req, err = readNext(rd)
	return req, req == &rd.req, err
}

func TestParseRequestHead(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		fast bool
		want parsedRequest // when fast
	}{
		{"get", "GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: svc:8080\r\nUser-Agent: t\r\n\r\n", true, parsedRequest{
			Method: "GET", RequestURI: "/a/b?x=1&y=%20", Host: "svc:8080", URL: url.URL{Path: "/a/b", RawQuery: "x=1&y=%20"},
			Header: http.Header{"User-Agent": {"t"}}, ContentLength: 0}},
		{"absolute-form (HTTP_PROXY client), Host field ignored", "GET http://sample.bench:8080/p HTTP/1.1\r\nHost: other\r\n\r\n", true, parsedRequest{
			Method: "GET", RequestURI: "http://sample.bench:8080/p", Host: "sample.bench:8080", URL: url.URL{Scheme: "http", Host: "sample.bench:8080", Path: "/p"},
			Header: http.Header{}}},
		{"absolute-form without a path", "GET http://b HTTP/1.1\r\n\r\n", true, parsedRequest{
			Method: "GET", RequestURI: "http://b", Host: "b", URL: url.URL{Scheme: "http", Host: "b"}, Header: http.Header{}}},
		{"body, names canonicalised, values trimmed, repeated fields kept in order", "POST /p HTTP/1.1\r\nhost: b\r\ncontent-length: 5\r\nx-a:  1 \r\nX-A:\t2\r\nconnection: Keep-Alive, Close\r\n\r\nhello", true, parsedRequest{
			Method: "POST", RequestURI: "/p", Host: "b", URL: url.URL{Path: "/p"},
			Header:        http.Header{"Content-Length": {"5"}, "X-A": {"1", "2"}, "Connection": {"Keep-Alive, Close"}},
			ContentLength: 5, Close: true, Body: "hello"}},
		{"empty query", "GET /p? HTTP/1.1\r\nHost: b\r\n\r\n", true, parsedRequest{
			Method: "GET", RequestURI: "/p?", Host: "b", URL: url.URL{Path: "/p", ForceQuery: true}, Header: http.Header{}}},
		{"chunked: slow path", "POST /p HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, parsedRequest{}},
		{"expect: slow path", "POST /p HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\nx", false, parsedRequest{}},
		{"upgrade: slow path", "GET /ws HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", false, parsedRequest{}},
		{"HTTP/1.0: slow path", "GET / HTTP/1.0\r\nHost: b\r\n\r\n", false, parsedRequest{}},
		{"bare LF: slow path", "GET / HTTP/1.1\nHost: b\n\n", false, parsedRequest{}},
		{"escaped path: slow path", "GET /a%2Fb HTTP/1.1\r\nHost: b\r\n\r\n", false, parsedRequest{}},
		{"two equal Content-Lengths: slow path", "POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", false, parsedRequest{}},
		{"IPv6 host: slow path", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", false, parsedRequest{}},
		{"CONNECT: slow path", "CONNECT b:443 HTTP/1.1\r\nHost: b:443\r\n\r\n", false, parsedRequest{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, fast, err := readFast(t, tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if fast != tc.fast {
				t.Fatalf("fast = %v, want %v", fast, tc.fast)
			}
			if !tc.fast {
				return
			}
			if diff := cmp.Diff(tc.want, summarize(req)); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			if req.RemoteAddr != "1.2.3.4:5" {
				t.Errorf("RemoteAddr %q", req.RemoteAddr)
			}
		})
	}
}

// TestReqReaderReuse: pipelined requests on one connection, each parsed
// into the same objects, none leaking into the next.
func TestReqReaderReuse(t *testing.T) {
	raw := "POST /1 HTTP/1.1\r\nHost: b\r\nX-Only-First: 1\r\nContent-Length: 3\r\n\r\nabc" +
		"GET /2?q HTTP/1.1\r\nHost: c\r\n\r\n" +
		"GET /3 HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n" +
		"GET /4 HTTP/1.1\r\nHost: e\r\n\r\n"
	rd := pipeReader(t, raw, defaultLimits(t))
	var got []string
	for {
		req, err := readNext(rd)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(req.Body)
		got = append(got, req.Method+" "+req.Host+" "+req.URL.RequestURI()+" "+string(b)+" "+strings.Join(req.Header.Values("X-Only-First"), ","))
	}
	want := []string{"POST b /1 abc 1", "GET c /2?q  ", "GET d /3 z ", "GET e /4  "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestParseResponseHead(t *testing.T) {
	tests := []struct {
		name, raw string
		ok        bool
		want      responseHead
	}{
		{"ok", "HTTP/1.1 200 OK\r\nContent-Length: 12\r\ncontent-type: text/plain\r\n\r\n", true, responseHead{
			headCommon: headCommon{fields: []headField{{"Content-Length", "12"}, {"Content-Type", "text/plain"}}, contentLength: 12, clValue: "12"},
			status:     "200 OK", code: 200}},
		{"no reason, close", "HTTP/1.1 503\r\nConnection: close\r\n\r\n", true, responseHead{
			headCommon: headCommon{fields: []headField{{"Connection", "close"}}, contentLength: -1, close: true}, status: "503", code: 503}},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nContent-Type: application/json\r\n\r\n", true, responseHead{
			headCommon: headCommon{fields: []headField{{"Content-Type", "application/json"}}, contentLength: -1}, status: "200 OK", code: 200, chunked: true}},
		{"chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", false, responseHead{}},
		{"gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, responseHead{}},
		{"chunked and a length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", false, responseHead{}},
		{"a length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", false, responseHead{}},
		{"1xx", "HTTP/1.1 100 Continue\r\n\r\n", false, responseHead{}},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\n\r\n", false, responseHead{}},
		{"bad code", "HTTP/1.1 2x0 OK\r\n\r\n", false, responseHead{}},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, responseHead{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h responseHead
			ok := parseResponseHead(tc.raw, &h)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok {
				if diff := cmp.Diff(tc.want, h, cmp.AllowUnexported(responseHead{}, headCommon{}, headField{})); diff != "" {
					t.Errorf("head (-want +got):\n%s", diff)
				}
				checkResponseAgrees(t, tc.raw)
			}
		})
	}
}

func TestHeadEnd(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\n\r\nrest", 18},
		{"GET / HTTP/1.1\r\nHost: b\r\n", -1},
		{"GET / HTTP/1.1\n\nrest", 16},
		{"\r\n", -1},
		{"\n\n", 2},
		{"", -1},
	}
	for _, tc := range tests {
		if got := headEnd([]byte(tc.in)); got != tc.want {
			t.Errorf("headEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// checkRequestAgrees: when the proxy's reader takes raw on its fast path,
// net/http reads the same request from it.
func checkRequestAgrees(t *testing.T, raw string) {
	t.Helper()
	got, fast, err := readFast(t, raw)
	if err != nil || !fast {
		return
	}
	want, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("fast path took %q, net/http refuses it: %v", raw, err)
	}
	if diff := cmp.Diff(summarize(want), summarize(got)); diff != "" {
		t.Errorf("%q: fast path and net/http differ (-net/http +fast):\n%s", raw, diff)
	}
	w := &respWriter{d: &downConn{st: &connState{rd: &reqReader{}}}, req: got}
	w.d.st.rd.origin = fastOrigin(t, raw)
	if got, want := w.Target(), want.URL.RequestURI(); got != want {
		t.Errorf("%q: target %q, net/http's request URI %q", raw, got, want)
	}
}

// fastOrigin is the origin-form target the simple parser gives raw.
func fastOrigin(t *testing.T, raw string) string {
	t.Helper()
	var h requestHead
	n := headEnd([]byte(raw))
	if n < 0 || !parseRequestHead(raw[:n], &h) {
		t.Fatalf("%q: the simple parser does not take it", raw)
	}
	return h.origin
}

// checkResponseAgrees: when the response parser takes raw, net/http reads
// the same status, header, length and Close from it.
func checkResponseAgrees(t *testing.T, raw string) {
	t.Helper()
	var h responseHead
	if !parseResponseHead(raw, &h) {
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("parser took %q, net/http refuses it: %v", raw, err)
	}
	header, _ := headerOf(h.fields, http.Header{}, nil)
	type summary struct {
		Code   int
		Status string
		Header http.Header
		Length int64
		Close  bool
	}
	want := summary{resp.StatusCode, resp.Status, resp.Header, resp.ContentLength, resp.Close}
	got := summary{h.code, h.status, header, h.contentLength, h.close}
	switch {
	case h.code == http.StatusNoContent || h.code == http.StatusNotModified:
		got.Length = 0 // no body, whatever the head says
	case h.contentLength < 0 && !h.chunked:
		got.Length, got.Close = -1, true // net/http: read until the connection closes
	}
	if h.close {
		// net/http drops "Connection: close" from a response it read; the
		// proxy drops it as a hop-by-hop field.
		got.Header.Del("Connection")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%q: parser and net/http differ (-net/http +parser):\n%s", raw, diff)
	}
}

var requestSeeds = []string{
	"GET / HTTP/1.1\r\nHost: b\r\n\r\n",
	"GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: svc:8080\r\nUser-Agent: t\r\nCookie: tenantGray=1\r\n\r\n",
	"GET http://sample.bench:8080/p HTTP/1.1\r\nHost: other\r\n\r\n",
	"GET http://b:80 HTTP/1.1\r\n\r\n",
	"GET http://b/x?q=1&r HTTP/1.1\r\nHost: b\r\n\r\n",
	"POST /p HTTP/1.1\r\nhost: b\r\ncontent-length: 5\r\nx-a:  1 \r\nX-A:\t2\r\nconnection: Keep-Alive, Close\r\n\r\nhello",
	"GET /p? HTTP/1.1\r\nHost: b\r\nPragma: no-cache\r\n\r\n",
	"GET / HTTP/1.1\nHost: b\n\n",
	"GARBAGE\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: b\r\nBad Name: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: b\r\nX: a\x00b\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\nab",
}

func FuzzParseRequestHead(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var h requestHead
		parseRequestHead(raw, &h) // never panics, whatever it is given
		checkRequestAgrees(t, raw)
	})
}

func FuzzParseResponseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 999\r\nX:  y \r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		checkResponseAgrees(t, raw)
	})
}

func TestRequestSeedsAgree(t *testing.T) {
	for _, s := range requestSeeds {
		checkRequestAgrees(t, s)
	}
}

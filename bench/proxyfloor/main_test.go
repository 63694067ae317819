package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestForwarders sends keep-alive requests through each design to a real
// backend and checks every answer, and that connections are reused.
func TestForwarders(t *testing.T) {
	var conns atomic.Int64
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "path %s", r.URL.Path)
	}))
	backend.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	backend.Start()
	defer backend.Close()
	upstream := strings.TrimPrefix(backend.URL, "http://")
	for _, mode := range []string{"goroutine", "epoll"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "epoll" && runtime.GOOS != "linux" {
				t.Skip("-mode epoll needs Linux")
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			before := conns.Load()
			if mode == "goroutine" {
				go func() { _ = serveGoroutines(ln, upstream) }()
			} else {
				go func() { _ = serveEpoll(ln, upstream) }()
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			defer client.CloseIdleConnections()
			for i := range 50 {
				resp, err := client.Get(fmt.Sprintf("http://%s/r%d", ln.Addr(), i))
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if diff := cmp.Diff(fmt.Sprintf("path /r%d", i), string(body)); diff != "" {
					t.Errorf("request %d (-want +got):\n%s", i, diff)
				}
			}
			if got := conns.Load() - before; got != 1 {
				t.Errorf("upstream connections for 50 sequential keep-alive requests: got %d, want 1", got)
			}
			// A new connection per request, with collections in
			// between: nothing the loop needs may be finalized, and
			// the listener must stay non-blocking.
			fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			for i := range 30 {
				if i%10 == 0 {
					runtime.GC()
				}
				resp, err := fresh.Get(fmt.Sprintf("http://%s/f%d", ln.Addr(), i))
				if err != nil {
					t.Fatalf("fresh request %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if diff := cmp.Diff(fmt.Sprintf("path /f%d", i), string(body)); diff != "" {
					t.Errorf("fresh request %d (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestAnswerLen(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 40},
		{"HTTP/1.1 200 OK\r\ncontent-length:2\r\n\r\no", 0},
		{"HTTP/1.1 204 No Content\r\n\r\n", 27},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", 0},
	} {
		if got := answerLen([]byte(tc.in)); got != tc.want {
			t.Errorf("answerLen(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

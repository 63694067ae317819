package embedded

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/dataplane"
)

const faultRoutes = `apiVersion: v1
kind: Service
metadata: {name: b}
spec: {selector: {app: b}, ports: [{port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b}
spec:
  hosts: [b]
  http:
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 555, percentage: {value: 100}}}
    route: [{destination: {host: b}}]
  - match: [{uri: {prefix: /delay}}]
    fault: {delay: {fixedDelay: 0.030s, percentage: {value: 100}}}
    route: [{destination: {host: b}}]
  - match: [{uri: {prefix: /both}}]
    fault:
      delay: {fixedDelay: 0.001s, percentage: {value: 100}}
      abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}
    route: [{destination: {host: b}}]
  - match: [{uri: {prefix: /hold}}]
    fault: {delay: {fixedDelay: 3600s, percentage: {value: 100}}}
    route: [{destination: {host: b}}]
  - match: [{uri: {prefix: /missing-abort}}]
    fault: {abort: {httpStatus: 556, percentage: {value: 100}}}
    route: [{destination: {host: b, subset: v9}}]
  - match: [{uri: {prefix: /missing-delay}}]
    fault: {delay: {fixedDelay: 0.030s, percentage: {value: 100}}}
    route: [{destination: {host: b, subset: v9}}]
  - match: [{uri: {prefix: /never}}]
    fault: {abort: {httpStatus: 500, percentage: {value: 0}}}
    route: [{destination: {host: b}}]
`

// Faults as Envoy's fault filter injects them, on real connections: an
// abort answers without reaching the pod (FI, "fault filter abort"), a
// delay waits and then forwards (DI), a gRPC abort answers 200 with
// grpc-status, 0% injects nothing, and a client leaving during a delay
// ends the request (DI,DC) without reaching the pod.
func TestFaultInjection(t *testing.T) {
	var reached atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = io.WriteString(w, "pod")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	rt, l := serveRouted(t, dataplane.EdgeOptions{}, faultRoutes, readyPod("b", "v1", ln.Addr().String()))

	proxy, _ := url.Parse("http://" + l.addr)
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	type answer struct {
		code       int
		body, grpc string
	}
	get := func(path string) answer {
		t.Helper()
		resp, err := client.Get("http://b" + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, string(b), resp.Header.Get("Grpc-Status")}
	}
	for _, tt := range []struct {
		path    string
		want    answer
		reaches bool
	}{
		{"/abort", answer{555, "fault filter abort", ""}, false},
		{"/delay", answer{200, "pod", ""}, true},
		{"/both", answer{200, "", "14"}, false},
		{"/never", answer{200, "pod", ""}, true},
		// Envoy's fault filter runs before its router finds no
		// cluster for the missing subset v9.
		{"/missing-abort", answer{556, "fault filter abort", ""}, false},
		{"/missing-delay", answer{503, "no healthy upstream", ""}, false},
	} {
		before := reached.Load()
		start := time.Now()
		got := get(tt.path)
		if tt.path == "/missing-delay" {
			got.body, _, _ = strings.Cut(got.body, ":") // then why: no subset v9
		}
		if got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.path, got, tt.want)
		}
		if got := reached.Load() > before; got != tt.reaches {
			t.Errorf("%s: reached the pod %v, want %v", tt.path, got, tt.reaches)
		}
		if strings.HasSuffix(tt.path, "delay") && time.Since(start) < 30*time.Millisecond {
			t.Errorf("%s answered before its 30ms delay", tt.path)
		}
	}

	// A client that leaves during the delay: the request ends (DI,DC)
	// and never reaches the pod.
	before := reached.Load()
	c, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET http://b/hold HTTP/1.1\r\nHost: b\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The delay has begun once the request is in flight on the listener;
	// closing now is "during the delay" whatever the machine's speed,
	// since the delay is an hour.
	c.Close()
	want := []string{
		"source t 0 DI,DC b unknown = 1",
		"source t 200 - b b = 1",
		"source t 200 DI b b = 1",
		"source t 200 DI,FI b unknown = 1",
		"source t 503 NR,DI b unknown = 1",
		"source t 555 FI b unknown = 1",
		"source t 556 FI b unknown = 1",
	}
	deadline := time.Now().Add(2 * time.Minute) // bounds a hang, not speed
	var got []string
	for {
		got = nil
		for _, s := range requestSeries(t, rt.metrics) {
			if strings.HasPrefix(s, "source ") {
				got = append(got, s)
			}
		}
		if slices.Contains(got, want[0]) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !slices.Equal(got, want) {
		t.Errorf("source series:\n got %q\nwant %q", got, want)
	}
	if reached.Load() != before {
		t.Errorf("the request whose client left during the delay reached the pod")
	}
}

const delayTimeoutRoutes = `apiVersion: v1
kind: Service
metadata: {name: b}
spec: {selector: {app: b}, ports: [{port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b}
spec:
  hosts: [b]
  http:
  - match: [{uri: {prefix: /fast}}]
    fault: {delay: {fixedDelay: 0.3s, percentage: {value: 100}}}
    timeout: 0.1s
    route: [{destination: {host: b}}]
  - match: [{uri: {prefix: /hang}}]
    fault: {delay: {fixedDelay: 0.01s, percentage: {value: 100}}}
    timeout: 0.1s
    route: [{destination: {host: b}}]
`

// A fault delay longer than the route's timeout: Envoy's fault filter
// delays the request before the router filter, and the route timeout
// (route.v3.RouteAction.timeout) starts in the router, so a pod that
// answers at once answers 200 after the delay (DI), while a pod that
// never answers gets 504 "upstream request timeout" (UT,DI: Envoy writes
// flags in its enum order) once the
// timeout has run after the delay.
func TestFaultDelayThenTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hang := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/hang") {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = io.WriteString(w, "pod")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { close(hang); srv.Close() })
	rt, l := serveRouted(t, dataplane.EdgeOptions{}, delayTimeoutRoutes, readyPod("b", "v1", ln.Addr().String()))

	proxy, _ := url.Parse("http://" + l.addr)
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	for _, tt := range []struct {
		path string
		code int
		body string
	}{
		{"/fast", 200, "pod"},
		{"/hang", 504, "upstream request timeout"},
	} {
		resp, err := client.Get("http://b" + tt.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || strings.TrimSpace(string(b)) != tt.body {
			t.Errorf("%s: %d %q, want %d %q", tt.path, resp.StatusCode, b, tt.code, tt.body)
		}
	}
	var got []string
	for _, s := range requestSeries(t, rt.metrics) {
		if strings.HasPrefix(s, "source ") {
			got = append(got, s)
		}
	}
	want := []string{"source t 200 DI b b = 1", "source t 504 UT,DI b b = 1"}
	if !slices.Equal(got, want) {
		t.Errorf("source series:\n got %q\nwant %q", got, want)
	}
}

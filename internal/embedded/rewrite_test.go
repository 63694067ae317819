package embedded

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/route"
)

// The destination sees the path Envoy would send: rewrite.uri swaps only
// the matched prefix and keeps the query; uriRegexRewrite substitutes;
// rewrite.authority sets the Host.
func TestRewriteReachesUpstream(t *testing.T) {
	type seen struct{ target, host string }
	got := make(chan seen, 1)
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.RequestURI, r.Host}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = backend.Serve(ln) }()
	defer backend.Close()
	rt, err := New(Options{AdminAddr: "127.0.0.1:0", WatchInterval: -1, Executable: graylaneBin}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p := &pod{spec: podSpec{name: "b-0", namespace: "default", labels: map[string]string{"app": "b"}}, addr: ln.Addr().String()}
	p.ready.Store(true)
	set := mustLoadBytes(t, `apiVersion: v1
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
  - match: [{uri: {prefix: /api/}}]
    rewrite: {uri: /v2/}
    route: [{destination: {host: b}}]
  - match: [{uri: {prefix: /z2m}}]
    rewrite: {uriRegexRewrite: {match: "^/z2m(/|$)(.*)", rewrite: '/\2'}, authority: inner.example}
    route: [{destination: {host: b}}]
  - route: [{destination: {host: b}}]
`)
	in := expand.RouteInput(set)
	rt.swap(route.Compile(in), in.Services)
	rt.cfg.Load().pods = []*pod{p}
	for _, tt := range []struct{ target, wantTarget, wantHost string }{
		{"/api/items?x=1", "/v2/items?x=1", "b"},
		{"/z2m/devices?all=1", "/devices?all=1", "inner.example"},
		{"/plain?q", "/plain?q", "b"},
	} {
		req := httptest.NewRequest(http.MethodGet, "http://b"+tt.target, nil)
		w := httptest.NewRecorder()
		rt.forward(w, req, &caller{source: route.Source{Namespace: "default"}, workload: "t"})
		if w.Code != 200 {
			t.Fatalf("%s: status %d: %s", tt.target, w.Code, w.Body)
		}
		if s := <-got; s.target != tt.wantTarget || s.host != tt.wantHost {
			t.Errorf("%s: upstream saw %s (Host %s), want %s (Host %s)", tt.target, s.target, s.host, tt.wantTarget, tt.wantHost)
		}
	}
}

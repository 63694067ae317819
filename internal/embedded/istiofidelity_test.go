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

// The runtime applies the route table's Istio semantics as they are: a
// gateway server with tls.httpsRedirect answers plain HTTP with 301 to
// https, a VirtualService exported to "." is private to its namespace,
// and weights are relative (a single destination of weight 50 gets every
// request).
func TestRuntimeIstioFidelity(t *testing.T) {
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
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
	p := &pod{spec: podSpec{name: "web-0", namespace: "shop", labels: map[string]string{"app": "web"}}, addr: ln.Addr().String()}
	p.ready.Store(true)
	set := mustLoadBytes(t, `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [secure.example.com]
    tls: {httpsRedirect: true}
  - port: {number: 80, name: http-plain, protocol: HTTP}
    hosts: [plain.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge, namespace: shop}
spec:
  hosts: [secure.example.com, plain.example.com]
  gateways: [istio-system/edge]
  http: [{route: [{destination: {host: web.shop.svc.cluster.local}, weight: 50}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web-private, namespace: shop}
spec:
  hosts: [web.shop.svc.cluster.local]
  exportTo: ["."]
  http: [{directResponse: {status: 418}}]
`)
	in := expand.RouteInput(set)
	rt.swap(route.Compile(in), in.Services)
	rt.cfg.Load().pods = []*pod{p}
	gateway := &caller{gateways: []string{"istio-system/edge"}, workload: "gw"}
	tests := []struct {
		name         string
		url          string
		caller       *caller
		wantCode     int
		wantLocation string
	}{
		{"httpsRedirect server", "http://secure.example.com/p?q=1", gateway, 301, "https://secure.example.com/p?q=1"},
		{"plain server, single destination of weight 50", "http://plain.example.com/p", gateway, 200, ""},
		{"exportTo . seen from its namespace", "http://web.shop.svc.cluster.local/", &caller{source: route.Source{Namespace: "shop"}, workload: "t"}, 418, ""},
		{"exportTo . not seen from another namespace", "http://web.shop.svc.cluster.local/", &caller{source: route.Source{Namespace: "default"}, workload: "t"}, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.url, nil)
			w := httptest.NewRecorder()
			rt.forward(w, req, tc.caller)
			if w.Code != tc.wantCode || w.Header().Get("Location") != tc.wantLocation {
				t.Errorf("got %d Location %q, want %d Location %q (body %q)", w.Code, w.Header().Get("Location"), tc.wantCode, tc.wantLocation, w.Body)
			}
		})
	}
}

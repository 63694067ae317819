package simulate_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
	"github.com/graylane/graylane/internal/simulate"
)

const external = `apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-v1}
spec:
  selector: {matchLabels: {app: web, version: v1}}
  template:
    metadata: {labels: {app: web, version: v1}}
    spec: {containers: [{name: web, image: web}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: pay, namespace: default}
spec:
  hosts: [pay.example.com]
  ports: [{number: 8443, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, labels: {version: v1}}
  - {address: 10.0.0.2, ports: {http: 8080}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pay}
spec:
  host: pay.example.com
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pay}
spec:
  hosts: [pay.example.com]
  http:
  - match: [{headers: {x-pay: {exact: v3}}}]
    route: [{destination: {host: pay.example.com, subset: v3}}]
  - match: [{headers: {x-pay: {exact: v1}}}]
    route: [{destination: {host: pay.example.com, subset: v1}}]
  - route: [{destination: {host: pay.example.com, subset: v2}}]
`

// TestLeavingTheMesh: a call to a ServiceEntry host leaves the mesh to
// the entry's endpoints (a subset's, by their labels), one to a host
// nothing defines to that host (PassthroughCluster); neither is a 503.
// A subset no endpoint carries the labels of is (no healthy upstream);
// under registry-only an unknown host is 502.
func TestLeavingTheMesh(t *testing.T) {
	set, err := manifest.LoadBytes("external.yaml", []byte(external))
	if err != nil {
		t.Fatal(err)
	}
	svcs, ws := expand.Inventory(set)
	tests := []struct {
		name         string
		calls        string
		header       http.Header
		outbound     route.OutboundPolicy
		wantPath     string
		wantEndpoint []string
		wantFindings []string
	}{
		{"ServiceEntry, subset v2", "web->pay.example.com", nil, route.AllowAny, "web:v1 -> pay.example.com:external", []string{"10.0.0.2:8080"},
			[]string{"host pay.example.com leaves the mesh to ServiceEntry default/pay (resolution STATIC): 10.0.0.2:8080"}},
		{"ServiceEntry, subset v1 by default port", "web->pay.example.com", http.Header{"X-Pay": {"v1"}}, route.AllowAny, "web:v1 -> pay.example.com:external", []string{"10.0.0.1:8443"},
			[]string{"host pay.example.com leaves the mesh to ServiceEntry default/pay (resolution STATIC): 10.0.0.1:8443"}},
		{"ServiceEntry, a subset no endpoint has", "web->pay.example.com", http.Header{"X-Pay": {"v3"}}, route.AllowAny, "web:v1 -> pay.example.com:503", nil,
			[]string{"no endpoint of ServiceEntry default/pay (resolution STATIC) carries the labels {version=v3} of subset v3: Envoy answers 503 no healthy upstream"}},
		{"a host nothing defines", "web->api.example.org", nil, route.AllowAny, "web:v1 -> api.example.org:passthrough", nil,
			[]string{"host api.example.org is neither a Service nor a ServiceEntry host: it leaves the mesh to the address the client named (PassthroughCluster, outbound traffic policy allow-any)"}},
		{"a host nothing defines, registry-only", "web->api.example.org", nil, route.RegistryOnly, "web:v1 -> api.example.org:502", nil,
			[]string{"host api.example.org is neither a Service nor a ServiceEntry host, and the outbound traffic policy is registry-only: the sidecar answers 502 (BlackHoleCluster)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, err := simulate.ParseCalls(tt.calls)
			if err != nil {
				t.Fatal(err)
			}
			in := expand.RouteInput(set)
			in.Outbound = tt.outbound
			header := http.Header{}
			for k, v := range tt.header {
				header[k] = v
			}
			entry := route.Request{Authority: "web", Path: "/", Header: header, Source: route.Source{Namespace: "default"}}
			rep, err := simulate.Run(route.Compile(in), svcs, ws, simulate.Options{Entry: entry, Calls: calls, Propagate: []string{"x-pay"}, Requests: 10, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{tt.wantPath}, paths(rep)); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEndpoint, rep.Paths[0].Hops.Calls[0].Endpoints); diff != "" {
				t.Errorf("endpoints (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantFindings, rep.Findings); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

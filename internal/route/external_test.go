package route

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const externalYAML = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: static, namespace: shop}
spec:
  hosts: [pay.example.com]
  ports:
  - {number: 80, name: http, protocol: HTTP, targetPort: 8080}
  - {number: 81, name: http-plain, protocol: HTTP}
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, labels: {version: v1}}
  - {address: 10.0.0.2, ports: {http: 9090}, labels: {version: v2}}
  - {address: unix:///var/run/pay.sock}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dns, namespace: shop}
spec: {hosts: [api.example.com], ports: [{number: 443, name: http-tls, protocol: HTTP}], resolution: DNS}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dns-eps, namespace: shop}
spec:
  hosts: [mirror.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
  endpoints: [{address: a.mirror.example.com}, {address: b.mirror.example.com, ports: {http: 8081}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild, namespace: shop}
spec: {hosts: ["*.cdn.example.com"], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: none, namespace: shop}
spec: {hosts: [any.example.com], ports: [{number: 80, name: http, protocol: HTTP}], resolution: NONE}
`

// TestExternalEndpoints: where each resolution sends a request, by port
// and subset labels (istio.io/api service_entry.proto, Resolution;
// workload_entry.proto, ports over targetPort).
func TestExternalEndpoints(t *testing.T) {
	tab := compileYAML(t, externalYAML)
	tests := []struct {
		name, host, authority string
		port                  uint32
		labels                map[string]string
		want                  []string
	}{
		{"STATIC: targetPort, else the endpoint's port by name; no unix socket", "pay.example.com", "pay.example.com", 80, nil, []string{"10.0.0.1:8080", "10.0.0.2:9090"}},
		{"STATIC: a port without targetPort keeps its number", "pay.example.com", "pay.example.com:81", 81, nil, []string{"10.0.0.1:81", "10.0.0.2:81"}},
		{"STATIC: a subset's labels select endpoints", "pay.example.com", "pay.example.com", 80, map[string]string{"version": "v2"}, []string{"10.0.0.2:9090"}},
		{"STATIC: labels no endpoint has", "pay.example.com", "pay.example.com", 80, map[string]string{"version": "v3"}, nil},
		{"DNS without endpoints: the host", "api.example.com", "api.example.com:443", 443, nil, []string{"api.example.com:443"}},
		{"DNS without endpoints, a subset: nothing carries its labels", "api.example.com", "api.example.com:443", 443, map[string]string{"version": "v1"}, nil},
		{"DNS with endpoints: their names", "mirror.example.com", "mirror.example.com", 80, nil, []string{"a.mirror.example.com:80", "b.mirror.example.com:8081"}},
		{"DNS, wildcard host: the host the client named", "x.cdn.example.com", "x.cdn.example.com", 80, nil, []string{"x.cdn.example.com:80"}},
		{"NONE: the address the client called", "any.example.com", "any.example.com", 80, map[string]string{"version": "v1"}, []string{"any.example.com:80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := tab.External(&Request{Source: Source{Namespace: "shop"}}, tt.host)
			if x == nil {
				t.Fatalf("no ServiceEntry for %s", tt.host)
			}
			var got []string
			for _, e := range x.Endpoints(tt.authority, tt.port, tt.labels) {
				got = append(got, e.Address)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("endpoints (-want +got):\n%s", diff)
			}
		})
	}
	if x := tab.External(&Request{Source: Source{Namespace: "shop"}}, "x.cdn.example.com"); x == nil || x.Host != "*.cdn.example.com" {
		t.Errorf("wildcard entry: %+v, want host *.cdn.example.com (Istio's destination_service)", x)
	}
}

// TestExternalPerAuthority: the endpoints depend on the authority the
// client named for NONE and for a wildcard DNS host without endpoints
// (so a proxy must not cache them per entry), not otherwise.
func TestExternalPerAuthority(t *testing.T) {
	tab := compileYAML(t, externalYAML)
	got := map[string]bool{}
	for _, host := range []string{"pay.example.com", "api.example.com", "mirror.example.com", "x.cdn.example.com", "any.example.com"} {
		x := tab.External(&Request{Source: Source{Namespace: "shop"}}, host)
		if x == nil {
			t.Fatalf("no ServiceEntry for %s", host)
		}
		got[host] = x.PerAuthority()
	}
	want := map[string]bool{"pay.example.com": false, "api.example.com": false, "mirror.example.com": false, "x.cdn.example.com": true, "any.example.com": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PerAuthority (-want +got):\n%s", diff)
	}
}

func TestParseOutboundPolicy(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    OutboundPolicy
		wantErr bool
	}{
		{"allow-any", AllowAny, false},
		{"ALLOW_ANY", AllowAny, false},
		{"registry-only", RegistryOnly, false},
		{"REGISTRY_ONLY", RegistryOnly, false},
		{"deny", AllowAny, true},
		{"", AllowAny, true},
	} {
		got, err := ParseOutboundPolicy(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseOutboundPolicy(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

package route

import (
	"strings"
	"testing"
)

// A destination host that no Service or ServiceEntry defines has no
// cluster in Envoy: 503, as on a mesh. When the input holds neither
// Services nor ServiceEntries, hosts are not judged (the user passed only
// routing objects).
func TestUnknownDestinationHost(t *testing.T) {
	const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: shop}
spec:
  hosts: [a]
  http:
  - match: [{uri: {prefix: /typo}}]
    route: [{destination: {host: nosuch}}]
  - match: [{uri: {prefix: /other-ns}}]
    route: [{destination: {host: a.web.svc.cluster.local}}]
  - match: [{uri: {prefix: /ip}}]
    route: [{destination: {host: 10.0.0.7}}]
  - match: [{uri: {prefix: /external}}]
    route: [{destination: {host: api.example.com}}]
  - route: [{destination: {host: a}}]
`
	const svc = `
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: shop}
spec: {selector: {app: a}, ports: [{port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec:
  hosts: [api.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
`
	full, bare := compileYAML(t, vs+svc), compileYAML(t, vs)
	for _, tt := range []struct {
		path       string
		full, bare int
	}{
		{"/typo", 503, 200},
		{"/other-ns", 503, 200}, // no Service a in namespace web
		{"/ip", 200, 200},
		{"/external", 200, 200},
		{"/", 200, 200},
	} {
		for _, c := range []struct {
			tab  *Table
			want int
		}{{full, tt.full}, {bare, tt.bare}} {
			r := req("GET", "http://a"+tt.path)
			r.Source.Namespace = "shop"
			res := c.tab.Evaluate(r)
			if res.Status != c.want {
				t.Errorf("%s (services known: %v): status %d, want %d (%+v)", tt.path, c.tab == full, res.Status, c.want, res.Route.Destinations)
			}
		}
	}
	var found bool
	for _, f := range full.Findings {
		if f.Path == "spec.http[0].route[0].destination.host" && strings.Contains(f.Message, "no Service or ServiceEntry for host nosuch.shop.svc.cluster.local") {
			found = true
		}
	}
	if !found {
		t.Errorf("no located finding for the unknown host: %v", full.Findings)
	}
}

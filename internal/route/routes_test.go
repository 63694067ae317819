package route

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestRoutesAndFindings(t *testing.T) {
	tab := compileYAML(t, `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pay, namespace: shop}
spec:
  host: pay
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: v1
kind: Service
metadata: {name: pay, namespace: shop}
spec:
  ports: [{port: 8080, name: http}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pay, namespace: shop}
spec:
  hosts: [pay]
  http:
  - name: old-api
    match: [{uri: {prefix: /v0/}}]
    redirect: {uri: /v1/, redirectCode: 308}
  - name: maintenance
    match: [{uri: {exact: /down}}]
    directResponse: {status: 503, body: {string: "maintenance"}}
  - name: v3-missing
    match: [{headers: {x-lane: {exact: v3}}}]
    route: [{destination: {host: pay, subset: v3}}]
  - name: split
    match: [{uri: {prefix: /api}}]
    rewrite: {uri: /}
    headers:
      request: {set: {x-route: split}, remove: [x-debug]}
      response: {add: {x-served-by: graylane}}
    route:
    - {destination: {host: pay, subset: v1}, weight: 75}
    - destination: {host: pay, subset: v2, port: {number: 9090}}
      weight: 25
      headers: {request: {set: {x-canary: "true"}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad-weights, namespace: shop}
spec:
  hosts: [ledger]
  http:
  - route:
    - {destination: {host: ledger, subset: v1}, weight: 60}
    - {destination: {host: ledger, subset: v2}, weight: -30}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pay-dup, namespace: shop}
spec:
  hosts: [pay.shop.svc.cluster.local]
  http: [{route: [{destination: {host: pay, subset: v2}}]}]
`)
	in := func(url string, h ...string) *Request {
		r := req("GET", url, h...)
		r.Source.Namespace = "shop"
		return r
	}

	res := tab.Evaluate(in("http://pay/v0/x"))
	if diff := cmp.Diff(&Redirect{URI: "/v1/", Code: 308}, res.Route.Redirect); diff != "" || res.Status != 308 {
		t.Errorf("redirect %d (-want +got):\n%s", res.Status, diff)
	}
	res = tab.Evaluate(in("http://pay/down"))
	if diff := cmp.Diff(&DirectResponse{Status: 503, Body: "maintenance"}, res.Route.DirectResponse); diff != "" || res.Status != 503 {
		t.Errorf("direct response %d (-want +got):\n%s", res.Status, diff)
	}
	res = tab.Evaluate(in("http://pay/", "x-lane: v3"))
	if res.Status != 503 || len(res.Route.Findings) != 1 || res.Route.Destinations[0].Problem == "" {
		t.Errorf("missing subset: status %d findings %v", res.Status, res.Route.Findings)
	}
	res = tab.Evaluate(in("http://pay/api/x"))
	want := &Route{
		VirtualService: "shop/pay", Index: 3, RootIndex: 3, Name: "split", Status: 200,
		Rewrite:         &Rewrite{URI: "/"},
		RequestHeaders:  &HeaderOps{Set: map[string]string{"x-route": "split"}, Remove: []string{"x-debug"}},
		ResponseHeaders: &HeaderOps{Add: map[string]string{"x-served-by": "graylane"}},
		Destinations: []Destination{
			{Host: "pay.shop.svc.cluster.local", Subset: "v1", Port: 8080, Weight: 75, Labels: map[string]string{"version": "v1"}, DestinationRule: "shop/pay"},
			{Host: "pay.shop.svc.cluster.local", Subset: "v2", Port: 9090, Weight: 25, Labels: map[string]string{"version": "v2"}, DestinationRule: "shop/pay",
				RequestHeaders: &HeaderOps{Set: map[string]string{"x-canary": "true"}}},
		},
		MatchNames: []string{""},
		Policy:     DefaultPolicy(),
	}
	if diff := cmp.Diff(want, res.Route, cmpopts.IgnoreUnexported(Route{})); diff != "" {
		t.Errorf("route (-want +got):\n%s", diff)
	}
	for x, wantIdx := range map[uint32]int{0: 0, 74: 0, 75: 1, 99: 1} {
		if got := res.Route.Pick(x); got != wantIdx {
			t.Errorf("Pick(%d) = %d, want %d", x, got, wantIdx)
		}
	}

	var got []string
	for _, f := range tab.Findings {
		got = append(got, f.Severity.String()+" "+f.Object+" "+f.Path)
	}
	wantFindings := []string{
		"error VirtualService shop/bad-weights spec.http[0].route[1].weight",
		"error VirtualService shop/pay spec.http[2].route[0].destination.subset",
		"warning VirtualService shop/pay-dup spec.hosts",
	}
	if diff := cmp.Diff(wantFindings, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s\n%v", diff, tab.Findings)
	}
	rej := tab.RejectedFor(in("http://ledger/"))
	if len(rej) != 1 || rej[0].Message != "rejected: weight -30 is negative" {
		t.Errorf("RejectedFor = %v", rej)
	}
}

func TestDelegateMerge(t *testing.T) {
	tab := compileYAML(t, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root, namespace: edge}
spec:
  hosts: [shop.example.com]
  gateways: [edge/gw]
  http:
  - name: api
    match: [{uri: {prefix: /api}}, {uri: {prefix: /v2/api}}]
    headers: {request: {set: {x-root: "1"}}}
    delegate: {name: api, namespace: team}
  - name: regex-root
    match: [{uri: {regex: "/r/.*"}}]
    delegate: {name: api, namespace: team}
  - name: missing
    delegate: {name: nope}
  - route: [{destination: {host: web.edge.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: team}
spec:
  http:
  - name: orders
    match: [{uri: {prefix: /api/orders}, headers: {x-lane: {exact: gray}}}]
    route: [{destination: {host: orders, subset: gray}}]
  - name: outside
    match: [{uri: {prefix: /other}}]
    route: [{destination: {host: other}}]
  - name: all
    route: [{destination: {host: api}}]
`)
	at := func(url string, h ...string) *Request {
		r := req("GET", url, h...)
		r.Source.Gateway = "edge/gw"
		return r
	}
	tests := []struct {
		name string
		req  *Request
		want string
	}{
		{"merged match and header", at("http://shop.example.com/api/orders/1", "x-lane: gray"), "api-orders team/api orders.team/gray:100"},
		{"delegate route narrows the root", at("http://shop.example.com/api/orders/1"), "api-all team/api api.team:100"},
		{"delegate catch-all takes the root's matches", at("http://shop.example.com/v2/api/x"), "api-all team/api api.team:100"},
		{"outside the root prefix falls through", at("http://shop.example.com/other"), " edge/root web.edge:100"},
		{"regex root: prefix delegate matches conflict, catch-all kept", at("http://shop.example.com/r/x"), "regex-root-all team/api api.team:100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := tab.Evaluate(tc.req)
			s := summarize(res)
			got := res.Route.Name + " " + res.Route.Delegate + " " + s.Dests
			if res.Route.Delegate == "" {
				got = res.Route.Name + " " + res.Route.VirtualService + " " + s.Dests
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	res := tab.Evaluate(at("http://shop.example.com/api/x"))
	if diff := cmp.Diff(&HeaderOps{Set: map[string]string{"x-root": "1"}}, res.Route.RequestHeaders); diff != "" {
		t.Errorf("inherited headers (-want +got):\n%s", diff)
	}
	var got []string
	for _, f := range tab.Findings {
		if f.Severity == Warning {
			got = append(got, f.Object+" "+f.Path)
		}
	}
	want := []string{
		"VirtualService team/api spec.http[1].match", // /other is outside /api
		"VirtualService team/api spec.http[0].match", // prefix under a regex root
		"VirtualService team/api spec.http[1].match",
		"VirtualService edge/root spec.http[2].delegate",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s\n%v", diff, tab.Findings)
	}
}

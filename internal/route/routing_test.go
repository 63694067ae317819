package route

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// seed004 is routing.yaml of seed 004 (indentation corrected) plus a
// Gateway; its claims are tested below.
const seed004 = `
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: dr-appa}
spec:
  host: appa
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets: [{labels: {version: v1}, name: v1}, {labels: {version: v2}, name: v2}]
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: dr-appb}
spec:
  host: appb
  subsets: [{labels: {version: v1}, name: v1}, {labels: {version: v2}, name: v2}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs-gateway-appa, namespace: istio-system}
spec:
  gateways: [istio-system/app-gw, mesh]
  hosts: [192.168.1.106, appa.default.svc.cluster.local]
  http:
  - delegate: {name: vs-appa, namespace: default}
    match: [{uri: {prefix: /}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs-appa}
spec:
  http:
  - match: [{gateways: [istio-system/app-gw]}]
    route:
    - {destination: {host: appa, subset: v1}, weight: 10}
    - {destination: {host: appa, subset: v2}, weight: 90}
  - match: [{gateways: [mesh]}]
    route:
    - {destination: {host: appa, subset: v1}, weight: 100}
    - {destination: {host: appa, subset: v2}, weight: 0}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs-appb}
spec:
  hosts: [appb]
  http:
  - route: [{destination: {host: appb, subset: v1}}]
    match: [{sourceLabels: {app: appa, version: v1}}]
  - route: [{destination: {host: appb, subset: v2}}]
    match: [{sourceLabels: {app: appa, version: v2}}]
  - route: [{destination: {host: appb, subset: v1}}]
`

func TestSeed004(t *testing.T) {
	tab := compileYAML(t, seed004)
	gw := func(r *Request) *Request { r.Source.Gateway = "istio-system/app-gw"; return r }
	from := func(r *Request, labels ...string) *Request {
		r.Source.Labels = map[string]string{}
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			r.Source.Labels[k] = v
		}
		return r
	}
	tests := []struct {
		name string
		req  *Request
		want outcome
	}{
		{"gateway traffic splits 10/90", gw(req("GET", "http://192.168.1.106:86/")),
			outcome{200, "istio-system/vs-gateway-appa", 0, "appa.default/v1:10 appa.default/v2:90"}},
		{"gateway, cluster host", gw(req("GET", "http://appa.default.svc.cluster.local/x")),
			outcome{200, "istio-system/vs-gateway-appa", 0, "appa.default/v1:10 appa.default/v2:90"}},
		{"gateway, unknown host", gw(req("GET", "http://example.com/")), outcome{404, "", -1, ""}},
		{"mesh traffic to appa goes to v1", req("GET", "http://appa:8000/"),
			outcome{200, "istio-system/vs-gateway-appa", 1, "appa.default/v1:100 appa.default/v2:0"}},
		{"appb from appa v1", from(req("GET", "http://appb:8000/"), "app=appa", "version=v1"),
			outcome{200, "default/vs-appb", 0, "appb.default/v1:100"}},
		{"appb from appa v2", from(req("GET", "http://appb:8000/"), "app=appa", "version=v2"),
			outcome{200, "default/vs-appb", 1, "appb.default/v2:100"}},
		{"appb from elsewhere", from(req("GET", "http://appb:8000/"), "app=other"),
			outcome{200, "default/vs-appb", 2, "appb.default/v1:100"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := tab.Evaluate(tc.req)
			if diff := cmp.Diff(tc.want, summarize(res)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	res := tab.Evaluate(gw(req("GET", "http://192.168.1.106/")))
	if got, want := res.Route.Delegate, "default/vs-appa"; got != want {
		t.Errorf("delegate = %q, want %q", got, want)
	}
	if got, want := res.Route.Destinations[1].Labels, map[string]string{"version": "v2"}; !cmp.Equal(got, want) {
		t.Errorf("labels = %v, want %v", got, want)
	}
	for _, f := range tab.Findings {
		if f.Severity >= Warning {
			t.Errorf("unexpected finding: %v", f)
		}
	}
}

func TestHostsAndGateways(t *testing.T) {
	tab := compileYAML(t, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*/*.example.com", "./only-edge.io"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wild, namespace: edge}
spec:
  hosts: ["*.example.com"]
  gateways: [web]
  http: [{route: [{destination: {host: wild.edge.svc.cluster.local}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: longer, namespace: edge}
spec:
  hosts: ["*.shop.example.com"]
  gateways: [edge/web]
  http: [{route: [{destination: {host: longer.edge.svc.cluster.local}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: exact, namespace: edge}
spec:
  hosts: [a.shop.example.com]
  gateways: [edge/web, mesh]
  http: [{route: [{destination: {host: exact.edge.svc.cluster.local}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: other-ns, namespace: team}
spec:
  hosts: [only-edge.io]
  gateways: [edge/web]
  http: [{route: [{destination: {host: x}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: meshonly, namespace: team}
spec:
  hosts: [svc]
  http: [{route: [{destination: {host: svc}}]}]
`)
	at := func(gw, url string) *Request { r := req("GET", url); r.Source.Gateway = gw; return r }
	inNS := func(ns, url string) *Request { r := req("GET", url); r.Source.Namespace = ns; return r }
	tests := []struct {
		name string
		req  *Request
		vs   string
		st   int
	}{
		{"exact beats wildcards", at("edge/web", "http://a.shop.example.com/"), "edge/exact", 200},
		{"longest wildcard wins", at("edge/web", "http://b.shop.example.com/"), "edge/longer", 200},
		{"wildcard covers several labels", at("edge/web", "http://x.y.example.com/"), "edge/wild", 200},
		{"wildcard needs a label", at("edge/web", "http://example.com/"), "", 404},
		{"host case and port are ignored", at("edge/web", "http://A.Shop.Example.com:8080/"), "edge/exact", 200},
		{"server host ./ admits only the gateway namespace", at("edge/web", "http://only-edge.io/"), "", 404},
		{"gateway-bound VS not on mesh", req("GET", "http://b.shop.example.com/"), "", 200},
		{"mesh VS bound to mesh too", req("GET", "http://a.shop.example.com/"), "edge/exact", 200},
		{"no gateways means mesh only", at("edge/web", "http://svc.team/"), "", 404},
		{"short name from the same namespace", inNS("team", "http://svc/"), "team/meshonly", 200},
		{"short name from another namespace is another service", inNS("default", "http://svc/"), "", 200},
		{"name.namespace", inNS("default", "http://svc.team:80/"), "team/meshonly", 200},
		{"name.namespace.svc", inNS("default", "http://svc.team.svc/"), "team/meshonly", 200},
		{"unknown gateway", at("edge/nope", "http://a.shop.example.com/"), "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := summarize(tab.Evaluate(tc.req))
			if got.VS != tc.vs || got.Status != tc.st {
				t.Errorf("got vs %q status %d, want vs %q status %d", got.VS, got.Status, tc.vs, tc.st)
			}
		})
	}
	var warn []string
	for _, f := range tab.Findings {
		if f.Severity == Warning {
			warn = append(warn, f.Object)
		}
	}
	if diff := cmp.Diff([]string{"VirtualService team/other-ns"}, warn); diff != "" {
		t.Errorf("warnings (-want +got):\n%s\n%v", diff, tab.Findings)
	}
}

func TestPassthroughHost(t *testing.T) {
	tab := compileYAML(t, seed004)
	r := req("GET", "http://payment:8080/")
	r.Source.Namespace = "shop"
	res := tab.Evaluate(r)
	if res.Reason != Passthrough || res.Status != 200 {
		t.Fatalf("got %v %d", res.Reason, res.Status)
	}
	if got, want := tab.PassthroughHost(r), "payment.shop.svc.cluster.local"; got != want {
		t.Errorf("PassthroughHost = %q, want %q", got, want)
	}
}

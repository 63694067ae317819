package route

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The path the destination sees, as Envoy rewrites it from istiod's
// prefix_rewrite and regex_rewrite (HTTPRewrite in Istio's VirtualService
// reference; Envoy's RouteAction.prefix_rewrite: "the matched prefix (or
// path) should be swapped with this value", "when using regex path
// matching, the entire path (not including the query string) will be
// swapped").
func TestUpstreamTarget(t *testing.T) {
	tab := compileYAML(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: shop}
spec:
  hosts: [api]
  http:
  - name: prefix
    match: [{uri: {prefix: /api/}}, {uri: {exact: /old}}, {uri: {regex: "/r[0-9]+"}}, {headers: {x-h: {exact: "1"}}}]
    rewrite: {uri: /v2/}
    route: [{destination: {host: api}}]
  - name: folded
    match: [{uri: {prefix: /CaSe}, ignoreUriCase: true}]
    rewrite: {uri: /case}
    route: [{destination: {host: api}}]
  - name: regex
    match: [{uri: {prefix: /z2m}}]
    rewrite: {uriRegexRewrite: {match: "^/z2m(/|$)(.*)", rewrite: '/\2'}}
    route: [{destination: {host: api}}]
  - name: authority-only
    match: [{uri: {prefix: /keep}}]
    rewrite: {authority: other}
    route: [{destination: {host: api}}]
  - name: catch-all
    rewrite: {uri: /all}
    route: [{destination: {host: api}}]
`)
	tests := []struct {
		target string
		header string
		want   string
	}{
		{"/api/items?x=1", "", "/v2/items?x=1"},
		{"/api/", "", "/v2/"},
		{"/old", "", "/v2/"},
		{"/old?q=a", "", "/v2/?q=a"},
		{"/r42", "", "/v2/"},
		// a match block without a uri match swaps istiod's prefix "/"
		{"/r42x/y", "x-h: 1", "/v2/r42x/y"},
		{"/cAsE/more", "", "/case/more"},
		{"/z2m/devices?all", "", "/devices?all"},
		{"/z2m", "", "/"},
		{"/keep/this?x", "", "/keep/this?x"},
		{"/other", "", "/allother"},
		{"/", "", "/all"},
	}
	for _, tt := range tests {
		var hs []string
		if tt.header != "" {
			hs = append(hs, tt.header)
		}
		r := req("GET", "http://api"+tt.target, hs...)
		r.Source.Namespace = "shop"
		res := tab.Evaluate(r)
		if res.Route == nil {
			t.Fatalf("%s: no route (%v)", tt.target, res.Reason)
		}
		if got := res.UpstreamTarget(tt.target); got != tt.want {
			t.Errorf("%s (route %s): got %q, want %q", tt.target, res.Route.Name, got, tt.want)
		}
	}
}

// Delegates inherit the root's rewrite; the matched prefix is the merged
// match's, the delegate's more specific /shop/cart: Envoy swaps it for "/"
// and the destination sees "//1", as on a real mesh.
func TestUpstreamTargetDelegate(t *testing.T) {
	tab := compileYAML(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root, namespace: shop}
spec:
  hosts: [api]
  http:
  - match: [{uri: {prefix: /shop/}}]
    rewrite: {uri: /}
    delegate: {name: leaf, namespace: shop}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: leaf, namespace: shop}
spec:
  http:
  - match: [{uri: {prefix: /shop/cart}}]
    route: [{destination: {host: cart}}]
`)
	r := req("GET", "http://api/shop/cart/1")
	r.Source.Namespace = "shop"
	res := tab.Evaluate(r)
	if res.Route == nil {
		t.Fatalf("no route: %v %v", res.Reason, tab.Findings)
	}
	if got, want := res.UpstreamTarget("/shop/cart/1"), "//1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRewriteRejected(t *testing.T) {
	tab := compileYAML(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: both, namespace: shop}
spec:
  hosts: [a]
  http:
  - rewrite: {uri: /x, uriRegexRewrite: {match: a, rewrite: b}}
    route: [{destination: {host: a}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: badre, namespace: shop}
spec:
  hosts: [b]
  http:
  - rewrite: {uriRegexRewrite: {match: "(", rewrite: /}}
    route: [{destination: {host: b}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: empty, namespace: shop}
spec:
  hosts: [c]
  http:
  - rewrite: {}
    route: [{destination: {host: c}}]
`)
	var got []string
	for _, f := range tab.Findings {
		if f.Severity == Error {
			got = append(got, f.Object+" "+f.Path)
		}
	}
	want := []string{
		"VirtualService shop/both spec.http[0].rewrite",
		"VirtualService shop/badre spec.http[0].rewrite.uriRegexRewrite.match",
		"VirtualService shop/empty spec.http[0].rewrite",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestEnvoySubstitution(t *testing.T) {
	for in, want := range map[string]string{`/\2`: "/${2}", `\1-\0`: "${1}-${0}", `$5`: "$$5", `a\\b`: `a\b`, `x\`: `x\`} {
		if got := envoySubstitution(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

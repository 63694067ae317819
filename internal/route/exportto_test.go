package route

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// from builds a mesh request sent by a workload of namespace ns.
func from(ns, url string, headers ...string) *Request {
	r := req("GET", url, headers...)
	r.Source.Namespace = ns
	return r
}

// TestUpstreamExportTo runs the requests the VirtualServices of Istio's
// analyzer testdata file (virtualservice_conflictingmeshgatewayhosts_with_exportto)
// are about, from each namespace: a caller sees the VirtualServices
// exported to it, its own namespace's private ones first.
func TestUpstreamExportTo(t *testing.T) {
	tab := Compile(upstream(t, "istio/pkg/config/analysis/analyzers/testdata/virtualservice_conflictingmeshgatewayhosts_with_exportto.yaml"))
	tests := []struct {
		ns, host string
		want     string // VirtualService, or "" for passthrough
	}{
		{"foo", "a.productpage", "foo/productpage"}, // public in both: the oldest
		{"bar", "a.productpage", "foo/productpage"},
		{"baz", "a.productpage", "foo/productpage"},
		{"foo", "a.productpage.b", "foo/productpage-b"}, // exportTo [foo]
		{"bar", "a.productpage.b", "bar/productpage-b"}, // exportTo [.]
		{"baz", "a.productpage.b", ""},                  // exported to neither
		{"foo", "a.productpage.c", "foo/productpage-c"}, // private before public
		{"bar", "a.productpage.c", "bar/productpage-c"},
		{"baz", "a.productpage.c", "bar/productpage-c"},
		{"foo", "a.productpage.d", "foo/productpage-d"},
		{"bar", "a.productpage.d", "bar/productpage-d"}, // *.d, exportTo [*]
		{"baz", "x.d", "bar/productpage-d"},
	}
	for _, tc := range tests {
		t.Run(tc.ns+" "+tc.host, func(t *testing.T) {
			res := tab.Evaluate(from(tc.ns, "http://"+tc.host+"/"))
			got := ""
			if res.Route != nil {
				got = res.Route.VirtualService
			}
			if got != tc.want || (tc.want == "" && res.Reason != Passthrough) {
				t.Errorf("VirtualService %q (%v), want %q", got, res.Reason, tc.want)
			}
		})
	}
	var conflicts []string
	for _, f := range tab.Findings {
		if strings.Contains(f.Message, "is also defined by") {
			conflicts = append(conflicts, f.Where+" "+f.Object)
		}
	}
	// The analyzer flags productpage (public in foo and bar) and
	// productpage-c (foo's, exported to foo, meets bar's public one in
	// foo); Graylane reports the VirtualService that loses.
	const file = "testdata/istio/pkg/config/analysis/analyzers/testdata/virtualservice_conflictingmeshgatewayhosts_with_exportto.yaml"
	want := []string{file + ":20 VirtualService bar/productpage", file + ":78 VirtualService bar/productpage-c"}
	if diff := cmp.Diff(want, conflicts); diff != "" {
		t.Errorf("conflicts (-want +got):\n%s", diff)
	}
}

const exportToConfig = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*/*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: private, namespace: team}
spec:
  hosts: [private.example.com]
  gateways: [istio-system/gw, mesh]
  exportTo: ["."]
  http: [{route: [{destination: {host: web}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shared, namespace: team}
spec:
  hosts: [shared.example.com]
  gateways: [istio-system/gw]
  exportTo: [istio-system, team]
  http: [{route: [{destination: {host: web}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: team}
spec:
  hosts: [api.example.com]
  http:
  - match: [{uri: {prefix: /v1}}]
    delegate: {name: v1, namespace: other}
  - route: [{destination: {host: web}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v1, namespace: other}
spec:
  exportTo: ["."]
  http: [{route: [{destination: {host: v1-api}}]}]
`

// TestExportTo: VirtualService visibility per caller namespace; for a
// gateway, the namespace is the gateway's.
func TestExportTo(t *testing.T) {
	tab := compileYAML(t, exportToConfig)
	gw := func(ns, url string) *Request {
		r := from(ns, url)
		r.Source.Gateway = "istio-system/gw"
		return r
	}
	tests := []struct {
		name   string
		req    *Request
		reason Reason
		vs     string
	}{
		{"private, caller in its namespace", from("team", "http://private.example.com/"), Matched, "team/private"},
		{"private, caller elsewhere: no VirtualService", from("shop", "http://private.example.com/"), Passthrough, ""},
		{"private, gateway in istio-system does not see it", gw("istio-system", "http://private.example.com/"), NoVirtualHost, ""},
		{"private, a gateway deployed in its namespace sees it", gw("team", "http://private.example.com/"), Matched, "team/private"},
		{"exported to the gateway's namespace by name", gw("istio-system", "http://shared.example.com/"), Matched, "team/shared"},
		{"delegate not exported to the root's namespace: route dropped", from("team", "http://api.example.com/v1/x"), Matched, "team/api"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := tab.Evaluate(tc.req)
			vs := ""
			if res.Route != nil {
				vs = res.Route.VirtualService
				if res.Route.Delegate != "" {
					vs = res.Route.Delegate
				}
			}
			if res.Reason != tc.reason || vs != tc.vs {
				t.Errorf("got %v %q, want %v %q", res.Reason, vs, tc.reason, tc.vs)
			}
		})
	}
	var got []string
	for _, f := range tab.Findings {
		if f.Severity >= Warning {
			got = append(got, f.Object+" "+f.Path+": "+f.Message)
		}
	}
	want := []string{"VirtualService team/api spec.http[0].delegate: delegate VirtualService other/v1 is not exported to namespace team (its exportTo: other); istiod drops this route"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	hosts := map[string][]string{}
	for _, h := range tab.Hosts() {
		hosts[h.Source+" "+h.Host] = h.Namespaces
	}
	if diff := cmp.Diff([]string{"team"}, hosts["mesh private.example.com"]); diff != "" {
		t.Errorf("Hosts: namespaces of the private host (-want +got):\n%s", diff)
	}
}

// TestExportToValidation: exportTo values istiod's webhook refuses.
func TestExportToValidation(t *testing.T) {
	tests := []struct {
		kind, exportTo, want string
	}{
		{"VirtualService", `["~"]`, "spec.exportTo[0]: rejected: exportTo ~ (none) is allowed for ServiceEntries only"},
		{"VirtualService", `["*", "a"]`, "spec.exportTo: rejected: exportTo cannot have * (public) and other entries"},
		{"VirtualService", `["shop", "."]`, "spec.exportTo[1]: rejected: exportTo has both . and the object's own namespace shop"},
		{"VirtualService", `[".", "shop"]`, "spec.exportTo[1]: rejected: exportTo lists \"shop\" twice"},
		{"DestinationRule", `["a", "a"]`, "spec.exportTo[1]: rejected: exportTo lists \"a\" twice"},
		{"DestinationRule", `["Not_A_Namespace"]`, "spec.exportTo[0]: rejected: exportTo entry \"Not_A_Namespace\" must be ., * or a namespace name"},
		{"ServiceEntry", `["~", "a"]`, "spec.exportTo: rejected: exportTo cannot have ~ (none) and other entries"},
		{"ServiceEntry", `["~"]`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.kind+" "+tc.exportTo, func(t *testing.T) {
			var spec string
			switch tc.kind {
			case "VirtualService":
				spec = "hosts: [a]\n  http: [{route: [{destination: {host: a}}]}]"
			case "DestinationRule":
				spec = "host: a"
			default:
				spec = "hosts: [a.example.com]"
			}
			tab := compileYAML(t, "apiVersion: networking.istio.io/v1\nkind: "+tc.kind+"\nmetadata: {name: x, namespace: shop}\nspec:\n  exportTo: "+tc.exportTo+"\n  "+spec+"\n")
			var got []string
			for _, f := range tab.Findings {
				got = append(got, f.Path+": "+f.Message)
			}
			var want []string
			if tc.want != "" {
				want = []string{tc.want}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

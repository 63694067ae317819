package command

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
)

func TestBuildRequest(t *testing.T) {
	tests := []struct {
		name     string
		in       RequestOptions
		want     *route.Request
		explicit bool
	}{
		{"mesh defaults", RequestOptions{URL: "http://appb:8000/a/b?x=1&y=2"},
			&route.Request{Authority: "appb:8000", Path: "/a/b?x=1&y=2", Method: "GET", Scheme: "http", Port: 8000, Header: http.Header{},
				Source: route.Source{Labels: map[string]string{}, Namespace: "default"}}, true},
		{"gateway namespace is the default source namespace", RequestOptions{URL: "https://shop.example.com", Gateway: "edge/gw", Method: "post",
			Headers: []string{"Cookie: a=1; tenantGray=1", "x-lane:  gray ", "Host: other.example.com"}, SourceLabels: "istio=ingressgateway"},
			&route.Request{Authority: "other.example.com", Path: "/", Method: "POST", Scheme: "https", Header: http.Header{
				"Cookie": {"a=1; tenantGray=1"}, "X-Lane": {"gray"}},
				Source: route.Source{Gateway: "edge/gw", Labels: map[string]string{"istio": "ingressgateway"}, Namespace: "edge"}}, false},
		{"explicit source namespace", RequestOptions{URL: "http://svc/", SourceNamespace: "shop", SourceLabels: "app=web, version=v2"},
			&route.Request{Authority: "svc", Path: "/", Method: "GET", Scheme: "http", Header: http.Header{},
				Source: route.Source{Labels: map[string]string{"app": "web", "version": "v2"}, Namespace: "shop"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, explicit, err := BuildRequest(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if explicit != tc.explicit {
				t.Errorf("explicit port = %v, want %v", explicit, tc.explicit)
			}
		})
	}
}

func TestBuildRequestErrors(t *testing.T) {
	for _, in := range []RequestOptions{
		{},
		{URL: "ftp://x/"},
		{URL: "http:///path"},
		{URL: "http://x:0/"},
		{URL: "http://x/", Headers: []string{"no colon"}},
		{URL: "http://x/", Gateway: "a/b/c"},
		{URL: "http://x/", SourceLabels: "=v"},
	} {
		_, _, err := BuildRequest(in)
		var ie *cli.InputError
		if !errors.As(err, &ie) {
			t.Errorf("%+v: err = %v, want an InputError", in, err)
		}
	}
}

func TestResolveGateway(t *testing.T) {
	const gw = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: %s}
spec:
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
`
	const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: %s}
spec:
  hosts: [shop.example.com]
  gateways: [edge]
  http: [{route: [{destination: {host: web}}]}]
---
`
	tests := []struct {
		name      string
		manifests string
		flag      string
		sourceNS  string
		want      string // Source.Gateway and Source.Namespace, or the error
	}{
		{"the only loaded Gateway of that name", fmt.Sprintf(gw, "istio-system") + fmt.Sprintf(vs, "shop"), "edge", "", "istio-system/edge istio-system"},
		{"the source namespace stays when given", fmt.Sprintf(gw, "istio-system"), "edge", "qa", "istio-system/edge qa"},
		{"a namespace given is kept", fmt.Sprintf(gw, "istio-system"), "other/edge", "", "other/edge other"},
		{"not loaded: the namespace of the VirtualServices naming it", fmt.Sprintf(vs, "shop"), "edge", "", "shop/edge shop"},
		{"two loaded Gateways of that name", fmt.Sprintf(gw, "a") + fmt.Sprintf(gw, "b"), "edge",
			"", `--gateway "edge": Gateways of that name are in namespaces a, b: give NAMESPACE/NAME`},
		{"not loaded, named from two namespaces", fmt.Sprintf(vs, "a") + fmt.Sprintf(vs, "b"), "edge",
			"", `--gateway "edge": no Gateway of that name is among the manifests, and VirtualServices of namespaces a, b name one (each means its own namespace's): give NAMESPACE/NAME`},
		{"unknown", fmt.Sprintf(vs, "a"), "nope",
			"", `--gateway "nope": no Gateway of that name is among the manifests and no VirtualService names one: give NAMESPACE/NAME`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := manifest.LoadBytes("in.yaml", []byte(tc.manifests))
			if err != nil {
				t.Fatal(err)
			}
			o := RequestOptions{URL: "http://shop.example.com/", Gateway: tc.flag, SourceNamespace: tc.sourceNS}
			r, _, err := BuildRequest(o)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ResolveGateway(route.Compile(expand.RouteInput(set)), r, o)
			got := r.Source.Gateway + " " + r.Source.Namespace
			if err != nil {
				var ie *cli.InputError
				if !errors.As(err, &ie) {
					t.Errorf("%v is not an InputError", err)
				}
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

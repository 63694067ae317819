package route

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestUpstreamGatewayServers evaluates requests against the Gateway and
// VirtualService examples of the Gateway reference (gateway.proto): port
// 80 redirects to https (tls.httpsRedirect), 443 and 9443 terminate TLS
// and route by the VirtualService, 9080 is plain HTTP, 2379 is MONGO.
func TestUpstreamGatewayServers(t *testing.T) {
	tab := Compile(upstream(t, "istio-api/networking/v1alpha3/gateway.proto.L37-86.yaml", "istio-api/networking/v1alpha3/gateway.proto.L105-139.yaml"))
	at := func(url string, h ...string) *Request {
		r := req("GET", url, h...)
		r.Source = Source{Gateway: "some-config-namespace/my-gateway", Namespace: "some-config-namespace"}
		return r
	}
	tests := []struct {
		name   string
		req    *Request
		status int
		reason Reason
		dests  string
		l4     bool
	}{
		{"http on 80 is redirected", at("http://uk.bookinfo.com/reviews/1"), 301, HTTPSRedirect, "", false},
		{"a host the redirecting server does not serve", at("http://www.example.com/reviews/1"), 404, NoVirtualHost, "", false},
		{"https on 443 is routed", at("https://uk.bookinfo.com/reviews/1"), 200, Matched, "reviews.prod:80 reviews.qa:20", false},
		{"https on 443, cookie route", at("https://eu.bookinfo.com/", "Cookie: user=dev-123"), 200, Matched, "reviews.qa:100", false},
		{"https on 9443 (namespace-scoped wildcard host)", at("https://uk.bookinfo.com:9443/reviews/1"), 200, Matched, "reviews.prod:80 reviews.qa:20", false},
		{"plain http on 9080 is not redirected", at("http://uk.bookinfo.com:9080/reviews/1"), 200, Matched, "reviews.prod:80 reviews.qa:20", false},
		{"MONGO on 2379 is not evaluated (HTTP routes are evaluated as if it were HTTP)", at("http://uk.bookinfo.com:2379/"), 404, NoRoute, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := tab.Evaluate(tc.req)
			got := outcome{Status: res.Status}
			if res.Reason == Matched {
				got = summarize(res)
			}
			if res.Status != tc.status || res.Reason != tc.reason || got.Dests != tc.dests {
				t.Errorf("got %d %v %q, want %d %v %q", res.Status, res.Reason, got.Dests, tc.status, tc.reason, tc.dests)
			}
			if _, l4 := tab.L4(tc.req); l4 != tc.l4 {
				t.Errorf("L4 = %v, want %v", l4, tc.l4)
			}
		})
	}
	res := tab.Evaluate(at("http://uk.bookinfo.com/reviews/1"))
	const where = "testdata/istio-api/networking/v1alpha3/gateway.proto.L37-86.yaml:18"
	want := &Route{Redirect: &Redirect{Scheme: "https", Code: 301}, Status: 301, Index: -1, RootIndex: -1, Where: where,
		Findings: []Finding{{Severity: Info, Object: "Gateway some-config-namespace/my-gateway", Path: "spec.servers[0].tls.httpsRedirect", Where: where,
			Message: "Envoy answers every plain-HTTP request for uk.bookinfo.com, eu.bookinfo.com on port 80 with 301 to the same URL in https"}}}
	if diff := cmp.Diff(want, res.Route, cmpopts.IgnoreUnexported(Route{})); diff != "" {
		t.Errorf("redirect route (-want +got):\n%s", diff)
	}
	mesh := tab.Evaluate(req("GET", "http://reviews.prod.svc.cluster.local/reviews/1"))
	if s := summarize(mesh); s.Dests != "reviews.prod:80 reviews.qa:20" {
		t.Errorf("mesh: %+v", s)
	}
}

// TestUpstreamTCPAndTLS: Istio's tcp-echo sample and the east-west
// gateway of the multicluster sample route with tcp and tls only.
// Graylane says so, located, instead of answering "no route: 404".
func TestUpstreamTCPAndTLS(t *testing.T) {
	tab := Compile(upstream(t, "istio/samples/tcp-echo/tcp-echo-all-v1.yaml", "istio/samples/tcp-echo/tcp-echo-services.yaml", "istio/samples/multicluster/expose-istiod.yaml", bookinfoNet+"egress-rule-google-apis.yaml"))
	tests := []struct {
		name   string
		req    *Request
		reason Reason
		notes  []string // "file:line path" of the not-evaluated findings
	}{
		{"gateway TCP port", func() *Request {
			r := req("GET", "http://tcp-echo.example.com:31400/")
			r.Source = Source{Gateway: "default/tcp-echo-gateway", Namespace: "default"}
			return r
		}(), NoVirtualHost, []string{"tcp-echo-all-v1.yaml:53 spec.tcp", "tcp-echo-all-v1.yaml:23 spec.servers[0]"}},
		{"mesh request to a port named tcp", req("GET", "http://tcp-echo:9000/"), Passthrough,
			[]string{"tcp-echo-services.yaml:24 spec.ports[0]"}},
		{"east-west gateway, TLS passed through", func() *Request {
			r := req("GET", "http://istiod.istio-system.svc.cluster.local:15012/")
			r.Source = Source{Gateway: "default/istiod-gateway", Namespace: "default"}
			return r
		}(), NoVirtualHost, []string{"expose-istiod.yaml:35 spec.tls", "expose-istiod.yaml:9 spec.servers[0]"}},
		// Bookinfo's egress example routes port 80 only: HTTPS on 443 is
		// TLS the application speaks, not "no route".
		{"mesh request to a ServiceEntry port declared HTTPS", req("GET", "https://www.googleapis.com:443/"), NoRoute,
			[]string{"egress-rule-google-apis.yaml:12 spec.ports[1]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := tab.Evaluate(tc.req)
			if res.Reason != tc.reason {
				t.Errorf("reason %v, want %v", res.Reason, tc.reason)
			}
			if _, l4 := tab.L4(tc.req); !l4 {
				t.Error("L4 = false, want true")
			}
			var got []string
			for _, f := range tab.NotEvaluated(tc.req, res) {
				got = append(got, f.Where[strings.LastIndexByte(f.Where, '/')+1:]+" "+f.Path)
				if !strings.HasPrefix(f.Message, "not evaluated: ") {
					t.Errorf("message %q", f.Message)
				}
			}
			if diff := cmp.Diff(tc.notes, got); diff != "" {
				t.Errorf("not evaluated (-want +got):\n%s", diff)
			}
		})
	}
}

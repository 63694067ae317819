// Package bench holds Graylane's performance measurements. Run with
//
//	go test -run '^$' -bench . -benchmem ./bench/
//
// The route benchmarks evaluate a request against one VirtualService with
// N routes where only the last route matches: the worst case, every
// matcher runs.
package bench

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graylane/graylane/internal/route"
)

// kinds of route the benchmark builds; matchFor returns route i's match
// and a request that matches route i only.
var kinds = []struct {
	name     string
	matchFor func(i int) *networking.HTTPMatchRequest
	request  func(i int) *route.Request
}{
	{"exact-header", func(i int) *networking.HTTPMatchRequest {
		return &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"x-user": exact(fmt.Sprintf("user-%d", i))}}
	}, func(i int) *route.Request { return request("/", "X-User", fmt.Sprintf("user-%d", i)) }},
	{"prefix-uri", func(i int) *networking.HTTPMatchRequest {
		return &networking.HTTPMatchRequest{Uri: prefix(fmt.Sprintf("/api/v%d/", i))}
	}, func(i int) *route.Request { return request(fmt.Sprintf("/api/v%d/orders/42", i), "", "") }},
	{"prefix-header", func(i int) *networking.HTTPMatchRequest {
		return &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"x-tenant": prefix(fmt.Sprintf("t%d-", i))}}
	}, func(i int) *route.Request { return request("/", "X-Tenant", fmt.Sprintf("t%d-acme", i)) }},
	{"regex-header", func(i int) *networking.HTTPMatchRequest {
		return &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"x-user": regex(fmt.Sprintf("user-[0-9]+-g%d", i))}}
	}, func(i int) *route.Request { return request("/", "X-User", fmt.Sprintf("user-12345-g%d", i)) }},
	{"cookie-regex", func(i int) *networking.HTTPMatchRequest {
		return &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"cookie": regex(fmt.Sprintf(".*tenantGray=%d;.*", i))}}
	}, func(i int) *route.Request {
		return request("/", "Cookie", fmt.Sprintf("JSESSIONID=1f2e3d4c5b6a; tenantGray=%d; rememberMe=; channel=web", i))
	}},
}

func exact(s string) *networking.StringMatch {
	return &networking.StringMatch{MatchType: &networking.StringMatch_Exact{Exact: s}}
}

func prefix(s string) *networking.StringMatch {
	return &networking.StringMatch{MatchType: &networking.StringMatch_Prefix{Prefix: s}}
}

func regex(s string) *networking.StringMatch {
	return &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: s}}
}

func request(path, header, value string) *route.Request {
	r := &route.Request{Authority: "orders:8080", Path: path, Method: "GET", Header: http.Header{
		"User-Agent": {"bench"}, "Accept": {"*/*"}, "X-Request-Id": {"0a1b2c3d"},
	}, Source: route.Source{Namespace: "shop", Labels: map[string]string{"app": "web", "version": "v1"}}}
	if header != "" {
		r.Header.Set(header, value)
	}
	return r
}

func table(b *testing.B, n int, matchFor func(int) *networking.HTTPMatchRequest) *route.Table {
	vs := &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop"}}
	vs.Spec.Hosts = []string{"orders"}
	for i := 0; i < n; i++ {
		vs.Spec.Http = append(vs.Spec.Http, &networking.HTTPRoute{
			Match: []*networking.HTTPMatchRequest{matchFor(i)},
			Route: []*networking.HTTPRouteDestination{
				{Destination: &networking.Destination{Host: "orders", Subset: "v1"}, Weight: 90},
				{Destination: &networking.Destination{Host: "orders", Subset: "v2"}, Weight: 10},
			},
		})
	}
	dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop"}}
	dr.Spec.Host = "orders"
	dr.Spec.Subsets = []*networking.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}, {Name: "v2", Labels: map[string]string{"version": "v2"}}}
	t := route.Compile(route.Input{
		VirtualServices:  []route.VirtualService{{Object: vs}},
		DestinationRules: []route.DestinationRule{{Object: dr}},
	})
	for _, f := range t.Findings {
		b.Fatalf("finding: %v", f)
	}
	return t
}

// BenchmarkRoute reports ns/op and allocs/op per route kind and count.
func BenchmarkRoute(b *testing.B) {
	for _, k := range kinds {
		for _, n := range []int{1, 10, 100, 1000} {
			b.Run(fmt.Sprintf("%s/routes=%d", k.name, n), func(b *testing.B) {
				t := table(b, n, k.matchFor)
				req := k.request(n - 1)
				if res := t.Evaluate(req); res.Route == nil || res.Route.Index != n-1 {
					b.Fatalf("request matched %+v, want route %d", res, n-1)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					t.Evaluate(req)
				}
			})
		}
	}
}

// BenchmarkRouteMiss is a request that matches no route of 100: every
// matcher runs and rejects.
func BenchmarkRouteMiss(b *testing.B) {
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			t := table(b, 100, k.matchFor)
			req := k.request(100000)
			req.Path = strings.Replace(req.Path, "/api/", "/web/", 1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t.Evaluate(req)
			}
		})
	}
}

// BenchmarkRegexNoLiteral is the regex worst case: 100 routes whose
// patterns contain no literal to filter on, none matching, so the RE2
// engine runs 100 times.
func BenchmarkRegexNoLiteral(b *testing.B) {
	t := table(b, 100, func(int) *networking.HTTPMatchRequest {
		return &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"user-agent": regex(`(ios|android)/[0-9]+\.[0-9]+`)}}
	})
	req := request("/", "User-Agent", "web/1.0")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t.Evaluate(req)
	}
}

// BenchmarkRouteUnindexed: 100 exact-header routes alternating between two
// headers, so no run shares an input and every route is tried in order:
// the cost of the plain linear path.
func BenchmarkRouteUnindexed(b *testing.B) {
	t := table(b, 100, func(i int) *networking.HTTPMatchRequest {
		name := []string{"x-user", "x-tenant"}[i%2]
		return &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{name: exact(fmt.Sprintf("id-%d", i))}}
	})
	req := request("/", "X-Tenant", "id-99")
	if res := t.Evaluate(req); res.Route == nil || res.Route.Index != 99 {
		b.Fatalf("matched %+v, want route 99", res)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t.Evaluate(req)
	}
}

package route

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// drConfig: one mesh route to reviews (namespace shop) with subset v2;
// DestinationRules for it in several namespaces.
const drConfig = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v2}}]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets: [{name: v2, labels: {version: v2, owner: shop}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-for-web, namespace: web}
spec:
  host: reviews.shop.svc.cluster.local
  subsets: [{name: v2, labels: {version: v2, owner: web}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-private, namespace: qa}
spec:
  host: reviews.shop.svc.cluster.local
  exportTo: ["."]
  subsets: [{name: v2, labels: {version: v2, owner: qa}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: all-reviews, namespace: istio-system}
spec:
  host: "*.svc.cluster.local"
  subsets: [{name: v2, labels: {version: v2, owner: root}}]
`

// TestDestinationRuleLookup follows istiod's PushContext.destinationRule:
// the caller's namespace first, then what the Service's namespace
// exports to the caller, then what the root namespace exports.
func TestDestinationRuleLookup(t *testing.T) {
	tests := []struct {
		name   string
		config string
		caller string
		want   string // DestinationRule and owner label, or the problem's start
	}{
		{"the caller's namespace first", drConfig, "web", "web/reviews-for-web web"},
		{"a private rule in the caller's namespace", drConfig, "qa", "qa/reviews-private qa"},
		{"else the Service's namespace", drConfig, "other", "shop/reviews shop"},
		{"the Service's own namespace", drConfig, "shop", "shop/reviews shop"},
		{"a caller in the root namespace: the Service's rule before the root's exported one", drConfig, "istio-system", "shop/reviews shop"},
		{"the Service's rule exported to other namespaces only",
			strings.Replace(drConfig, "  host: reviews\n", "  host: reviews\n  exportTo: [web]\n", 1), "other", "istio-system/all-reviews root"},
		{"the Service's rule is private: others fall back to the root namespace",
			strings.Replace(drConfig, "  host: reviews\n", "  host: reviews\n  exportTo: [\".\"]\n", 1), "other", "istio-system/all-reviews root"},
		{"a private rule of the Service's namespace still serves its own callers",
			strings.Replace(drConfig, "  host: reviews\n", "  host: reviews\n  exportTo: [\".\"]\n", 1), "shop", "shop/reviews shop"},
		{"exported by name", strings.Replace(drConfig, "  host: reviews\n", "  host: reviews\n  exportTo: [\".\", other]\n", 1), "other", "shop/reviews shop"},
		{"no rule visible",
			strings.Replace(strings.Replace(drConfig, "  host: reviews\n", "  host: reviews\n  exportTo: [\".\"]\n", 1), `"*.svc.cluster.local"`, "other.example.com", 1), "other",
			"no DestinationRule for host reviews.shop.svc.cluster.local is visible to callers outside namespaces istio-system, qa, shop, web (there is shop/reviews (exportTo: shop), web/reviews-for-web (exportTo: *), qa/reviews-private (exportTo: qa))"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := compileYAML(t, tc.config)
			res := tab.Evaluate(from(tc.caller, "http://reviews.shop/"))
			if res.Route == nil {
				t.Fatalf("no route: %v %v", res.Reason, tab.Findings)
			}
			d := res.Route.Destinations[0]
			got := d.DestinationRule + " " + d.Labels["owner"]
			if d.Problem != "" {
				got = d.Problem
				if res.Status != 503 {
					t.Errorf("status %d with a missing subset, want 503", res.Status)
				}
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDestinationRuleLookupFindings: a subset that only some callers
// miss is an error for them, named with their namespace; rules the
// lookup leaves out (workloadSelector) are "not evaluated" notes.
func TestDestinationRuleLookupFindings(t *testing.T) {
	tab := compileYAML(t, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v2}}]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets: [{name: v2, labels: {version: v2}}]
  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 1}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: web}
spec:
  host: reviews.shop.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-selected, namespace: shop}
spec:
  host: reviews
  workloadSelector: {matchLabels: {app: ratings}}
  subsets: [{name: v2, labels: {version: v2, selected: "yes"}}]
`)
	var got []string
	for _, f := range tab.Findings {
		got = append(got, f.Severity.String()+" "+f.Object+" "+f.Path+": "+f.Message)
	}
	want := []string{
		"info DestinationRule shop/reviews spec.trafficPolicy.outlierDetection: not evaluated: outlier detection (Envoy ejects failing pods for a while); Graylane keeps sending to every ready pod",
		"info DestinationRule shop/reviews-selected spec.workloadSelector: not evaluated: this DestinationRule for reviews.shop.svc.cluster.local applies only to the sidecars its workloadSelector selects; Graylane leaves it out of the subset lookup",
		`error VirtualService shop/reviews spec.http[0].route[0].destination.subset: subset "v2" is not defined in DestinationRule web/reviews for host reviews.shop.svc.cluster.local (it has: v1): Envoy answers 503 no healthy upstream (for callers in namespace web)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	res := tab.Evaluate(from("other", "http://reviews.shop/"))
	if res.Status != 200 || len(res.Route.NotEvaluated) != 2 {
		t.Errorf("caller in other: status %d, not evaluated %v", res.Status, res.Route.NotEvaluated)
	}
	res = tab.Evaluate(from("web", "http://reviews.shop/"))
	if res.Status != 503 || len(res.Route.NotEvaluated) != 1 {
		t.Errorf("caller in web: status %d, not evaluated %v", res.Status, res.Route.NotEvaluated)
	}
}

// TestServiceEntryNamespace: for a ServiceEntry host, the "Service's
// namespace" of the lookup is the ServiceEntry's, if the caller sees it.
func TestServiceEntryNamespace(t *testing.T) {
	const config = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: pay, namespace: partner}
spec:
  hosts: [pay.partner.example.com]
  exportTo: [".", shop]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pay, namespace: partner}
spec:
  host: pay.partner.example.com
  subsets: [{name: blue, labels: {color: blue}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pay, namespace: partner}
spec:
  hosts: [pay.partner.example.com]
  http: [{route: [{destination: {host: pay.partner.example.com, subset: blue}}]}]
`
	tab := compileYAML(t, config)
	tests := []struct {
		caller  string
		status  int
		problem bool
		notes   int
	}{
		{"shop", 200, false, 0},
		{"partner", 200, false, 0},
		{"other", 503, true, 0}, // the ServiceEntry is not exported to it: no cluster
	}
	for _, tc := range tests {
		t.Run(tc.caller, func(t *testing.T) {
			res := tab.Evaluate(from(tc.caller, "http://pay.partner.example.com/"))
			if res.Status != tc.status || (res.Route.Destinations[0].Problem != "") != tc.problem || len(res.Route.NotEvaluated) != tc.notes {
				t.Errorf("status %d, destination %+v, not evaluated %v", res.Status, res.Route.Destinations[0], res.Route.NotEvaluated)
			}
		})
	}
}

// TestCallerVariantKeepsFaultAndMirrors: a caller whose namespace finds
// another DestinationRule gets a variant of the route; the variant keeps
// the route's fault injection and mirrors.
func TestCallerVariantKeepsFaultAndMirrors(t *testing.T) {
	config := strings.Replace(drConfig, "  http: [{route: [{destination: {host: reviews, subset: v2}}]}]",
		`  http:
  - route: [{destination: {host: reviews, subset: v2}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    mirror: {host: reviews-shadow}`, 1)
	tab := compileYAML(t, config)
	type got struct {
		Rule, Mirror string
		Abort        int
	}
	var gots, wants []got
	for _, caller := range []string{"web", "qa", "other"} {
		res := tab.Evaluate(from(caller, "http://reviews.shop/"))
		if res.Route == nil || len(res.Route.Destinations) == 0 {
			t.Fatalf("%s: no route: %v %v", caller, res.Reason, tab.Findings)
		}
		g := got{Rule: res.Route.Destinations[0].DestinationRule}
		if f := res.Route.Fault; f != nil {
			g.Abort = f.AbortStatus
		}
		if len(res.Route.Mirrors) == 1 {
			g.Mirror = res.Route.Mirrors[0].Host
		}
		gots = append(gots, g)
	}
	for _, rule := range []string{"web/reviews-for-web", "qa/reviews-private", "shop/reviews"} {
		wants = append(wants, got{Rule: rule, Mirror: "reviews-shadow.shop.svc.cluster.local", Abort: 503})
	}
	if diff := cmp.Diff(wants, gots); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

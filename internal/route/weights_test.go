package route

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWeights follows istiod's validation and route generation since Istio
// 1.15 (istio/istio#39544): weights are relative, each destination gets
// weight/sum; only a negative weight, or several destinations whose weights
// sum to 0, are refused.
func TestWeights(t *testing.T) {
	const head = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - route:
`
	tests := []struct {
		name     string
		route    string
		status   int
		shares   map[string]int // destination -> picks over [0, TotalWeight())
		percent  []float64      // Destination.Percent, in order
		rejected string         // the finding's "path: message" when rejected
		total    uint32         // TotalWeight
	}{
		{name: "sum 100", route: `
    - {destination: {host: reviews, subset: v1}, weight: 80}
    - {destination: {host: reviews, subset: v2}, weight: 20}`,
			status: 200, total: 100, shares: map[string]int{"reviews/v1": 80, "reviews/v2": 20}, percent: []float64{0, 0}},
		{name: "sum 60: each gets weight/60", route: `
    - {destination: {host: reviews, subset: v1}, weight: 30}
    - {destination: {host: reviews, subset: v2}, weight: 30}`,
			status: 200, total: 60, shares: map[string]int{"reviews/v1": 30, "reviews/v2": 30}, percent: []float64{50, 50}},
		{name: "sum 3", route: `
    - {destination: {host: reviews, subset: v1}, weight: 1}
    - {destination: {host: reviews, subset: v2}, weight: 2}`,
			status: 200, total: 3, shares: map[string]int{"reviews/v1": 1, "reviews/v2": 2}, percent: []float64{100.0 / 3, 200.0 / 3}},
		{name: "a single destination of weight 50 gets everything", route: `
    - {destination: {host: reviews, subset: v1}, weight: 50}`,
			status: 200, total: 50, shares: map[string]int{"reviews/v1": 50}, percent: []float64{100}},
		{name: "a single destination without weight", route: `
    - {destination: {host: reviews, subset: v1}}`,
			status: 200, total: 100, shares: map[string]int{"reviews/v1": 100}, percent: []float64{0}},
		{name: "weight 0 among others gets nothing", route: `
    - {destination: {host: reviews, subset: v1}, weight: 0}
    - {destination: {host: reviews, subset: v2}, weight: 7}`,
			status: 200, total: 7, shares: map[string]int{"reviews/v2": 7}, percent: []float64{0, 100}},
		{name: "negative weight", route: `
    - {destination: {host: reviews, subset: v1}, weight: 110}
    - {destination: {host: reviews, subset: v2}, weight: -10}`,
			rejected: "spec.http[0].route[1].weight: rejected: weight -10 is negative"},
		{name: "several destinations summing to 0", route: `
    - {destination: {host: reviews, subset: v1}}
    - {destination: {host: reviews, subset: v2}, weight: 0}`,
			rejected: "spec.http[0].route: rejected: the weights of the 2 destinations sum to 0: at least one needs a weight above 0"},
		{name: "more than Envoy's uint32 total", route: `
    - {destination: {host: reviews, subset: v1}, weight: 2147483647}
    - {destination: {host: reviews, subset: v2}, weight: 2147483647}
    - {destination: {host: reviews, subset: v3}, weight: 2}`,
			rejected: "spec.http[0].route: rejected: the weights sum to 4294967296, more than Envoy accepts for one route (4294967295)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := compileYAML(t, head+strings.TrimPrefix(tc.route, "\n")+"\n")
			r := req("GET", "http://reviews/")
			r.Source.Namespace = "shop"
			if tc.rejected != "" {
				var got []string
				for _, f := range tab.RejectedFor(r) {
					got = append(got, f.Path+": "+f.Message)
				}
				if diff := cmp.Diff([]string{tc.rejected}, got); diff != "" {
					t.Errorf("rejection (-want +got):\n%s", diff)
				}
				return
			}
			res := tab.Evaluate(r)
			if res.Status != tc.status || res.Route == nil {
				t.Fatalf("status %d (%v), want %d; findings %v", res.Status, res.Reason, tc.status, tab.Findings)
			}
			if got := res.Route.TotalWeight(); got != tc.total {
				t.Errorf("TotalWeight = %d, want %d", got, tc.total)
			}
			if diff := cmp.Diff(tc.shares, shares(t, res.Route)); diff != "" {
				t.Errorf("picks (-want +got):\n%s", diff)
			}
			var pct []float64
			for _, d := range res.Route.Destinations {
				pct = append(pct, d.Percent)
			}
			if diff := cmp.Diff(tc.percent, pct); diff != "" {
				t.Errorf("percent (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUpstreamWeights: Bookinfo's weighted routes split as written.
func TestUpstreamWeights(t *testing.T) {
	tests := []struct {
		file string
		want map[string]int
	}{
		{"virtual-service-reviews-50-v3.yaml", map[string]int{"reviews/v1": 50, "reviews/v3": 50}},
		{"virtual-service-reviews-80-20.yaml", map[string]int{"reviews/v1": 80, "reviews/v2": 20}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			tab := Compile(upstream(t, bookinfoNet+tc.file, bookinfoNet+"destination-rule-all.yaml", bookinfoKube))
			res := tab.Evaluate(req("GET", "http://reviews:9080/reviews/0"))
			if res.Status != 200 || res.Route == nil {
				t.Fatalf("status %d (%v); findings %v", res.Status, res.Reason, tab.Findings)
			}
			if diff := cmp.Diff(tc.want, shares(t, res.Route)); diff != "" {
				t.Errorf("picks (-want +got):\n%s", diff)
			}
			for _, d := range res.Route.Destinations {
				if d.DestinationRule != "default/reviews" || d.Labels["version"] != d.Subset || d.Port != 9080 {
					t.Errorf("destination %+v: want subset labels from default/reviews and the Service's port 9080", d)
				}
			}
		})
	}
}

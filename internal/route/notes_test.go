package route

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestUpstreamNotEvaluated: Istio's fault injection, mirroring, CORS,
// circuit-breaking and TLS origination examples are routed, and what
// Graylane does not carry out is named, located, for the requests it
// concerns only.
func TestUpstreamNotEvaluated(t *testing.T) {
	const (
		net      = bookinfoNet
		mirror   = "istio.io/content/en/docs/tasks/traffic-management/mirroring/"
		breaking = "istio.io/content/en/docs/tasks/traffic-management/circuit-breaking/snip_configuring_the_circuit_breaker_1.yaml"
	)
	tests := []struct {
		name  string
		files []string
		req   *Request
		want  []string // "file:line path: message" of NotEvaluated, file without its folders
	}{
		// Fault injection and mirroring are evaluated (fault_test.go,
		// mirror tests): no "not evaluated" finding for them.
		{"abort for jason is evaluated", []string{net + "virtual-service-ratings-test-abort.yaml", net + "destination-rule-all.yaml"},
			req("GET", "http://ratings:9080/", "end-user: jason"), nil},
		{"mirror to v2 is evaluated", []string{mirror + "snip_creating_a_default_routing_policy_1.yaml", mirror + "snip_mirroring_traffic_to_v2_1.yaml"},
			req("GET", "http://httpbin:8000/headers"), nil},
		{"CORS", []string{"istio-api/networking/v1alpha3/virtual_service.proto.L1389-1410.yaml"},
			req("GET", "http://ratings.prod.svc.cluster.local/"),
			[]string{"virtual_service.proto.L1389-1410.yaml:13 spec.http[0].corsPolicy: not evaluated: Envoy answers CORS preflight requests and adds CORS response headers for this route; Graylane does neither"}},
		{"circuit breaker of the host's DestinationRule (no VirtualService)", []string{breaking},
			req("GET", "http://httpbin:8000/"),
			[]string{
				"snip_configuring_the_circuit_breaker_1.yaml:8 spec.trafficPolicy.connectionPool: not evaluated: connection pool limits (Envoy answers 503 to what overflows them); Graylane does not enforce them",
				"snip_configuring_the_circuit_breaker_1.yaml:14 spec.trafficPolicy.outlierDetection: not evaluated: outlier detection (Envoy ejects failing pods for a while); Graylane keeps sending to every ready pod",
			}},
		{"TLS origination to an external host", []string{net + "egress-rule-google-apis.yaml"},
			req("GET", "http://www.googleapis.com/"),
			[]string{"egress-rule-google-apis.yaml:45 spec.trafficPolicy.portLevelSettings[0].tls: not evaluated: Envoy originates TLS (mode SIMPLE) to the destination; Graylane sends plain HTTP"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := Compile(upstream(t, tc.files...))
			res := tab.Evaluate(tc.req)
			if res.Reason != Matched && res.Reason != Passthrough {
				t.Fatalf("reason %v; findings %v", res.Reason, tab.Findings)
			}
			var got []string
			for _, f := range tab.NotEvaluated(tc.req, res) {
				got = append(got, f.Where[strings.LastIndexByte(f.Where, '/')+1:]+" "+f.Path+": "+f.Message)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("not evaluated (-want +got):\n%s", diff)
			}
		})
	}
}

package route

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	networking "istio.io/api/networking/v1alpha3"
)

// The policies istiod gives Envoy for an HTTPRoute's timeout and retries.
// Sources: istio.io/api HTTPRoute.timeout ("default is disabled") and
// HTTPRetry; istio pilot/pkg/networking/core/route/retry/retry.go
// (DefaultPolicy, ConvertPolicy, parseRetryOn).
func TestPolicyOf(t *testing.T) {
	def := DefaultRetryPolicy()
	tests := []struct {
		name  string
		route string // the YAML of spec.http[0] without its route
		want  Policy
	}{
		{"no timeout, no retries: Istio's defaults", "{}", Policy{Retries: def}},
		{"attempts 0 disables retries", "{retries: {attempts: 0}}", Policy{}},
		{"timeout", "{timeout: 0.5s}", Policy{Timeout: 500 * time.Millisecond, Retries: def}},
		{"attempts alone keep the default conditions and 503", "{retries: {attempts: 5}}",
			Policy{Retries: &RetryPolicy{Attempts: 5, On: DefaultRetryOn, StatusCodes: []int{503}, OtherHosts: true, Backoff: 25 * time.Millisecond}}},
		{"retryOn 5xx drops the default 503 code", "{retries: {attempts: 3, retryOn: 5xx, perTryTimeout: 2s}}",
			Policy{Retries: &RetryPolicy{Attempts: 3, On: On5xx, PerTryTimeout: 2 * time.Second, OtherHosts: true, Backoff: 25 * time.Millisecond}}},
		{"the VirtualService reference's example", "{retries: {attempts: 3, perTryTimeout: 2s, retryOn: 'gateway-error,connect-failure,refused-stream'}}",
			Policy{Retries: &RetryPolicy{Attempts: 3, On: OnGatewayError | OnConnectFailure | OnRefusedStream, PerTryTimeout: 2 * time.Second, OtherHosts: true, Backoff: 25 * time.Millisecond}}},
		{"status codes add retriable-status-codes", "{retries: {attempts: 2, retryOn: '503,504'}}",
			Policy{Retries: &RetryPolicy{Attempts: 2, On: OnRetriableStatusCodes, StatusCodes: []int{503, 504}, OtherHosts: true, Backoff: 25 * time.Millisecond}}},
		{"retriable-status-codes without codes retries none", "{retries: {attempts: 2, retryOn: retriable-status-codes}}",
			Policy{Retries: &RetryPolicy{Attempts: 2, On: OnRetriableStatusCodes, OtherHosts: true, Backoff: 25 * time.Millisecond}}},
		{"retryIgnorePreviousHosts false and a backoff", "{retries: {attempts: 1, retryIgnorePreviousHosts: false, backoff: 0.1s}}",
			Policy{Retries: &RetryPolicy{Attempts: 1, On: DefaultRetryOn, StatusCodes: []int{503}, Backoff: 100 * time.Millisecond}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl := compileYAML(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: default}
spec:
  hosts: [a]
  http:
  - `+strings.TrimSuffix(tc.route, "}")+withComma(tc.route)+`route: [{destination: {host: a}}]}`)
			res := tbl.Evaluate(req("GET", "http://a/"))
			if res.Route == nil {
				t.Fatalf("no route: %+v %v", res, tbl.Findings)
			}
			if diff := cmp.Diff(tc.want, res.Route.Policy); diff != "" {
				t.Errorf("policy (-want +got):\n%s", diff)
			}
		})
	}
}

// istiod trims the retryOn parts when it reads them (its webhook refuses
// such a value, but a VirtualService that skipped it is read so).
func TestPolicyOfTrims(t *testing.T) {
	h := &networking.HTTPRoute{Retries: &networking.HTTPRetry{Attempts: 2, RetryOn: " reset , 409 "}}
	want := Policy{Retries: &RetryPolicy{Attempts: 2, On: OnReset | OnRetriableStatusCodes, StatusCodes: []int{409}, OtherHosts: true, Backoff: 25 * time.Millisecond}}
	if diff := cmp.Diff(want, PolicyOf(h, nil)); diff != "" {
		t.Errorf("policy (-want +got):\n%s", diff)
	}
}

// withComma separates the route's own fields from the route field added
// after them.
func withComma(route string) string {
	if route == "{}" {
		return ""
	}
	return ", "
}

// A delegate's route takes the timeout and retries it does not set from
// the delegating route (istiod's mergeHTTPRoute).
func TestPolicyOfDelegate(t *testing.T) {
	tbl := compileYAML(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root, namespace: default}
spec:
  hosts: [a]
  http:
  - match: [{uri: {prefix: /}}]
    timeout: 3s
    retries: {attempts: 4, retryOn: 5xx}
    delegate: {name: d}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: d, namespace: default}
spec:
  http:
  - match: [{uri: {prefix: /own}}]
    retries: {attempts: 1, retryOn: reset}
    route: [{destination: {host: a}}]
  - route: [{destination: {host: a}}]`)
	tests := []struct {
		path string
		want Policy
	}{
		{"/own", Policy{Timeout: 3 * time.Second, Retries: &RetryPolicy{Attempts: 1, On: OnReset, OtherHosts: true, Backoff: 25 * time.Millisecond}}},
		{"/x", Policy{Timeout: 3 * time.Second, Retries: &RetryPolicy{Attempts: 4, On: On5xx, OtherHosts: true, Backoff: 25 * time.Millisecond}}},
	}
	for _, tc := range tests {
		res := tbl.Evaluate(req("GET", "http://a"+tc.path))
		if res.Route == nil {
			t.Fatalf("%s: no route: %v", tc.path, tbl.Findings)
		}
		if diff := cmp.Diff(tc.want, res.Route.Policy); diff != "" {
			t.Errorf("%s: policy (-want +got):\n%s", tc.path, diff)
		}
	}
}

// Invalid timeouts and retries reject the VirtualService, as istiod's
// webhook does (validateHTTPRetry, agent.ValidateDuration): the retryOn
// parts are checked as written.
func TestValidatePolicy(t *testing.T) {
	tests := []struct {
		route string
		want  []string // "path: message" of the findings
	}{
		{"{timeout: 2s, retries: {attempts: 3, perTryTimeout: 0.5s, retryOn: '5xx,503,reset-before-request', backoff: 0.025s}}", nil},
		{"{retries: {attempts: 0}}", nil},
		{"{timeout: 0s}", []string{"spec.http[0].timeout: rejected: duration must be greater than 1ms, got 0s"}},
		{"{timeout: 0.0015s}", []string{"spec.http[0].timeout: rejected: only durations to ms precision are supported, got 1.5ms"}},
		{"{retries: {attempts: -1}}", []string{"spec.http[0].retries.attempts: rejected: attempts cannot be negative"}},
		{"{retries: {attempts: 0, retryOn: 5xx}}", []string{"spec.http[0].retries: rejected: http retry policy configured when attempts are set to 0 (disabled)"}},
		{"{retries: {attempts: 2, perTryTimeout: 0s}}", []string{"spec.http[0].retries.perTryTimeout: rejected: duration must be greater than 1ms, got 0s"}},
		{"{retries: {attempts: 2, retryOn: '5xx, reset'}}", []string{`spec.http[0].retries.retryOn: rejected: " reset" is not a valid retryOn policy`}},
		{"{retries: {attempts: 2, retryOn: 'bogus,999'}}", []string{
			`spec.http[0].retries.retryOn: rejected: "bogus" is not a valid retryOn policy`,
			`spec.http[0].retries.retryOn: rejected: "999" is not a valid retryOn policy`}},
	}
	for _, tc := range tests {
		t.Run(tc.route, func(t *testing.T) {
			tbl := compileYAML(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: default}
spec:
  hosts: [a]
  http:
  - `+strings.TrimSuffix(tc.route, "}")+`, route: [{destination: {host: a}}]}`)
			var got []string
			for _, f := range tbl.Findings {
				msg, _, _ := strings.Cut(f.Message, " (want ")
				got = append(got, f.Path+": "+msg)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if res := tbl.Evaluate(req("GET", "http://a/")); (res.Route == nil) != (len(tc.want) > 0) {
				t.Errorf("route found: %v, want the VirtualService rejected: %v", res.Route != nil, len(tc.want) > 0)
			}
		})
	}
}

// Which failures a policy retries: Envoy's wouldRetryFromReset
// (source/common/router/retry_state_impl.cc) and the x-envoy-retry-on
// documentation (router filter).
func TestRetriesFailure(t *testing.T) {
	all := []Failure{ConnectFailure, ResetBeforeRequest, Reset, PerTryTimeout}
	tests := []struct {
		on   RetryOn
		want []Failure
	}{
		{DefaultRetryOn, []Failure{ConnectFailure}},
		{On5xx, all},
		{OnGatewayError, all},
		{OnReset, all},
		{OnResetBeforeRequest, []Failure{ConnectFailure, ResetBeforeRequest}},
		{OnRetriableStatusCodes | OnRetriable4xx, nil},
	}
	for _, tc := range tests {
		p := &RetryPolicy{Attempts: 1, On: tc.on}
		var got []Failure
		for _, f := range all {
			if p.RetriesFailure(f) {
				got = append(got, f)
			}
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.on, diff)
		}
	}
	if (*RetryPolicy)(nil).RetriesFailure(ConnectFailure) {
		t.Error("no policy retried a connect failure")
	}
}

// Which answers a policy retries: Envoy's wouldRetryFromHeaders.
func TestRetriesAnswer(t *testing.T) {
	codes := []int{200, 404, 409, 500, 502, 503, 504}
	tests := []struct {
		name   string
		p      *RetryPolicy
		header http.Header
		want   []int
	}{
		{"istio default", DefaultRetryPolicy(), nil, []int{503}},
		{"5xx", &RetryPolicy{On: On5xx}, nil, []int{500, 502, 503, 504}},
		{"gateway-error", &RetryPolicy{On: OnGatewayError}, nil, []int{502, 503, 504}},
		{"retriable-4xx", &RetryPolicy{On: OnRetriable4xx}, nil, []int{409}},
		{"codes", &RetryPolicy{On: OnRetriableStatusCodes, StatusCodes: []int{404, 500}}, nil, []int{404, 500}},
		{"codes without the condition", &RetryPolicy{StatusCodes: []int{404}}, nil, nil},
		{"overloaded is never retried", &RetryPolicy{On: On5xx}, http.Header{"X-Envoy-Overloaded": {"true"}}, nil},
		{"rate limited without envoy-ratelimited", &RetryPolicy{On: On5xx}, http.Header{"X-Envoy-Ratelimited": {"true"}}, nil},
		{"rate limited with envoy-ratelimited", &RetryPolicy{On: OnEnvoyRateLimited}, http.Header{"X-Envoy-Ratelimited": {"true"}}, codes},
		{"grpc unavailable", DefaultRetryPolicy(), http.Header{"Grpc-Status": {"14"}}, codes},
		{"grpc internal not asked", DefaultRetryPolicy(), http.Header{"Grpc-Status": {"13"}}, []int{503}},
	}
	for _, tc := range tests {
		var got []int
		for _, c := range codes {
			if tc.p.RetriesAnswer(c, tc.header) {
				got = append(got, c)
			}
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

// Envoy's jittered exponential back-off: base*(2^n-1), at most 10*base.
func TestBackoffBefore(t *testing.T) {
	p := DefaultRetryPolicy()
	var got []time.Duration
	for n := 1; n <= 5; n++ {
		got = append(got, p.BackoffBefore(n))
	}
	want := []time.Duration{25 * time.Millisecond, 75 * time.Millisecond, 175 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRetryOnString(t *testing.T) {
	if got, want := DefaultRetryOn.String(), "connect-failure,refused-stream,retriable-status-codes,cancelled,unavailable"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

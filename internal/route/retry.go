package route

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1alpha3"
)

// Policy is what the proxy does about time and failures on one route: the
// route timeout and the retry policy, as istiod translates a
// VirtualService's HTTPRoute `timeout` and `retries` into Envoy's
// RouteAction (pilot/pkg/networking/core/route: translateRoute and
// retry.ConvertPolicy).
type Policy struct {
	// Timeout bounds a request from the end of its body to the end of the
	// answer, every retry included (Envoy's route timeout); 0: none, which
	// is Istio's default ("Timeout for HTTP requests, default is
	// disabled", istio.io/api HTTPRoute.timeout).
	Timeout time.Duration `json:"timeout,omitempty"`
	// Retries is nil when retries are off (`retries.attempts: 0`).
	Retries *RetryPolicy `json:"retries,omitempty"`
}

// RetryPolicy is Envoy's retry_policy as istiod writes it.
type RetryPolicy struct {
	// Attempts is the number of retries after the first try (Envoy's
	// num_retries; Istio's `attempts`).
	Attempts int `json:"attempts"`
	// PerTryTimeout bounds each try until the answer's head arrives; 0:
	// none (only Timeout applies).
	PerTryTimeout time.Duration `json:"perTryTimeout,omitempty"`
	// On are the retry conditions (Envoy's retry_on).
	On RetryOn `json:"retryOn"`
	// StatusCodes are the answers retried under retriable-status-codes.
	StatusCodes []int `json:"retriableStatusCodes,omitempty"`
	// OtherHosts: a retry goes to a replica not tried yet when there is one
	// (envoy.retry_host_predicates.previous_hosts, which istiod always sets
	// unless retryIgnorePreviousHosts is false).
	OtherHosts bool `json:"otherHosts"`
	// Backoff is the base interval of the fully jittered exponential
	// back-off between tries; the interval is capped at 10 times it.
	Backoff time.Duration `json:"backoff"`
}

// RetryOn is a set of Envoy retry conditions.
type RetryOn uint32

// The retry conditions istiod accepts in `retryOn` (Envoy's x-envoy-retry-on
// and x-envoy-retry-grpc-on values).
const (
	On5xx RetryOn = 1 << iota
	OnGatewayError
	OnReset
	OnResetBeforeRequest
	OnConnectFailure
	OnRetriable4xx
	OnRefusedStream
	OnRetriableStatusCodes
	OnRetriableHeaders
	OnEnvoyRateLimited
	OnHTTP3PostConnectFailure
	OnCancelled
	OnDeadlineExceeded
	OnInternal
	OnResourceExhausted
	OnUnavailable
)

// retryOnNames are the condition names, in the order of RetryOn's bits.
var retryOnNames = [...]string{"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure",
	"retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers", "envoy-ratelimited",
	"http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"}

func retryOnBit(name string) RetryOn {
	for i, n := range retryOnNames {
		if n == name {
			return 1 << i
		}
	}
	return 0
}

// String lists the conditions, comma-separated, as Envoy's retry_on.
func (o RetryOn) String() string {
	var names []string
	for i, n := range retryOnNames {
		if o&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}

// MarshalText prints the conditions as Envoy's retry_on.
func (o RetryOn) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// DefaultRetryOn is Istio's default retry_on.
const DefaultRetryOn = OnConnectFailure | OnRefusedStream | OnUnavailable | OnCancelled | OnRetriableStatusCodes

// DefaultRetryBackoff is Envoy's base retry interval (25 ms).
const DefaultRetryBackoff = 25 * time.Millisecond

// DefaultRetryPolicy is the policy istiod gives every route without
// `retries` (retry.DefaultPolicy): 2 retries on connect-failure,
// refused-stream, unavailable, cancelled and retriable-status-codes with
// 503, on another host when there is one.
func DefaultRetryPolicy() *RetryPolicy {
	return &RetryPolicy{Attempts: 2, On: DefaultRetryOn, StatusCodes: []int{http.StatusServiceUnavailable},
		OtherHosts: true, Backoff: DefaultRetryBackoff}
}

// DefaultPolicy is the policy of a route without `timeout` and `retries`,
// and of requests no VirtualService routes.
func DefaultPolicy() Policy { return Policy{Retries: DefaultRetryPolicy()} }

// PolicyOf is the policy of an HTTPRoute as istiod translates it: fields
// the route does not set come from root, the delegating route of a
// delegate VirtualService (nil otherwise), as istiod merges them.
// Invalid values are refused by ValidatePolicy; here they are read as
// istiod reads them.
func PolicyOf(h, root *networking.HTTPRoute) Policy {
	timeout, retries := h.GetTimeout(), h.GetRetries()
	if timeout == nil && root != nil {
		timeout = root.GetTimeout()
	}
	if retries == nil && root != nil {
		retries = root.GetRetries()
	}
	return Policy{Timeout: durationOf(timeout), Retries: retryPolicyOf(retries)}
}

// retryPolicyOf is retry.ConvertPolicy: the default when in is nil, none
// when attempts is 0 (or less), else the default with the given fields.
func retryPolicyOf(in *networking.HTTPRetry) *RetryPolicy {
	out := DefaultRetryPolicy()
	if in == nil {
		return out
	}
	if in.GetAttempts() <= 0 {
		return nil
	}
	out.Attempts = int(in.GetAttempts())
	if in.GetRetryOn() != "" {
		// Numbers are status codes; retriable-status-codes is added when
		// codes are given without it. Codes replace the default 503.
		out.On, out.StatusCodes = 0, nil
		for _, part := range strings.Split(in.GetRetryOn(), ",") {
			part = strings.TrimSpace(part)
			if code, ok := statusCode(part); ok {
				out.StatusCodes = append(out.StatusCodes, code)
				continue
			}
			out.On |= retryOnBit(part)
		}
		if len(out.StatusCodes) > 0 {
			out.On |= OnRetriableStatusCodes
		}
	}
	if in.GetPerTryTimeout() != nil {
		out.PerTryTimeout = durationOf(in.GetPerTryTimeout())
	}
	if v := in.GetRetryIgnorePreviousHosts(); v != nil {
		out.OtherHosts = v.GetValue()
	}
	if in.GetBackoff() != nil {
		out.Backoff = durationOf(in.GetBackoff())
	}
	return out
}

// statusCode reads an HTTP status code Go knows a text for, as istiod's
// parseRetryOn does.
func statusCode(s string) (int, bool) {
	code, err := strconv.Atoi(s)
	return code, err == nil && http.StatusText(code) != ""
}

func durationOf(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

// ValidatePolicy makes the checks istiod's validating webhook makes on an
// HTTPRoute's `timeout` and `retries` (validateHTTPRetry and
// agent.ValidateDuration); each failure is reported with its field path
// under path. The `retryOn` values are checked as written, not trimmed:
// "5xx, reset" is refused for its " reset".
func ValidatePolicy(h *networking.HTTPRoute, path string, reject func(path, format string, args ...any)) {
	if t := h.GetTimeout(); t != nil {
		if why := durationProblem(t); why != "" {
			reject(path+".timeout", "%s", why)
		}
	}
	r := h.GetRetries()
	if r == nil {
		return
	}
	rp := path + ".retries"
	if r.GetAttempts() < 0 {
		reject(rp+".attempts", "attempts cannot be negative")
	}
	if r.GetAttempts() == 0 && (r.GetPerTryTimeout() != nil || r.GetRetryOn() != "" || r.GetRetryRemoteLocalities() != nil) {
		reject(rp, "http retry policy configured when attempts are set to 0 (disabled)")
	}
	if t := r.GetPerTryTimeout(); t != nil {
		if why := durationProblem(t); why != "" {
			reject(rp+".perTryTimeout", "%s", why)
		}
	}
	if r.GetRetryOn() != "" {
		for _, part := range strings.Split(r.GetRetryOn(), ",") {
			code, _ := strconv.Atoi(part)
			if http.StatusText(code) == "" && retryOnBit(part) == 0 {
				reject(rp+".retryOn", "%q is not a valid retryOn policy (want %s, or an HTTP status code)", part, strings.Join(retryOnNames[:], ", "))
			}
		}
	}
	if t := r.GetBackoff(); t != nil {
		if why := durationProblem(t); why != "" {
			reject(rp+".backoff", "%s", why)
		}
	}
}

// durationProblem is agent.ValidateDuration: at least 1 ms, whole ms.
func durationProblem(d *durationpb.Duration) string {
	v := d.AsDuration()
	switch {
	case v < time.Millisecond:
		return fmt.Sprintf("duration must be greater than 1ms, got %s", v)
	case v%time.Millisecond != 0:
		return fmt.Sprintf("only durations to ms precision are supported, got %s", v)
	}
	return ""
}

// Failure is how a try failed before any answer came back.
type Failure int

// Failures.
const (
	// ConnectFailure: no connection (refused, unreachable, connect
	// timeout); nothing reached the replica.
	ConnectFailure Failure = iota
	// ResetBeforeRequest: the connection failed before the request was
	// written.
	ResetBeforeRequest
	// Reset: the connection was closed or reset after the request (or part
	// of it) was sent, before the answer's head.
	Reset
	// PerTryTimeout: the try's perTryTimeout passed before the answer's
	// head.
	PerTryTimeout
)

// RetriesFailure reports whether the policy retries a try that failed so,
// as Envoy's RetryStateImpl::wouldRetryFromReset decides: connect-failure
// retries connection failures; 5xx, gateway-error and reset retry every
// failure (a per-try timeout included); reset-before-request retries what
// failed before the request was sent. (refused-stream is an HTTP/2 reset,
// which HTTP/1.1 replicas do not send.)
func (p *RetryPolicy) RetriesFailure(f Failure) bool {
	if p == nil {
		return false
	}
	if p.On&(On5xx|OnGatewayError|OnReset) != 0 {
		return true
	}
	switch f {
	case ConnectFailure:
		return p.On&(OnConnectFailure|OnResetBeforeRequest) != 0
	case ResetBeforeRequest:
		return p.On&OnResetBeforeRequest != 0
	}
	return false
}

// grpcRetryOn: the gRPC retry condition of each grpc-status code.
var grpcRetryOn = map[string]RetryOn{"1": OnCancelled, "4": OnDeadlineExceeded, "13": OnInternal, "8": OnResourceExhausted, "14": OnUnavailable}

// RetriesAnswer reports whether the policy retries an answer with this
// status code and header, as Envoy's wouldRetryFromHeaders decides: never
// an answer marked x-envoy-overloaded; one marked x-envoy-ratelimited
// only under envoy-ratelimited; 5xx any 5xx; gateway-error 502, 503 and
// 504; retriable-4xx 409; retriable-status-codes the listed codes; the
// gRPC conditions by the answer's grpc-status. (retriable-headers needs
// header matchers that Istio does not configure: it retries nothing.)
func (p *RetryPolicy) RetriesAnswer(code int, h http.Header) bool {
	if p == nil || field(h, "X-Envoy-Overloaded") != "" {
		return false
	}
	if field(h, "X-Envoy-Ratelimited") != "" {
		return p.On&OnEnvoyRateLimited != 0
	}
	switch {
	case p.On&On5xx != 0 && code >= 500 && code <= 599,
		p.On&OnGatewayError != 0 && (code == 502 || code == 503 || code == 504),
		p.On&OnRetriable4xx != 0 && code == http.StatusConflict:
		return true
	}
	if p.On&OnRetriableStatusCodes != 0 {
		for _, c := range p.StatusCodes {
			if c == code {
				return true
			}
		}
	}
	if s := field(h, "Grpc-Status"); s != "" && p.On&grpcRetryOn[s] != 0 {
		return true
	}
	return false
}

// field is h.Get(key) for a key in canonical form (an answer's header
// read by the data plane or net/http is), without canonicalising it
// again: RetriesAnswer runs on every answer.
func field(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// BackoffBefore is the longest wait before retry n (1 for the first
// retry): Envoy's fully jittered exponential back-off waits a random time
// in [0, BackoffBefore(n)), base*(2^n - 1) capped at 10 times the base.
func (p *RetryPolicy) BackoffBefore(n int) time.Duration {
	base := p.Backoff
	if base <= 0 {
		base = DefaultRetryBackoff
	}
	limit := 10 * base
	if n >= 10 {
		return limit
	}
	return min(base*time.Duration(1<<n-1), limit)
}

// routePolicy is the policy of a compiled route; a delegate's route takes
// what it does not set from the delegating route of the root.
func routePolicy(r *routeSpec) Policy {
	var root *networking.HTTPRoute
	if r.owner != r.root {
		if http := r.root.obj.Spec.GetHttp(); r.rootIndex < len(http) {
			root = http[r.rootIndex]
		}
	}
	return PolicyOf(r.http, root)
}

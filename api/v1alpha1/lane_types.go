package v1alpha1

import (
	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Lane is a full-link gray lane: a set of services that each have a lane
// version, the rules that let a request in at the edge, and how lane
// membership travels with the request on every later hop. A request in
// the lane sees the lane version of every member it calls, and the stable
// version (or a refusal, in strict mode) of every other service.
//
//	apiVersion: graylane.io/v1alpha1
//	kind: Lane
//	metadata: {name: gray, namespace: shop}
//	spec:
//	  members:
//	  - {service: order, workload: order-v2}
//	  - {service: logistics, workload: logistics-v2}
//	  entry:
//	    headers: [{name: x-canary, exact: "true"}]
//	    percentage: {weight: 10}
type Lane struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              LaneSpec `json:"spec"`
}

// LaneSpec is the desired lane.
type LaneSpec struct {
	// Members are the services that have a version in this lane. At least
	// one; a service appears at most once.
	Members []LaneMember `json:"members"`
	// Entry says which requests enter the lane at the edge (gateways).
	// Without any rule only signed lane headers enter.
	Entry LaneEntry `json:"entry,omitempty"`
	// Propagation says how lane membership travels from hop to hop.
	// Default: the header x-graylane, also read from W3C baggage.
	Propagation LanePropagation `json:"propagation,omitempty"`
	// Fallback is what a lane request gets from a service of the lane's
	// namespace that has no lane version: "base" (default, loose: it is
	// served by the stable version and later hops re-enter the lane) or
	// "strict" (refused with 503 and a body naming the lane and service).
	Fallback FallbackMode `json:"fallback,omitempty"`
	// Plan, when set, moves the lane's percentage weight through steps,
	// judges every member's lane version against its stable version, and
	// promotes or rolls back all members together. Without a plan the
	// weight is entry.percentage.weight and the lane never completes.
	Plan *LanePlan `json:"plan,omitempty"`
}

// LaneMember is one service with a version in the lane.
type LaneMember struct {
	// Service is the name of the Kubernetes Service (in the lane's
	// namespace) whose lane version this is.
	Service string `json:"service"`
	// Workload is the Deployment or Rollout whose pods are the lane
	// version. Either workload or labels is required.
	Workload string `json:"workload,omitempty"`
	// Labels select the lane version's pods among the Service's pods
	// (e.g. {version: v2}). Default: the labels of workload's pod template
	// that the Service's selector does not already fix.
	Labels map[string]string `json:"labels,omitempty"`
	// Stable is the version serving everyone else. Default: the one other
	// workload the Service selects.
	Stable *VersionRef `json:"stable,omitempty"`
}

// VersionRef names a version of a service, by workload or by pod labels.
type VersionRef struct {
	// Workload is a Deployment or Rollout name.
	Workload string `json:"workload,omitempty"`
	// Labels select the version's pods among the Service's pods.
	Labels map[string]string `json:"labels,omitempty"`
}

// FallbackMode is LaneSpec.Fallback.
type FallbackMode string

// Fallback modes.
const (
	FallbackBase   FallbackMode = "base"
	FallbackStrict FallbackMode = "strict"
)

// LaneEntry holds the rules that let an edge request into the lane. They
// are tried in this order: a signed lane header, headers, cookies, the
// whitelist, the percentage; the first that matches decides. Lane headers
// that arrive from outside unsigned are removed at the edge.
type LaneEntry struct {
	// Headers: a request with any of these headers enters.
	Headers []HeaderRule `json:"headers,omitempty"`
	// Cookies: a request with any of these cookies enters.
	Cookies []CookieRule `json:"cookies,omitempty"`
	// Identity says where the user and tenant ids are read (whitelist and
	// percentage use them).
	Identity Identity `json:"identity,omitempty"`
	// Whitelist: users and tenants that always enter.
	Whitelist *Whitelist `json:"whitelist,omitempty"`
	// Percentage lets a share of users in, sticky per user.
	Percentage *Percentage `json:"percentage,omitempty"`
}

// HeaderRule matches a request header. Exactly one of exact, prefix and
// regex (RE2, whole value); with none, the header's presence matches.
type HeaderRule struct {
	Name   string `json:"name"`
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

// CookieRule matches one cookie's value, like HeaderRule.
type CookieRule struct {
	Name  string `json:"name"`
	Exact string `json:"exact,omitempty"`
	Regex string `json:"regex,omitempty"`
}

// Identity says where the caller's ids are read.
type Identity struct {
	// UserHeader carries the user id. Default x-user-id.
	UserHeader string `json:"userHeader,omitempty"`
	// UserCookie, when set, carries the user id when the header is absent.
	UserCookie string `json:"userCookie,omitempty"`
	// TenantHeader carries the tenant id. Default x-tenant-id.
	TenantHeader string `json:"tenantHeader,omitempty"`
}

// Whitelist lists the ids that always enter.
type Whitelist struct {
	Users   []string `json:"users,omitempty"`
	Tenants []string `json:"tenants,omitempty"`
	// Gate, when set, is the URL of a `graylane gate` whose whitelist is
	// asked too (GET /v1/decide); only its whitelist answers count here.
	Gate string `json:"gate,omitempty"`
}

// Percentage lets a share of users in. Each user has a sticky bucket
// 0..99 (a stable hash of the user id, the same as the gate's); the lane
// orders the buckets its own way and admits the first `weight` of them,
// so a user never flips while the weight stays, and raising the weight
// only adds users.
type Percentage struct {
	// Weight is the share of users, 0..100, when the lane has no plan
	// (with a plan, the current step's setWeight decides).
	Weight int32 `json:"weight,omitempty"`
	// AnonymousWeight is the share of clients without a user id that
	// enter. When the edge has a lane key, each such client gets a signed
	// bucket cookie on its first request and is decided by that bucket
	// (sticky, monotonic, like users); without a key it is drawn per
	// request. Default: the same as the weight.
	AnonymousWeight *int32 `json:"anonymousWeight,omitempty"`
}

// Propagation modes.
const (
	PropagateHeader       = "header"
	PropagateBaggage      = "baggage"
	PropagateSourceLabels = "sourceLabels"
)

// LanePropagation says how lane membership travels.
type LanePropagation struct {
	// Modes are any of "header" (the lane header, which applications must
	// forward, as an OpenTelemetry agent does), "baggage" (the same, read
	// from the W3C baggage header as `x-graylane=LANE`) and "sourceLabels"
	// (the caller pod's labels: lane pods carry graylane.io/lane, so no
	// application change is needed, but a non-member hop ends the lane).
	// Default [header, baggage].
	Modes []string `json:"modes,omitempty"`
	// Header is the lane header's name. Default x-graylane.
	Header string `json:"header,omitempty"`
}

// LanePlan is the lane's release plan, in Argo Rollouts' terms.
type LanePlan struct {
	// Steps are canary steps: setWeight (the percentage of users in the
	// lane), pause ({} waits for promote; duration waits), and analysis
	// (templates run once per member). Other step kinds are refused.
	Steps []rolloutsv1alpha1.CanaryStep `json:"steps"`
	// Analysis runs in the background from its startingStep, once per
	// member; any failure rolls back every member. Without it, the
	// Graylane judge (template name graylane-judge) compares every
	// member's lane version with its stable version all along the plan.
	Analysis *rolloutsv1alpha1.RolloutAnalysisBackground `json:"analysis,omitempty"`
	// Judge, when false, turns the default judge off (a plan without
	// analysis then judges nothing). Default true.
	Judge *bool `json:"judge,omitempty"`
}

// LaneLabel is the pod label lane versions carry (value: the lane name);
// sourceLabels propagation matches it.
const LaneLabel = "graylane.io/lane"

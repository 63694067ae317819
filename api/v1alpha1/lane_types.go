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
//
// The CRD schema refuses a lane name that Validate refuses: a DNS label
// (RFC 1123) other than "base".
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=graylane
// +kubebuilder:printcolumn:name="Fallback",type=string,JSONPath=`.spec.fallback`
// +kubebuilder:printcolumn:name="Weight",type=integer,JSONPath=`.spec.entry.percentage.weight`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name != 'base'",message="metadata.name: \"base\" means \"no lane\" and cannot name a lane",fieldPath=".metadata"
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name: must be no more than 63 characters",fieldPath=".metadata"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",fieldPath=".metadata",message="metadata.name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
type Lane struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the desired lane.
	Spec LaneSpec `json:"spec"`
	// Status is the observed state, written through the status subresource.
	Status LaneStatus `json:"status,omitempty"`
}

// LaneList is a list of Lanes.
//
// +kubebuilder:object:root=true
type LaneList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Lane `json:"items"`
}

// LaneStatus is the observed state of a Lane.
type LaneStatus struct {
	// ObservedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are Ready, Progressing and Degraded (see ConditionReady).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// LaneSpec is the desired lane.
type LaneSpec struct {
	// Members are the services that have a version in this lane. At least
	// one; a service appears at most once.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +listType=map
	// +listMapKey=service
	Members []LaneMember `json:"members"`
	// Entry says which requests enter the lane at the edge (gateways).
	// Without any rule only signed lane headers enter.
	// +optional
	Entry LaneEntry `json:"entry,omitempty"`
	// Propagation says how lane membership travels from hop to hop.
	// Default: the header x-graylane, also read from W3C baggage.
	// +optional
	Propagation LanePropagation `json:"propagation,omitempty"`
	// Fallback is what a lane request gets from a service of the lane's
	// namespace that has no lane version: "base" (default, loose: it is
	// served by the stable version and later hops re-enter the lane) or
	// "strict" (refused with 503 and a body naming the lane and service).
	// +optional
	Fallback FallbackMode `json:"fallback,omitempty"`
	// Plan, when set, moves the lane's percentage weight through steps,
	// judges every member's lane version against its stable version, and
	// promotes or rolls back all members together. Without a plan the
	// weight is entry.percentage.weight and the lane never completes.
	// +optional
	Plan *LanePlan `json:"plan,omitempty"`
}

// LaneMember is one service with a version in the lane.
//
// +kubebuilder:validation:XValidation:rule="(has(self.workload) && size(self.workload) > 0) || (has(self.labels) && size(self.labels) > 0)",message="workload (a Deployment or Rollout) or labels selecting the lane version",fieldPath=".workload",reason="FieldValueRequired"
// +kubebuilder:validation:XValidation:rule="!has(self.canaryConfig) || (has(self.workload) && size(self.workload) > 0)",message="canaryConfig needs workload: the Deployment whose pod template gets the variables",fieldPath=".canaryConfig"
type LaneMember struct {
	// Service is the name of the Kubernetes Service (in the lane's
	// namespace) whose lane version this is.
	// +kubebuilder:validation:MinLength=1
	Service string `json:"service"`
	// Workload is the Deployment or Rollout whose pods are the lane
	// version. Either workload or labels is required.
	// +optional
	Workload string `json:"workload,omitempty"`
	// Labels select the lane version's pods among the Service's pods
	// (e.g. {version: v2}). Default: the labels of workload's pod template
	// that the Service's selector does not already fix.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Stable is the version serving everyone else. Default: the one other
	// workload the Service selects.
	// +optional
	Stable *VersionRef `json:"stable,omitempty"`
	// CanaryConfig are lane-only Spring properties: environment variables
	// of the lane version's pod template (workload, a Deployment; the
	// stable version never has them), published to Nacos once the lane's
	// plan is Promoted (graylane up; see CanaryConfig).
	// +optional
	CanaryConfig *CanaryConfig `json:"canaryConfig,omitempty"`
}

// VersionRef names a version of a service, by workload or by pod labels.
//
// +kubebuilder:validation:XValidation:rule="(has(self.workload) && size(self.workload) > 0) || (has(self.labels) && size(self.labels) > 0)",message="workload or labels",reason="FieldValueRequired"
type VersionRef struct {
	// Workload is a Deployment or Rollout name.
	// +optional
	Workload string `json:"workload,omitempty"`
	// Labels select the version's pods among the Service's pods.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
}

// FallbackMode is LaneSpec.Fallback.
//
// +kubebuilder:validation:Enum=base;strict;""
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
	// +optional
	Headers []HeaderRule `json:"headers,omitempty"`
	// Cookies: a request with any of these cookies enters.
	// +optional
	Cookies []CookieRule `json:"cookies,omitempty"`
	// Identity says where the user and tenant ids are read (whitelist and
	// percentage use them).
	// +optional
	Identity Identity `json:"identity,omitempty"`
	// Whitelist: users and tenants that always enter.
	// +optional
	Whitelist *Whitelist `json:"whitelist,omitempty"`
	// Percentage lets a share of users in, sticky per user.
	// +optional
	Percentage *Percentage `json:"percentage,omitempty"`
}

// HeaderRule matches a request header. Exactly one of exact, prefix and
// regex (RE2, whole value); with none, the header's presence matches.
//
// +kubebuilder:validation:XValidation:rule="!((has(self.exact) && size(self.exact) > 0) && (has(self.prefix) && size(self.prefix) > 0))",messageExpression="(has(self.regex) && size(self.regex) > 0) ? 'only one of exact, prefix, regex may be set' : 'only one of exact, prefix may be set'",fieldPath=".prefix"
// +kubebuilder:validation:XValidation:rule="!((has(self.regex) && size(self.regex) > 0) && ((has(self.exact) && size(self.exact) > 0) || (has(self.prefix) && size(self.prefix) > 0))) || ((has(self.exact) && size(self.exact) > 0) && (has(self.prefix) && size(self.prefix) > 0))",messageExpression="(has(self.exact) && size(self.exact) > 0) ? 'only one of exact, regex may be set' : 'only one of prefix, regex may be set'",fieldPath=".regex"
type HeaderRule struct {
	// Name of the header.
	// +kubebuilder:validation:Pattern=`^[-_.0-9a-zA-Z]+$`
	Name string `json:"name"`
	// Exact value.
	// +optional
	Exact string `json:"exact,omitempty"`
	// Prefix of the value.
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// Regex (RE2) matching the whole value.
	// +optional
	Regex string `json:"regex,omitempty"`
}

// CookieRule matches one cookie's value, like HeaderRule.
//
// +kubebuilder:validation:XValidation:rule="!((has(self.exact) && size(self.exact) > 0) && (has(self.regex) && size(self.regex) > 0))",message="only one of exact, regex may be set",fieldPath=".regex"
type CookieRule struct {
	// Name of the cookie.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Exact value.
	// +optional
	Exact string `json:"exact,omitempty"`
	// Regex (RE2) matching the whole value.
	// +optional
	Regex string `json:"regex,omitempty"`
}

// Identity says where the caller's ids are read.
type Identity struct {
	// UserHeader carries the user id. Default x-user-id.
	// +kubebuilder:validation:Pattern=`^[-_.0-9a-zA-Z]*$`
	// +optional
	UserHeader string `json:"userHeader,omitempty"`
	// UserCookie, when set, carries the user id when the header is absent.
	// +optional
	UserCookie string `json:"userCookie,omitempty"`
	// TenantHeader carries the tenant id. Default x-tenant-id.
	// +kubebuilder:validation:Pattern=`^[-_.0-9a-zA-Z]*$`
	// +optional
	TenantHeader string `json:"tenantHeader,omitempty"`
}

// Whitelist lists the ids that always enter.
type Whitelist struct {
	// Users are user ids.
	// +optional
	Users []string `json:"users,omitempty"`
	// Tenants are tenant ids.
	// +optional
	Tenants []string `json:"tenants,omitempty"`
	// Gate, when set, is the URL of a `graylane gate` whose whitelist is
	// asked too (GET /v1/decide); only its whitelist answers count here.
	// +kubebuilder:validation:Pattern=`^((?s)https?://.*)?$`
	// +optional
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
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	Weight int32 `json:"weight,omitempty"`
	// AnonymousWeight is the share of clients without a user id that
	// enter. When the edge has a lane key, each such client gets a signed
	// bucket cookie on its first request and is decided by that bucket
	// (sticky, monotonic, like users); without a key it is drawn per
	// request. Default: the same as the weight.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
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
	// +kubebuilder:validation:items:Enum=header;baggage;sourceLabels
	// +listType=set
	// +optional
	Modes []string `json:"modes,omitempty"`
	// Header is the lane header's name. Default x-graylane.
	// +kubebuilder:validation:Pattern=`^[-_.0-9a-zA-Z]*$`
	// +optional
	Header string `json:"header,omitempty"`
}

// LanePlan is the lane's release plan, in Argo Rollouts' terms.
//
// +kubebuilder:validation:XValidation:rule="!has(self.analysis) || !has(self.analysis.startingStep) || (self.analysis.startingStep >= 0 && self.analysis.startingStep < size(self.steps))",message="must name a step, 0..(number of steps - 1)",fieldPath=".analysis.startingStep"
type LanePlan struct {
	// Steps are canary steps: setWeight (the percentage of users in the
	// lane), pause ({} waits for promote; duration waits), and analysis
	// (templates run once per member). Other step kinds are refused.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:XValidation:rule="!has(self.setWeight) || (self.setWeight >= 0 && self.setWeight <= 100)",message="must be between 0 and 100",fieldPath=".setWeight"
	// +kubebuilder:validation:items:XValidation:rule="!has(self.pause) || !has(self.pause.duration) || type(self.pause.duration) != int || self.pause.duration >= 0",message="a duration such as 30, 30s, 5m or 1h",fieldPath=".pause.duration"
	// +kubebuilder:validation:items:XValidation:rule="!has(self.experiment)",message="a lane plan step is setWeight, pause or analysis",fieldPath=".experiment",reason="FieldValueForbidden"
	// +kubebuilder:validation:items:XValidation:rule="!has(self.setCanaryScale)",message="a lane plan step is setWeight, pause or analysis",fieldPath=".setCanaryScale",reason="FieldValueForbidden"
	// +kubebuilder:validation:items:XValidation:rule="!has(self.setHeaderRoute)",message="a lane plan step is setWeight, pause or analysis",fieldPath=".setHeaderRoute",reason="FieldValueForbidden"
	// +kubebuilder:validation:items:XValidation:rule="!has(self.setMirrorRoute)",message="a lane plan step is setWeight, pause or analysis",fieldPath=".setMirrorRoute",reason="FieldValueForbidden"
	// +kubebuilder:validation:items:XValidation:rule="!has(self.plugin)",message="a lane plan step is setWeight, pause or analysis",fieldPath=".plugin",reason="FieldValueForbidden"
	// +kubebuilder:validation:items:XValidation:rule="has(self.setWeight) || has(self.pause) || has(self.analysis) || has(self.experiment) || has(self.setCanaryScale) || has(self.setHeaderRoute) || has(self.setMirrorRoute) || has(self.plugin)",message="one of setWeight, pause, analysis",reason="FieldValueRequired"
	// +kubebuilder:validation:items:XValidation:rule="(has(self.setWeight) ? 1 : 0) + (has(self.pause) ? 1 : 0) + (has(self.analysis) ? 1 : 0) <= 1 || has(self.experiment) || has(self.setCanaryScale) || has(self.setHeaderRoute) || has(self.setMirrorRoute) || has(self.plugin)",message="a step has exactly one of setWeight, pause, analysis"
	Steps []rolloutsv1alpha1.CanaryStep `json:"steps"`
	// Analysis runs in the background from its startingStep, once per
	// member; any failure rolls back every member. Without it, the
	// Graylane judge (template name graylane-judge) compares every
	// member's lane version with its stable version all along the plan.
	// +optional
	Analysis *rolloutsv1alpha1.RolloutAnalysisBackground `json:"analysis,omitempty"`
	// Judge, when false, turns the default judge off (a plan without
	// analysis then judges nothing). Default true.
	// +optional
	Judge *bool `json:"judge,omitempty"`
}

// Propagates reports whether mode is one of the lane's propagation modes.
func (s *LaneSpec) Propagates(mode string) bool {
	for _, m := range s.Propagation.Modes {
		if m == mode {
			return true
		}
	}
	return false
}

// LaneLabel is the pod label lane versions carry (value: the lane name);
// sourceLabels propagation matches it.
const LaneLabel = "graylane.io/lane"

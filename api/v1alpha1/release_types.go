package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Release describes how one or more services are released with a canary:
// the workload, its Service(s), the Istio routing Argo Rollouts drives, the
// canary steps, the analysis that promotes or aborts, the disruption budget
// and, optionally, the Argo CD Application that syncs it all.
// `graylane render` turns it into Kubernetes, Istio and Argo objects.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=graylane
// +kubebuilder:printcolumn:name="Layout",type=string,JSONPath=`.spec.layout`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Progressing",type=string,JSONPath=`.status.conditions[?(@.type=="Progressing")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Release struct {
	metav1.TypeMeta `json:",inline"`
	// ObjectMeta: name names the release (and its AnalysisTemplates and Argo CD
	// Application); namespace is the namespace of every generated object
	// (default "default").
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is what is released and how.
	Spec ReleaseSpec `json:"spec"`
	// Status is the observed state, written through the status subresource.
	Status ReleaseStatus `json:"status,omitempty"`
}

// ReleaseList is a list of Releases.
//
// +kubebuilder:object:root=true
type ReleaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Release `json:"items"`
}

// ReleaseStatus is the observed state of a Release.
type ReleaseStatus struct {
	// ObservedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are Ready, Progressing and Degraded (see ConditionReady).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Layouts of the Services and routing of a release.
const (
	// LayoutSubsets is one Service per service and DestinationRule subsets
	// stable/canary told apart by Argo Rollouts' pod-template-hash label
	// (Argo Rollouts "subset-level" Istio routing).
	LayoutSubsets = "subsets"
	// LayoutServices is the subsets layout plus NAME-stable and NAME-canary
	// Services that Argo Rollouts pins to one version each (seed 000): the
	// canary can be reached directly, for tests and the web probe.
	LayoutServices = "services"
)

// ReleaseSpec is the description of a release. Every setting outside
// services applies to all of them.
//
// +kubebuilder:validation:XValidation:rule="!has(self.steps) || has(self.analysis) || !self.steps.exists(s, has(s.analysis))",message="an analysis step needs spec.analysis",fieldPath=".steps"
// +kubebuilder:validation:XValidation:rule="!has(self.steps) || !has(self.analysis) || !self.steps.exists(s, has(s.analysis)) || has(self.analysis.successRate) || has(self.analysis.latency) || has(self.analysis.requestRate) || has(self.analysis.web)",message="spec.analysis configures no analysis (successRate, latency, requestRate or web)",fieldPath=".steps"
// +kubebuilder:validation:XValidation:rule="!has(self.steps) || !has(self.analysis) || self.steps.all(s, !has(s.analysis) || !has(s.analysis.templates) || s.analysis.templates.all(t, (t == 'success-rate' && has(self.analysis.successRate)) || (t == 'latency' && has(self.analysis.latency)) || (t == 'request-rate' && has(self.analysis.requestRate)) || (t == 'web' && has(self.analysis.web))))",message="an analysis step names an analysis that spec.analysis does not configure",fieldPath=".steps"
// +kubebuilder:validation:XValidation:rule="!has(self.gateways) || size(self.gateways) == 0 || (has(self.hosts) && size(self.hosts) > 0)",message="the external host names the gateways serve for these services",fieldPath=".hosts",reason="FieldValueRequired"
// +kubebuilder:validation:XValidation:rule="!has(self.mesh) || self.mesh || (has(self.gateways) && size(self.gateways) > 0)",message="with mesh: false the routing needs gateways",fieldPath=".mesh"
type ReleaseSpec struct {
	// Layout is "subsets" (default: one Service, DestinationRule subsets
	// stable/canary; seed 001) or "services" (the same plus stable and
	// canary Services; seed 000).
	// +kubebuilder:validation:Enum=subsets;services;""
	// +optional
	Layout string `json:"layout,omitempty"`
	// Services are the services released this way (at least one).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +listType=map
	// +listMapKey=name
	Services []ReleaseService `json:"services"`
	// Steps are the canary steps. Default (also for an empty list):
	// setWeight 10, pause (until promoted), setWeight 30, pause 5m,
	// setWeight 50, pause 5m; after the last step the canary gets 100% and
	// becomes stable.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Steps []Step `json:"steps,omitempty"`
	// HeaderRoute sends requests carrying a header to the canary, above the
	// weighted route. Default: x-canary: true.
	// +optional
	HeaderRoute *HeaderRoute `json:"headerRoute,omitempty"`
	// CookieRoutes send requests carrying a cookie (name=value in the
	// Cookie header) to the canary, above the weighted route.
	// +optional
	CookieRoutes []CookieRoute `json:"cookieRoutes,omitempty"`
	// Gateways are the Istio Gateways (NAME or NAMESPACE/NAME) that route
	// edge traffic with the same rules. Needs hosts.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=317
	// +kubebuilder:validation:items:XValidation:rule="self != 'mesh' && self.matches('^[^/]+(/[^/]+)?$')",message="want NAME or NAMESPACE/NAME of a Gateway (in-mesh routing is spec.mesh)"
	// +optional
	Gateways []string `json:"gateways,omitempty"`
	// Hosts are the external host names the gateways serve for these
	// services (for example shop.example.com, or "*").
	// +kubebuilder:validation:items:Pattern=`^[^/: ]+$`
	// +optional
	Hosts []string `json:"hosts,omitempty"`
	// Mesh routes in-mesh (sidecar) traffic with the same rules. Default
	// true; false needs gateways.
	// +optional
	Mesh *bool `json:"mesh,omitempty"`
	// Analysis configures the automatic checks that promote or abort the
	// canary. Absent: no analysis (steps and manual promotion only).
	// +optional
	Analysis *Analysis `json:"analysis,omitempty"`
	// PDB is the PodDisruptionBudget of each service. Default maxUnavailable 1.
	// +optional
	PDB *PDB `json:"pdb,omitempty"`
	// CanaryMetadata are labels and annotations Argo Rollouts puts on the
	// canary pods only (for example version: canary).
	// +optional
	CanaryMetadata *PodMetadata `json:"canaryMetadata,omitempty"`
	// StableMetadata are labels and annotations Argo Rollouts puts on the
	// stable pods only.
	// +optional
	StableMetadata *PodMetadata `json:"stableMetadata,omitempty"`
	// ArgoCD, when set, adds an Argo CD Application that syncs the rendered
	// objects from Git and ignores exactly the fields Argo Rollouts changes.
	// +optional
	ArgoCD *ArgoCD `json:"argocd,omitempty"`
}

// ReleaseService is one service: its workload and ports. Give exactly one
// of image, template and workloadRef.
//
// +kubebuilder:validation:XValidation:rule="(has(self.image) && size(self.image) > 0 ? 1 : 0) + (has(self.template) ? 1 : 0) + (has(self.workloadRef) ? 1 : 0) == 1",message="give exactly one of image, template and workloadRef"
// +kubebuilder:validation:XValidation:rule="!has(self.env) || size(self.env) == 0 || (has(self.image) && size(self.image) > 0)",message="env goes with image; put it in the template's container instead",fieldPath=".env"
// +kubebuilder:validation:XValidation:rule="!has(self.template) || (has(self.template.spec) && size(self.template.spec.containers) > 0)",message="at least one container",fieldPath=".template.spec.containers",reason="FieldValueRequired"
// +kubebuilder:validation:XValidation:rule="!has(self.ports) || self.ports.all(p, !has(p.name) || size(p.name) == 0 || self.ports.exists_one(q, has(q.name) && q.name == p.name))",message="two ports have the same name",fieldPath=".ports",reason="FieldValueDuplicate"
// +kubebuilder:validation:XValidation:rule="!has(self.canaryConfig) || !has(self.image) || size(self.image) == 0 || !has(self.canaryConfig.container) || size(self.canaryConfig.container) == 0 || self.canaryConfig.container == self.name",message="the container made from image is named after the service",fieldPath=".canaryConfig.container"
// +kubebuilder:validation:XValidation:rule="!has(self.canaryConfig) || !has(self.workloadRef)",message="canaryConfig needs the pod template: give image or template (a workloadRef's template is the Deployment's, which the Rollout does not own)",fieldPath=".canaryConfig"
type ReleaseService struct {
	// Name of the service: the Rollout, Service, DestinationRule,
	// VirtualService and PodDisruptionBudget are named after it, and its pods
	// carry app: NAME. A DNS label of at most 56 characters.
	// +kubebuilder:validation:MaxLength=56
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// Image is the container image of a one-container pod named NAME.
	// +optional
	Image string `json:"image,omitempty"`
	// Env are environment variables of the container made from image.
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
	// Template is the whole pod template, used as it is (its labels must
	// include app: NAME, which is added when missing).
	// +optional
	Template *corev1.PodTemplateSpec `json:"template,omitempty"`
	// WorkloadRef makes the Rollout use the pod template of an existing
	// Deployment, which Argo Rollouts scales down progressively.
	// +optional
	WorkloadRef *WorkloadRef `json:"workloadRef,omitempty"`
	// Ports the Service exposes. Default: one port named http, 8080.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Ports []Port `json:"ports,omitempty"`
	// Replicas of the Rollout. Default 2.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// CanaryConfig are canary-only Spring properties: environment variables
	// of the new version's pods while the canary runs, published to Nacos
	// once the release is fully promoted (see CanaryConfig).
	// +optional
	CanaryConfig *CanaryConfig `json:"canaryConfig,omitempty"`
}

// WorkloadRef names an existing Deployment in the release's namespace.
type WorkloadRef struct {
	// Name of the Deployment.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// MatchLabels are the Deployment's pod labels the Rollout selects.
	// Default app: SERVICE-NAME.
	// +optional
	MatchLabels Labels `json:"matchLabels,omitempty"`
	// ScaleDown is when Argo Rollouts scales the Deployment down: never,
	// onsuccess or progressively (default).
	// +kubebuilder:validation:Enum=never;onsuccess;progressively;""
	// +optional
	ScaleDown string `json:"scaleDown,omitempty"`
}

// Port is one Service port.
//
// +kubebuilder:validation:XValidation:rule="!has(self.name) || size(self.name) == 0 || (self.name.matches('^[-a-z0-9]+$') && self.name.matches('[a-z]') && !self.name.startsWith('-') && !self.name.endsWith('-') && !self.name.contains('--'))",message="an IANA service name: at most 15 lowercase letters, digits and '-', with at least one letter, no '--', not starting or ending with '-'",fieldPath=".name"
type Port struct {
	// Name of the port. Default "http" for the first port, "http-PORT" for
	// others; Istio reads the protocol from the name prefix.
	// +kubebuilder:validation:MaxLength=15
	// +optional
	Name string `json:"name,omitempty"`
	// Port is the Service port (1-65535).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
	// TargetPort is the container port. Default: port.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	// +optional
	TargetPort int32 `json:"targetPort,omitempty"`
}

// Step is one canary step: exactly one of setWeight, pause and analysis.
//
// +kubebuilder:validation:XValidation:rule="(has(self.setWeight) ? 1 : 0) + (has(self.pause) ? 1 : 0) + (has(self.analysis) ? 1 : 0) == 1",message="a step needs exactly one of setWeight, pause and analysis"
type Step struct {
	// SetWeight sends this percentage (0-100) of the weighted route to the canary.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	SetWeight *int32 `json:"setWeight,omitempty"`
	// Pause waits: for duration, or until promoted when duration is empty.
	// +optional
	Pause *Pause `json:"pause,omitempty"`
	// Analysis runs the named analyses (of spec.analysis) and waits for
	// their result; empty templates means every configured analysis.
	// +optional
	Analysis *StepAnalysis `json:"analysis,omitempty"`
}

// Pause is a pause step.
type Pause struct {
	// Duration such as 30s, 5m, 1h or a number of seconds; empty waits
	// until `kubectl argo rollouts promote`.
	// +kubebuilder:validation:Pattern=`^([0-9]+(s|m|h)?)?$`
	// +optional
	Duration string `json:"duration,omitempty"`
}

// StepAnalysis is an inline analysis step.
type StepAnalysis struct {
	// Templates are analysis names: success-rate, latency, request-rate, web.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Enum=success-rate;latency;request-rate;web
	// +optional
	Templates []string `json:"templates,omitempty"`
}

// HeaderRoute routes requests with a header value to the canary.
//
// +kubebuilder:validation:XValidation:rule="(has(self.disabled) && self.disabled) || !has(self.header) || size(self.header) == 0 || self.header.matches(\"^[-a-z0-9!#$%&'*+.^_|~]+$\")",message="want a lowercase HTTP header name (Istio matches lowercase names)",fieldPath=".header"
type HeaderRoute struct {
	// Disabled leaves the header route out.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
	// Header name, lowercase. Default x-canary.
	// +optional
	Header string `json:"header,omitempty"`
	// Value the header must have exactly. Default "true".
	// +optional
	Value string `json:"value,omitempty"`
}

// CookieRoute routes requests carrying cookie=value to the canary.
type CookieRoute struct {
	// Cookie name, for example tenantGray.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`
	Cookie string `json:"cookie"`
	// Value of the cookie, for example "1".
	// +kubebuilder:validation:Pattern=`^[^; ,"]+$`
	Value string `json:"value"`
}

// Analysis names of StepAnalysis.Templates and of the AnalysisTemplates.
const (
	AnalysisSuccessRate = "success-rate"
	AnalysisLatency     = "latency"
	AnalysisRequestRate = "request-rate"
	AnalysisWeb         = "web"
)

// Analysis is the automatic checking of the canary. Prometheus analyses
// read Istio's standard metrics (istio_requests_total,
// istio_request_duration_milliseconds_bucket) as reported by the callers'
// sidecars.
//
// +kubebuilder:validation:XValidation:rule="!has(self.prometheus) || size(self.prometheus) == 0 || (isURL(self.prometheus) && url(self.prometheus).getScheme() in ['http', 'https'] && size(url(self.prometheus).getHost()) > 0)",message="want an http(s) URL",fieldPath=".prometheus"
type Analysis struct {
	// Prometheus is the address of the Prometheus that scrapes Istio.
	// Default http://prometheus.istio-system.svc:9090.
	// +optional
	Prometheus string `json:"prometheus,omitempty"`
	// Interval between measurements. Default 1m.
	// +kubebuilder:validation:Pattern=`^([0-9]+(s|m|h))?$`
	// +optional
	Interval string `json:"interval,omitempty"`
	// Window is the PromQL range of each measurement. Default 2m.
	// +kubebuilder:validation:Pattern=`^([0-9]+(s|m|h|d))?$`
	// +optional
	Window string `json:"window,omitempty"`
	// Count is the number of measurements of each analysis. Default 5.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Count *int32 `json:"count,omitempty"`
	// FailureLimit is how many failed measurements are tolerated before the
	// canary is aborted. Default 1.
	// +kubebuilder:validation:Minimum=0
	// +optional
	FailureLimit *int32 `json:"failureLimit,omitempty"`
	// Background runs the analyses from the first step on, next to the
	// steps (default true). Inline analysis steps work either way.
	// +optional
	Background *bool `json:"background,omitempty"`
	// SuccessRate checks the share of non-5xx responses.
	// +optional
	SuccessRate *SuccessRate `json:"successRate,omitempty"`
	// Latency checks the 99th percentile of the request duration.
	// +optional
	Latency *Latency `json:"latency,omitempty"`
	// RequestRate checks that the service gets traffic at all.
	// +optional
	RequestRate *RequestRate `json:"requestRate,omitempty"`
	// Web probes an HTTP endpoint of the service.
	// +optional
	Web *WebProbe `json:"web,omitempty"`
}

// SuccessRate is the minimum share of non-5xx responses.
//
// +kubebuilder:validation:XValidation:rule="!has(self.min) || size(self.min) == 0 || (self.min.matches('^[+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$') && double(self.min) > 0.0 && double(self.min) <= 1.0)",message="want a number in (0, 1], such as 0.99",fieldPath=".min"
type SuccessRate struct {
	// Min is a number in (0, 1], for example "0.99" (default).
	// +optional
	Min string `json:"min,omitempty"`
}

// Latency is the maximum p99 request duration.
type Latency struct {
	// MaxP99Milliseconds is the limit in milliseconds (> 0).
	// +kubebuilder:validation:Minimum=1
	MaxP99Milliseconds int32 `json:"maxP99Milliseconds"`
}

// RequestRate is the minimum request rate.
//
// +kubebuilder:validation:XValidation:rule="self.min.matches('^[+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$') && double(self.min) > 0.0",message="want a positive number of requests per second",fieldPath=".min"
type RequestRate struct {
	// Min is requests per second, for example "1" (> 0).
	Min string `json:"min"`
}

// WebProbe is an HTTP GET whose JSON answer must hold a value.
type WebProbe struct {
	// Path on the service's first port. Default /actuator/health.
	// +kubebuilder:validation:Pattern=`^((?s)/.*)?$`
	// +optional
	Path string `json:"path,omitempty"`
	// JSONPath picks the value from the JSON answer. Default {$.status}.
	// +optional
	JSONPath string `json:"jsonPath,omitempty"`
	// Expect is the value that means healthy. Default UP.
	// +optional
	Expect string `json:"expect,omitempty"`
}

// PDB is a PodDisruptionBudget; set at most one of the two numbers.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.minAvailable) && has(self.maxUnavailable))",message="set minAvailable or maxUnavailable, not both"
type PDB struct {
	// Disabled leaves the PodDisruptionBudget out.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
	// MinAvailable pods (a number or a percentage).
	// +optional
	MinAvailable *intstr.IntOrString `json:"minAvailable,omitempty"`
	// MaxUnavailable pods (a number or a percentage). Default 1.
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// PodMetadata are extra labels and annotations of canary or stable pods.
type PodMetadata struct {
	// Labels to add.
	// +optional
	Labels Labels `json:"labels,omitempty"`
	// Annotations to add.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Labels are Kubernetes labels: every key a qualified name (an optional
// DNS subdomain prefix and "/", then at most 63 characters), every value a
// label value (at most 63 characters). At most 64 labels. The CRD schema
// checks the characters of the keys but only the length of the values (a
// pattern on every value of a map exceeds the API server's CEL cost
// budget); Validate checks both.
//
// +kubebuilder:validation:MaxProperties=64
// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && (!k.contains('/') || k.indexOf('/') <= 253))",message="a label key is a qualified name: an optional DNS subdomain prefix and '/', then at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character"
// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 63)",message="a label value must be no more than 63 characters"
type Labels map[string]string

// ArgoCD is the Argo CD Application of the release.
type ArgoCD struct {
	// RepoURL is the Git repository holding the rendered output (required).
	// +kubebuilder:validation:MinLength=1
	RepoURL string `json:"repoURL"`
	// Path is the folder in the repository (required).
	// +kubebuilder:validation:MinLength=1
	Path string `json:"path"`
	// TargetRevision is the branch, tag or commit. Default HEAD.
	// +optional
	TargetRevision string `json:"targetRevision,omitempty"`
	// Project is the Argo CD project. Default "default".
	// +optional
	Project string `json:"project,omitempty"`
	// Namespace of the Application object (Argo CD's). Default argocd.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Server is the destination cluster API. Default https://kubernetes.default.svc.
	// +optional
	Server string `json:"server,omitempty"`
	// Automated turns on automated sync with prune and self-heal.
	// +optional
	Automated bool `json:"automated,omitempty"`
}

// IsMesh reports whether in-mesh traffic is routed (spec.mesh, default true).
func (s *ReleaseSpec) IsMesh() bool { return s.Mesh == nil || *s.Mesh }

// IsBackground reports whether the analyses run in the background.
func (a *Analysis) IsBackground() bool { return a.Background == nil || *a.Background }

// Enabled lists the configured analyses, in a fixed order.
func (a *Analysis) Enabled() []string {
	var out []string
	if a.SuccessRate != nil {
		out = append(out, AnalysisSuccessRate)
	}
	if a.Latency != nil {
		out = append(out, AnalysisLatency)
	}
	if a.RequestRate != nil {
		out = append(out, AnalysisRequestRate)
	}
	if a.Web != nil {
		out = append(out, AnalysisWeb)
	}
	return out
}

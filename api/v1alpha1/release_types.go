package v1alpha1

import (
	"encoding/json"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Release describes how one or more services are released with a canary:
// the workload, its Service(s), the Istio routing Argo Rollouts drives, the
// canary steps, the analysis that promotes or aborts, the disruption budget
// and, optionally, the Argo CD Application that syncs it all.
// `graylane render` turns it into Kubernetes, Istio and Argo objects.
type Release struct {
	metav1.TypeMeta `json:",inline"`
	// ObjectMeta: name names the release (and its AnalysisTemplates and Argo CD
	// Application); namespace is the namespace of every generated object
	// (default "default").
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is what is released and how.
	Spec ReleaseSpec `json:"spec"`
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

// Defaults applied by Default.
const (
	DefaultHeader         = "x-canary"
	DefaultHeaderValue    = "true"
	DefaultPort           = 8080
	DefaultReplicas       = 2
	DefaultPrometheus     = "http://prometheus.istio-system.svc:9090"
	DefaultInterval       = "1m"
	DefaultWindow         = "2m"
	DefaultCount          = 5
	DefaultFailureLimit   = 1
	DefaultMinSuccessRate = "0.99"
	DefaultWebPath        = "/actuator/health"
	DefaultWebJSONPath    = "{$.status}"
	DefaultWebExpect      = "UP"
	DefaultArgoNamespace  = "argocd"
	DefaultArgoProject    = "default"
	DefaultArgoServer     = "https://kubernetes.default.svc"
	DefaultArgoRevision   = "HEAD"
)

// ReleaseSpec is the description of a release. Every setting outside
// services applies to all of them.
type ReleaseSpec struct {
	// Layout is "subsets" (default: one Service, DestinationRule subsets
	// stable/canary; seed 001) or "services" (the same plus stable and
	// canary Services; seed 000).
	Layout string `json:"layout,omitempty"`
	// Services are the services released this way (at least one).
	Services []ReleaseService `json:"services"`
	// Steps are the canary steps. Default: setWeight 10, pause (until
	// promoted), setWeight 30, pause 5m, setWeight 50, pause 5m; after the
	// last step the canary gets 100% and becomes stable.
	Steps []Step `json:"steps,omitempty"`
	// HeaderRoute sends requests carrying a header to the canary, above the
	// weighted route. Default: x-canary: true.
	HeaderRoute *HeaderRoute `json:"headerRoute,omitempty"`
	// CookieRoutes send requests carrying a cookie (name=value in the
	// Cookie header) to the canary, above the weighted route.
	CookieRoutes []CookieRoute `json:"cookieRoutes,omitempty"`
	// Gateways are the Istio Gateways (NAME or NAMESPACE/NAME) that route
	// edge traffic with the same rules. Needs hosts.
	Gateways []string `json:"gateways,omitempty"`
	// Hosts are the external host names the gateways serve for these
	// services (for example shop.example.com, or "*").
	Hosts []string `json:"hosts,omitempty"`
	// Mesh routes in-mesh (sidecar) traffic with the same rules. Default
	// true; false needs gateways.
	Mesh *bool `json:"mesh,omitempty"`
	// Analysis configures the automatic checks that promote or abort the
	// canary. Absent: no analysis (steps and manual promotion only).
	Analysis *Analysis `json:"analysis,omitempty"`
	// PDB is the PodDisruptionBudget of each service. Default maxUnavailable 1.
	PDB *PDB `json:"pdb,omitempty"`
	// CanaryMetadata are labels and annotations Argo Rollouts puts on the
	// canary pods only (for example version: canary).
	CanaryMetadata *PodMetadata `json:"canaryMetadata,omitempty"`
	// StableMetadata are labels and annotations Argo Rollouts puts on the
	// stable pods only.
	StableMetadata *PodMetadata `json:"stableMetadata,omitempty"`
	// ArgoCD, when set, adds an Argo CD Application that syncs the rendered
	// objects from Git and ignores exactly the fields Argo Rollouts changes.
	ArgoCD *ArgoCD `json:"argocd,omitempty"`
}

// ReleaseService is one service: its workload and ports. Give exactly one
// of image, template and workloadRef.
type ReleaseService struct {
	// Name of the service: the Rollout, Service, DestinationRule,
	// VirtualService and PodDisruptionBudget are named after it, and its pods
	// carry app: NAME. A DNS label of at most 56 characters.
	Name string `json:"name"`
	// Image is the container image of a one-container pod named NAME.
	Image string `json:"image,omitempty"`
	// Env are environment variables of the container made from image.
	Env []corev1.EnvVar `json:"env,omitempty"`
	// Template is the whole pod template, used as it is (its labels must
	// include app: NAME, which is added when missing).
	Template *corev1.PodTemplateSpec `json:"template,omitempty"`
	// WorkloadRef makes the Rollout use the pod template of an existing
	// Deployment, which Argo Rollouts scales down progressively.
	WorkloadRef *WorkloadRef `json:"workloadRef,omitempty"`
	// Ports the Service exposes. Default: one port named http, 8080.
	Ports []Port `json:"ports,omitempty"`
	// Replicas of the Rollout. Default 2.
	Replicas *int32 `json:"replicas,omitempty"`
}

// WorkloadRef names an existing Deployment in the release's namespace.
type WorkloadRef struct {
	// Name of the Deployment.
	Name string `json:"name"`
	// MatchLabels are the Deployment's pod labels the Rollout selects.
	// Default app: SERVICE-NAME.
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
	// ScaleDown is when Argo Rollouts scales the Deployment down: never,
	// onsuccess or progressively (default).
	ScaleDown string `json:"scaleDown,omitempty"`
}

// Port is one Service port.
type Port struct {
	// Name of the port. Default "http" for the first port, "http-PORT" for
	// others; Istio reads the protocol from the name prefix.
	Name string `json:"name,omitempty"`
	// Port is the Service port (1-65535).
	Port int32 `json:"port"`
	// TargetPort is the container port. Default: port.
	TargetPort int32 `json:"targetPort,omitempty"`
}

// Step is one canary step: exactly one of setWeight, pause and analysis.
type Step struct {
	// SetWeight sends this percentage (0-100) of the weighted route to the canary.
	SetWeight *int32 `json:"setWeight,omitempty"`
	// Pause waits: for duration, or until promoted when duration is empty.
	Pause *Pause `json:"pause,omitempty"`
	// Analysis runs the named analyses (of spec.analysis) and waits for
	// their result; empty templates means every configured analysis.
	Analysis *StepAnalysis `json:"analysis,omitempty"`
}

// Pause is a pause step.
type Pause struct {
	// Duration such as 30s, 5m, 1h or a number of seconds; empty waits
	// until `kubectl argo rollouts promote`.
	Duration string `json:"duration,omitempty"`
}

// StepAnalysis is an inline analysis step.
type StepAnalysis struct {
	// Templates are analysis names: success-rate, latency, request-rate, web.
	Templates []string `json:"templates,omitempty"`
}

// HeaderRoute routes requests with a header value to the canary.
type HeaderRoute struct {
	// Disabled leaves the header route out.
	Disabled bool `json:"disabled,omitempty"`
	// Header name, lowercase. Default x-canary.
	Header string `json:"header,omitempty"`
	// Value the header must have exactly. Default "true".
	Value string `json:"value,omitempty"`
}

// CookieRoute routes requests carrying cookie=value to the canary.
type CookieRoute struct {
	// Cookie name, for example tenantGray.
	Cookie string `json:"cookie"`
	// Value of the cookie, for example "1".
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
type Analysis struct {
	// Prometheus is the address of the Prometheus that scrapes Istio.
	// Default http://prometheus.istio-system.svc:9090.
	Prometheus string `json:"prometheus,omitempty"`
	// Interval between measurements. Default 1m.
	Interval string `json:"interval,omitempty"`
	// Window is the PromQL range of each measurement. Default 2m.
	Window string `json:"window,omitempty"`
	// Count is the number of measurements of each analysis. Default 5.
	Count *int32 `json:"count,omitempty"`
	// FailureLimit is how many failed measurements are tolerated before the
	// canary is aborted. Default 1.
	FailureLimit *int32 `json:"failureLimit,omitempty"`
	// Background runs the analyses from the first step on, next to the
	// steps (default true). Inline analysis steps work either way.
	Background *bool `json:"background,omitempty"`
	// SuccessRate checks the share of non-5xx responses.
	SuccessRate *SuccessRate `json:"successRate,omitempty"`
	// Latency checks the 99th percentile of the request duration.
	Latency *Latency `json:"latency,omitempty"`
	// RequestRate checks that the service gets traffic at all.
	RequestRate *RequestRate `json:"requestRate,omitempty"`
	// Web probes an HTTP endpoint of the service.
	Web *WebProbe `json:"web,omitempty"`
}

// SuccessRate is the minimum share of non-5xx responses.
type SuccessRate struct {
	// Min is a number in (0, 1], for example "0.99" (default).
	Min string `json:"min,omitempty"`
}

// Latency is the maximum p99 request duration.
type Latency struct {
	// MaxP99Milliseconds is the limit in milliseconds (> 0).
	MaxP99Milliseconds int32 `json:"maxP99Milliseconds"`
}

// RequestRate is the minimum request rate.
type RequestRate struct {
	// Min is requests per second, for example "1" (> 0).
	Min string `json:"min"`
}

// WebProbe is an HTTP GET whose JSON answer must hold a value.
type WebProbe struct {
	// Path on the service's first port. Default /actuator/health.
	Path string `json:"path,omitempty"`
	// JSONPath picks the value from the JSON answer. Default {$.status}.
	JSONPath string `json:"jsonPath,omitempty"`
	// Expect is the value that means healthy. Default UP.
	Expect string `json:"expect,omitempty"`
}

// PDB is a PodDisruptionBudget; set at most one of the two numbers.
type PDB struct {
	// Disabled leaves the PodDisruptionBudget out.
	Disabled bool `json:"disabled,omitempty"`
	// MinAvailable pods (a number or a percentage).
	MinAvailable *intstr.IntOrString `json:"minAvailable,omitempty"`
	// MaxUnavailable pods (a number or a percentage). Default 1.
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// PodMetadata are extra labels and annotations of canary or stable pods.
type PodMetadata struct {
	// Labels to add.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations to add.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ArgoCD is the Argo CD Application of the release.
type ArgoCD struct {
	// RepoURL is the Git repository holding the rendered output (required).
	RepoURL string `json:"repoURL"`
	// Path is the folder in the repository (required).
	Path string `json:"path"`
	// TargetRevision is the branch, tag or commit. Default HEAD.
	TargetRevision string `json:"targetRevision,omitempty"`
	// Project is the Argo CD project. Default "default".
	Project string `json:"project,omitempty"`
	// Namespace of the Application object (Argo CD's). Default argocd.
	Namespace string `json:"namespace,omitempty"`
	// Server is the destination cluster API. Default https://kubernetes.default.svc.
	Server string `json:"server,omitempty"`
	// Automated turns on automated sync with prune and self-heal.
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

// DefaultSteps is the plan of seed 001: 10% -> pause (watch the metrics,
// promote by hand) -> 30% -> 50% -> 100%.
func DefaultSteps() []Step {
	w := func(n int32) Step { return Step{SetWeight: &n} }
	p := func(d string) Step { return Step{Pause: &Pause{Duration: d}} }
	return []Step{w(10), p(""), w(30), p("5m"), w(50), p("5m")}
}

// Default fills every unset field that has a default.
func (r *Release) Default() {
	if r.Namespace == "" {
		r.Namespace = "default"
	}
	r.Spec.Default()
}

// Default fills every unset field of the spec that has a default.
func (s *ReleaseSpec) Default() {
	if s.Layout == "" {
		s.Layout = LayoutSubsets
	}
	if s.Steps == nil {
		s.Steps = DefaultSteps()
	}
	if s.HeaderRoute == nil {
		s.HeaderRoute = &HeaderRoute{}
	}
	if s.HeaderRoute.Header == "" {
		s.HeaderRoute.Header = DefaultHeader
	}
	if s.HeaderRoute.Value == "" {
		s.HeaderRoute.Value = DefaultHeaderValue
	}
	if s.PDB == nil {
		s.PDB = &PDB{}
	}
	if s.PDB.MinAvailable == nil && s.PDB.MaxUnavailable == nil {
		one := intstr.FromInt32(1)
		s.PDB.MaxUnavailable = &one
	}
	if s.Analysis != nil {
		s.Analysis.Default()
	}
	if a := s.ArgoCD; a != nil {
		a.TargetRevision = or(a.TargetRevision, DefaultArgoRevision)
		a.Project = or(a.Project, DefaultArgoProject)
		a.Namespace = or(a.Namespace, DefaultArgoNamespace)
		a.Server = or(a.Server, DefaultArgoServer)
	}
	for i := range s.Services {
		s.Services[i].Default()
	}
}

// Default fills the analysis defaults.
func (a *Analysis) Default() {
	a.Prometheus = or(a.Prometheus, DefaultPrometheus)
	a.Interval = or(a.Interval, DefaultInterval)
	a.Window = or(a.Window, DefaultWindow)
	if a.Count == nil {
		n := int32(DefaultCount)
		a.Count = &n
	}
	if a.FailureLimit == nil {
		n := int32(DefaultFailureLimit)
		a.FailureLimit = &n
	}
	if a.SuccessRate != nil {
		a.SuccessRate.Min = or(a.SuccessRate.Min, DefaultMinSuccessRate)
	}
	if w := a.Web; w != nil {
		w.Path = or(w.Path, DefaultWebPath)
		w.JSONPath = or(w.JSONPath, DefaultWebJSONPath)
		w.Expect = or(w.Expect, DefaultWebExpect)
	}
}

// Default fills the service defaults: ports, port names, replicas, the
// workloadRef selector and scale-down policy.
func (s *ReleaseService) Default() {
	if len(s.Ports) == 0 {
		s.Ports = []Port{{Port: DefaultPort}}
	}
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Name == "" {
			p.Name = "http"
			if i > 0 {
				p.Name = "http-" + itoa(p.Port)
			}
		}
		if p.TargetPort == 0 {
			p.TargetPort = p.Port
		}
	}
	if s.Replicas == nil {
		n := int32(DefaultReplicas)
		s.Replicas = &n
	}
	if w := s.WorkloadRef; w != nil {
		if len(w.MatchLabels) == 0 {
			w.MatchLabels = map[string]string{"app": s.Name}
		}
		w.ScaleDown = or(w.ScaleDown, "progressively")
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

var (
	pauseDuration = regexp.MustCompile(`^[0-9]+(s|m|h)?$`)
	goDuration    = regexp.MustCompile(`^[0-9]+(s|m|h)$`)
	promDuration  = regexp.MustCompile(`^[0-9]+(s|m|h|d)$`)
	headerName    = regexp.MustCompile(`^[a-z0-9!#$%&'*+.^_|~-]+$`)
	cookieName    = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`)
)

// maxServiceName leaves room for the "-canary" suffix in a 63-character name.
const maxServiceName = 56

// Validate checks a defaulted Release and returns every problem with its
// field path (for example spec.steps[2].setWeight).
func (r *Release) Validate() field.ErrorList {
	var errs field.ErrorList
	if r.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), ""))
	}
	for _, msg := range validation.IsDNS1123Label(r.Namespace) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "namespace"), r.Namespace, msg))
	}
	return append(errs, r.Spec.Validate(field.NewPath("spec"))...)
}

// Validate checks a defaulted spec.
func (s *ReleaseSpec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Layout != LayoutSubsets && s.Layout != LayoutServices {
		errs = append(errs, field.NotSupported(p.Child("layout"), s.Layout, []string{LayoutSubsets, LayoutServices}))
	}
	if len(s.Services) == 0 {
		errs = append(errs, field.Required(p.Child("services"), "at least one service"))
	}
	seen := map[string]bool{}
	for i := range s.Services {
		sp := p.Child("services").Index(i)
		if n := s.Services[i].Name; seen[n] {
			errs = append(errs, field.Duplicate(sp.Child("name"), n))
		} else {
			seen[n] = true
		}
		errs = append(errs, s.Services[i].Validate(sp)...)
	}
	errs = append(errs, s.validateSteps(p.Child("steps"))...)
	errs = append(errs, s.validateRoutes(p)...)
	if s.Analysis != nil {
		errs = append(errs, s.Analysis.Validate(p.Child("analysis"))...)
	}
	if s.PDB != nil && s.PDB.MinAvailable != nil && s.PDB.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(p.Child("pdb"), "", "set minAvailable or maxUnavailable, not both"))
	}
	for _, m := range []struct {
		name string
		md   *PodMetadata
	}{{"canaryMetadata", s.CanaryMetadata}, {"stableMetadata", s.StableMetadata}} {
		if m.md != nil {
			errs = append(errs, validateLabels(m.md.Labels, p.Child(m.name, "labels"))...)
		}
	}
	if a := s.ArgoCD; a != nil {
		if a.RepoURL == "" {
			errs = append(errs, field.Required(p.Child("argocd", "repoURL"), "the Git repository Argo CD syncs from"))
		}
		if a.Path == "" {
			errs = append(errs, field.Required(p.Child("argocd", "path"), "the folder of the rendered output in the repository"))
		}
	}
	return errs
}

func (s *ReleaseSpec) validateSteps(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, st := range s.Steps {
		sp := p.Index(i)
		n := 0
		if st.SetWeight != nil {
			n++
			if w := *st.SetWeight; w < 0 || w > 100 {
				errs = append(errs, field.Invalid(sp.Child("setWeight"), w, "must be between 0 and 100"))
			}
		}
		if st.Pause != nil {
			n++
			if d := st.Pause.Duration; d != "" && !pauseDuration.MatchString(d) {
				errs = append(errs, field.Invalid(sp.Child("pause", "duration"), d, "want a duration such as 30s, 5m, 1h or a number of seconds"))
			}
		}
		if st.Analysis != nil {
			n++
			errs = append(errs, s.validateStepAnalysis(st.Analysis, sp.Child("analysis"))...)
		}
		if n != 1 {
			errs = append(errs, field.Invalid(sp, "", "a step needs exactly one of setWeight, pause and analysis"))
		}
	}
	return errs
}

func (s *ReleaseSpec) validateStepAnalysis(a *StepAnalysis, p *field.Path) field.ErrorList {
	if s.Analysis == nil {
		return field.ErrorList{field.Invalid(p, "", "an analysis step needs spec.analysis")}
	}
	enabled := s.Analysis.Enabled()
	if len(enabled) == 0 {
		return field.ErrorList{field.Invalid(p, "", "spec.analysis configures no analysis (successRate, latency, requestRate or web)")}
	}
	var errs field.ErrorList
	for i, t := range a.Templates {
		if !slices.Contains(enabled, t) {
			errs = append(errs, field.NotSupported(p.Child("templates").Index(i), t, enabled))
		}
	}
	return errs
}

func (s *ReleaseSpec) validateRoutes(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h := s.HeaderRoute; h != nil && !h.Disabled {
		if !headerName.MatchString(h.Header) {
			errs = append(errs, field.Invalid(p.Child("headerRoute", "header"), h.Header, "want a lowercase HTTP header name (Istio matches lowercase names)"))
		}
	}
	for i, c := range s.CookieRoutes {
		cp := p.Child("cookieRoutes").Index(i)
		if !cookieName.MatchString(c.Cookie) {
			errs = append(errs, field.Invalid(cp.Child("cookie"), c.Cookie, "want a cookie name (letters, digits and !#$%&'*+.^_|~-)"))
		}
		if c.Value == "" || strings.ContainsAny(c.Value, "; ,\"") {
			errs = append(errs, field.Invalid(cp.Child("value"), c.Value, "want a non-empty cookie value without ; , spaces or quotes"))
		}
	}
	for i, g := range s.Gateways {
		if g == "" || g == "mesh" || strings.Count(g, "/") > 1 || strings.HasPrefix(g, "/") || strings.HasSuffix(g, "/") {
			errs = append(errs, field.Invalid(p.Child("gateways").Index(i), g, "want NAME or NAMESPACE/NAME of a Gateway (in-mesh routing is spec.mesh)"))
		}
	}
	if len(s.Gateways) > 0 && len(s.Hosts) == 0 {
		errs = append(errs, field.Required(p.Child("hosts"), "the external host names the gateways serve for these services"))
	}
	for i, h := range s.Hosts {
		if h == "" || strings.ContainsAny(h, "/: ") {
			errs = append(errs, field.Invalid(p.Child("hosts").Index(i), h, "want a host name such as shop.example.com or *"))
		}
	}
	if !s.IsMesh() && len(s.Gateways) == 0 {
		errs = append(errs, field.Invalid(p.Child("mesh"), false, "with mesh: false the routing needs gateways"))
	}
	return errs
}

// Validate checks a defaulted analysis.
func (a *Analysis) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if u, err := url.Parse(a.Prometheus); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, field.Invalid(p.Child("prometheus"), a.Prometheus, "want an http(s) URL"))
	}
	if !goDuration.MatchString(a.Interval) {
		errs = append(errs, field.Invalid(p.Child("interval"), a.Interval, "want a duration such as 30s, 1m or 1h"))
	}
	if !promDuration.MatchString(a.Window) {
		errs = append(errs, field.Invalid(p.Child("window"), a.Window, "want a PromQL range such as 1m, 5m or 1h"))
	}
	if *a.Count < 1 {
		errs = append(errs, field.Invalid(p.Child("count"), *a.Count, "must be at least 1"))
	}
	if *a.FailureLimit < 0 {
		errs = append(errs, field.Invalid(p.Child("failureLimit"), *a.FailureLimit, "must not be negative"))
	}
	if s := a.SuccessRate; s != nil {
		if v, err := strconv.ParseFloat(s.Min, 64); err != nil || v <= 0 || v > 1 {
			errs = append(errs, field.Invalid(p.Child("successRate", "min"), s.Min, "want a number in (0, 1], such as 0.99"))
		}
	}
	if l := a.Latency; l != nil && l.MaxP99Milliseconds <= 0 {
		errs = append(errs, field.Invalid(p.Child("latency", "maxP99Milliseconds"), l.MaxP99Milliseconds, "must be positive"))
	}
	if r := a.RequestRate; r != nil {
		if v, err := strconv.ParseFloat(r.Min, 64); err != nil || v <= 0 {
			errs = append(errs, field.Invalid(p.Child("requestRate", "min"), r.Min, "want a positive number of requests per second"))
		}
	}
	if w := a.Web; w != nil && !strings.HasPrefix(w.Path, "/") {
		errs = append(errs, field.Invalid(p.Child("web", "path"), w.Path, "must start with /"))
	}
	return errs
}

// Validate checks a defaulted service.
func (s *ReleaseService) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1035Label(s.Name) {
		errs = append(errs, field.Invalid(p.Child("name"), s.Name, msg))
	}
	if len(s.Name) > maxServiceName {
		errs = append(errs, field.TooLong(p.Child("name"), s.Name, maxServiceName))
	}
	n := 0
	for _, set := range []bool{s.Image != "", s.Template != nil, s.WorkloadRef != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		errs = append(errs, field.Invalid(p, s.Name, "give exactly one of image, template and workloadRef"))
	}
	if len(s.Env) > 0 && s.Image == "" {
		errs = append(errs, field.Invalid(p.Child("env"), "", "env goes with image; put it in the template's container instead"))
	}
	if t := s.Template; t != nil && len(t.Spec.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("template", "spec", "containers"), "at least one container"))
	}
	if w := s.WorkloadRef; w != nil {
		if w.Name == "" {
			errs = append(errs, field.Required(p.Child("workloadRef", "name"), "the Deployment's name"))
		}
		if !slices.Contains([]string{"never", "onsuccess", "progressively"}, w.ScaleDown) {
			errs = append(errs, field.NotSupported(p.Child("workloadRef", "scaleDown"), w.ScaleDown, []string{"never", "onsuccess", "progressively"}))
		}
		errs = append(errs, validateLabels(w.MatchLabels, p.Child("workloadRef", "matchLabels"))...)
	}
	names := map[string]bool{}
	for i, port := range s.Ports {
		pp := p.Child("ports").Index(i)
		for _, msg := range validation.IsValidPortNum(int(port.Port)) {
			errs = append(errs, field.Invalid(pp.Child("port"), port.Port, msg))
		}
		for _, msg := range validation.IsValidPortNum(int(port.TargetPort)) {
			errs = append(errs, field.Invalid(pp.Child("targetPort"), port.TargetPort, msg))
		}
		for _, msg := range validation.IsValidPortName(port.Name) {
			errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
		}
		if names[port.Name] {
			errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
		}
		names[port.Name] = true
	}
	if s.Replicas != nil && *s.Replicas < 0 {
		errs = append(errs, field.Invalid(p.Child("replicas"), *s.Replicas, "must not be negative"))
	}
	return errs
}

func validateLabels(l map[string]string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(l)) {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(p.Key(k), k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(l[k]) {
			errs = append(errs, field.Invalid(p.Key(k), l[k], msg))
		}
	}
	return errs
}

// DeepCopy returns a copy that shares no memory with r.
func (r *Release) DeepCopy() *Release {
	data, err := json.Marshal(r)
	if err != nil {
		panic("v1alpha1: Release does not encode: " + err.Error()) // cannot happen: plain data
	}
	out := &Release{}
	if err := json.Unmarshal(data, out); err != nil {
		panic("v1alpha1: Release does not decode: " + err.Error())
	}
	return out
}

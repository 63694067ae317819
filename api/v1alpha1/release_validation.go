package v1alpha1

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

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
	errs = append(errs, tooMany(len(s.Services), MaxServices, p.Child("services"))...)
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
	errs := tooMany(len(s.Steps), MaxSteps, p)
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
			errs = append(errs, tooMany(len(st.Analysis.Templates), MaxStepTemplates, sp.Child("analysis", "templates"))...)
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
	errs = append(errs, tooMany(len(s.Gateways), MaxGateways, p.Child("gateways"))...)
	for i, g := range s.Gateways {
		if len(g) > MaxGatewayName {
			errs = append(errs, field.TooLong(p.Child("gateways").Index(i), g, MaxGatewayName))
		} else if g == "" || g == "mesh" || strings.Count(g, "/") > 1 || strings.HasPrefix(g, "/") || strings.HasSuffix(g, "/") {
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
	if a.Count != nil && *a.Count < 1 {
		errs = append(errs, field.Invalid(p.Child("count"), *a.Count, "must be at least 1"))
	}
	if a.FailureLimit != nil && *a.FailureLimit < 0 {
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
	errs = append(errs, tooMany(len(s.Ports), MaxPorts, p.Child("ports"))...)
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
	if c := s.CanaryConfig; c != nil {
		if s.WorkloadRef != nil {
			errs = append(errs, field.Invalid(p.Child("canaryConfig"), "", "canaryConfig needs the pod template: give image or template (a workloadRef's template is the Deployment's, which the Rollout does not own)"))
		} else {
			errs = append(errs, c.Validate(p.Child("canaryConfig"), s.containers())...)
		}
	}
	if s.Replicas != nil && *s.Replicas < 0 {
		errs = append(errs, field.Invalid(p.Child("replicas"), *s.Replicas, "must not be negative"))
	}
	return errs
}

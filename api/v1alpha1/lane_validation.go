package v1alpha1

import (
	"fmt"
	"regexp"
	"strings"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// BaseLane is the name of "no lane" (as the gate uses it); no Lane may take
// it.
const BaseLane = "base"

// ValidateLaneName says what is wrong with a lane name, nothing when it is
// valid: the name is the lane header's value, a DNS label (RFC 1123), and
// never "base". Lane validation and `graylane lane sign` use it.
func ValidateLaneName(name string) []string {
	if name == BaseLane {
		return []string{`"base" means "no lane" and cannot name a lane`}
	}
	return validation.IsDNS1123Label(name)
}

// Validate checks a defaulted lane on its own (references to other objects
// are checked when it is compiled). Paths are field paths from the object's
// root, e.g. spec.members[1].service.
func (l *Lane) Validate() field.ErrorList {
	var errs field.ErrorList
	for _, msg := range ValidateLaneName(l.Name) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), l.Name, msg))
	}
	return append(errs, l.Spec.Validate(field.NewPath("spec"))...)
}

// Validate checks a defaulted spec; p is the path of the spec.
func (s *LaneSpec) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateMembers(s.Members, p.Child("members"))...)
	switch s.Fallback {
	case "", FallbackBase, FallbackStrict:
	default:
		errs = append(errs, field.NotSupported(p.Child("fallback"), s.Fallback, []string{string(FallbackBase), string(FallbackStrict)}))
	}
	errs = append(errs, validateEntry(&s.Entry, p.Child("entry"))...)
	errs = append(errs, validatePropagation(&s.Propagation, p.Child("propagation"))...)
	if s.Plan != nil {
		errs = append(errs, validatePlan(s.Plan, p.Child("plan"))...)
	}
	return errs
}

func validateMembers(ms []LaneMember, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(ms) == 0 {
		errs = append(errs, field.Required(p, "a lane needs at least one member service"))
	}
	errs = append(errs, tooMany(len(ms), MaxMembers, p)...)
	seen := map[string]int{}
	for i, m := range ms {
		mp := p.Index(i)
		if m.Service == "" {
			errs = append(errs, field.Required(mp.Child("service"), "the Service name"))
		} else if j, dup := seen[m.Service]; dup {
			errs = append(errs, field.Duplicate(mp.Child("service"), fmt.Sprintf("%s (also members[%d])", m.Service, j)))
		} else {
			seen[m.Service] = i
		}
		if m.Workload == "" && len(m.Labels) == 0 {
			errs = append(errs, field.Required(mp.Child("workload"), "workload (a Deployment or Rollout) or labels selecting the lane version"))
		}
		if m.Stable != nil && m.Stable.Workload == "" && len(m.Stable.Labels) == 0 {
			errs = append(errs, field.Required(mp.Child("stable"), "workload or labels"))
		}
		if c := m.CanaryConfig; c != nil {
			if m.Workload == "" {
				errs = append(errs, field.Invalid(mp.Child("canaryConfig"), "", "canaryConfig needs workload: the Deployment whose pod template gets the variables"))
			}
			errs = append(errs, c.Validate(mp.Child("canaryConfig"), nil)...)
		}
	}
	return errs
}

func validateEntry(e *LaneEntry, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, h := range e.Headers {
		hp := p.Child("headers").Index(i)
		errs = append(errs, validateHeaderName(h.Name, hp.Child("name"))...)
		errs = append(errs, validateMatch(hp, map[string]string{"exact": h.Exact, "prefix": h.Prefix, "regex": h.Regex})...)
	}
	for i, c := range e.Cookies {
		cp := p.Child("cookies").Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), "the cookie name"))
		}
		errs = append(errs, validateMatch(cp, map[string]string{"exact": c.Exact, "regex": c.Regex})...)
	}
	if e.Identity.UserHeader != "" {
		errs = append(errs, validateHeaderName(e.Identity.UserHeader, p.Child("identity", "userHeader"))...)
	}
	if e.Identity.TenantHeader != "" {
		errs = append(errs, validateHeaderName(e.Identity.TenantHeader, p.Child("identity", "tenantHeader"))...)
	}
	if w := e.Whitelist; w != nil && w.Gate != "" && !strings.HasPrefix(w.Gate, "http://") && !strings.HasPrefix(w.Gate, "https://") {
		errs = append(errs, field.Invalid(p.Child("whitelist", "gate"), w.Gate, "must be an http:// or https:// URL"))
	}
	if pc := e.Percentage; pc != nil {
		errs = append(errs, validateWeight(pc.Weight, p.Child("percentage", "weight"))...)
		if pc.AnonymousWeight != nil {
			errs = append(errs, validateWeight(*pc.AnonymousWeight, p.Child("percentage", "anonymousWeight"))...)
		}
	}
	return errs
}

func validateHeaderName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "a header name")}
	}
	for _, r := range name {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return field.ErrorList{field.Invalid(p, name, "not a valid HTTP header name")}
		}
	}
	return nil
}

// validateMatch checks that at most one match kind is set and that a regex
// compiles (RE2, as Istio and the routing engine use).
func validateMatch(p *field.Path, kinds map[string]string) field.ErrorList {
	var set []string
	for _, k := range []string{"exact", "prefix", "regex"} {
		if kinds[k] != "" {
			set = append(set, k)
		}
	}
	if len(set) > 1 {
		return field.ErrorList{field.Invalid(p.Child(set[1]), kinds[set[1]], "only one of "+strings.Join(set, ", ")+" may be set")}
	}
	if re := kinds["regex"]; re != "" {
		if _, err := regexp.Compile(re); err != nil {
			return field.ErrorList{field.Invalid(p.Child("regex"), re, err.Error())}
		}
	}
	return nil
}

func validatePropagation(pr *LanePropagation, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, m := range pr.Modes {
		switch m {
		case PropagateHeader, PropagateBaggage, PropagateSourceLabels:
		default:
			errs = append(errs, field.NotSupported(p.Child("modes").Index(i), m, []string{PropagateHeader, PropagateBaggage, PropagateSourceLabels}))
		}
		if seen[m] {
			errs = append(errs, field.Duplicate(p.Child("modes").Index(i), m))
		}
		seen[m] = true
	}
	if pr.Header != "" {
		errs = append(errs, validateHeaderName(pr.Header, p.Child("header"))...)
	}
	return errs
}

func validatePlan(pl *LanePlan, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(pl.Steps) == 0 {
		errs = append(errs, field.Required(p.Child("steps"), "at least one step"))
	}
	errs = append(errs, tooMany(len(pl.Steps), MaxSteps, p.Child("steps"))...)
	for i, s := range pl.Steps {
		sp := p.Child("steps").Index(i)
		n := 0
		if s.SetWeight != nil {
			n++
			errs = append(errs, validateWeight(*s.SetWeight, sp.Child("setWeight"))...)
		}
		if s.Pause != nil {
			n++
			if s.Pause.Duration != nil {
				if s.Pause.DurationSeconds() < 0 {
					errs = append(errs, field.Invalid(sp.Child("pause", "duration"), s.Pause.Duration.String(), "a duration such as 30, 30s, 5m or 1h"))
				}
			}
		}
		if s.Analysis != nil {
			n++
		}
		switch {
		case unsupportedStep(s) != "":
			errs = append(errs, field.Forbidden(sp.Child(unsupportedStep(s)), "a lane plan step is setWeight, pause or analysis"))
		case n == 0:
			errs = append(errs, field.Required(sp, "one of setWeight, pause, analysis"))
		case n > 1:
			errs = append(errs, field.Invalid(sp, "", "a step has exactly one of setWeight, pause, analysis"))
		}
	}
	if a := pl.Analysis; a != nil && a.StartingStep != nil && (*a.StartingStep < 0 || int(*a.StartingStep) >= len(pl.Steps)) {
		errs = append(errs, field.Invalid(p.Child("analysis", "startingStep"), *a.StartingStep, fmt.Sprintf("must name a step, 0..%d", len(pl.Steps)-1)))
	}
	return errs
}

// unsupportedStep names the first Argo step kind a lane plan refuses.
func unsupportedStep(s rolloutsv1alpha1.CanaryStep) string {
	switch {
	case s.Experiment != nil:
		return "experiment"
	case s.SetCanaryScale != nil:
		return "setCanaryScale"
	case s.SetHeaderRoute != nil:
		return "setHeaderRoute"
	case s.SetMirrorRoute != nil:
		return "setMirrorRoute"
	case s.Plugin != nil:
		return "plugin"
	}
	return ""
}

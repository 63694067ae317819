package rolloutcheck

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// canary follows ValidateRolloutStrategyCanary, plus the trafficRouting
// rules the controller applies before it routes (ValidateRolloutVirtualServicesConfig,
// ValidateRolloutNginxIngressesConfig, ValidateRolloutAlbIngressesConfig)
// and the required fields of the Rollout CRD.
func canary(ro *rollouts.Rollout, p *field.Path) field.ErrorList {
	c := ro.Spec.Strategy.Canary
	var errs field.ErrorList
	errs = append(errs, surge(c, p)...)
	if c.CanaryService != "" && c.CanaryService == c.StableService {
		errs = append(errs, field.Invalid(p.Child("stableService"), c.StableService, "must differ from canaryService: the canary needs two Services"))
	}
	errs = append(errs, pingPong(c, p)...)
	if needsServices(c) {
		for _, s := range []struct{ name, value string }{{"stableService", c.StableService}, {"canaryService", c.CanaryService}} {
			if s.value == "" {
				errs = append(errs, field.Required(p.Child(s.name), "trafficRouting needs both stableService and canaryService"))
			}
		}
	}
	tr := c.TrafficRouting
	if tr == nil {
		if c.ScaleDownDelaySeconds != nil {
			errs = append(errs, field.Invalid(p.Child("scaleDownDelaySeconds"), *c.ScaleDownDelaySeconds, "can only be used with trafficRouting"))
		}
		if c.DynamicStableScale {
			errs = append(errs, field.Invalid(p.Child("dynamicStableScale"), true, "can only be used with trafficRouting"))
		}
	} else {
		tp := p.Child("trafficRouting")
		if c.ScaleDownDelaySeconds != nil && c.DynamicStableScale {
			errs = append(errs, field.Invalid(p.Child("dynamicStableScale"), true, "cannot be used with scaleDownDelaySeconds"))
		}
		if tr.MaxTrafficWeight != nil && tr.Nginx == nil && len(tr.Plugins) == 0 {
			errs = append(errs, field.Invalid(tp.Child("maxTrafficWeight"), *tr.MaxTrafficWeight, "only the nginx and plugin traffic routers support it"))
		}
		errs = append(errs, trafficRouting(tr, tp)...)
	}
	for i := range c.Steps {
		errs = append(errs, step(ro, i, p.Child("steps").Index(i))...)
	}
	if c.Analysis != nil {
		ap := p.Child("analysis")
		errs = append(errs, analysisRef(&c.Analysis.RolloutAnalysis, ap)...)
	}
	return append(errs, antiAffinity(c.AntiAffinity, p.Child("antiAffinity"))...)
}

// needsServices follows requireCanaryStableServices: traffic routers that
// split between two Services (Istio without a DestinationRule, and the
// others) need both, unless pingPong names them.
func needsServices(c *rollouts.CanaryStrategy) bool {
	tr := c.TrafficRouting
	if tr == nil {
		return false
	}
	return (tr.ALB != nil && c.PingPong == nil) ||
		(tr.Istio != nil && tr.Istio.DestinationRule == nil && c.PingPong == nil) ||
		tr.SMI != nil || tr.Apisix != nil || tr.Ambassador != nil || tr.Nginx != nil || tr.AppMesh != nil || tr.Traefik != nil
}

// surge follows invalidMaxSurgeMaxUnavailable: maxSurge and maxUnavailable
// (defaults 25) cannot both be zero. A value that is neither an integer nor
// a percentage is refused too: Argo reads it as 0 here and fails to scale
// with it later (intstr.GetScaledValueFromIntOrPercent).
func surge(c *rollouts.CanaryStrategy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	value := func(name string, v *intstr.IntOrString) int {
		if v == nil {
			return defaultMaxSurgeUnavailable
		}
		n, ok := intOrPercent(*v)
		if !ok {
			errs = append(errs, field.Invalid(p.Child(name), shown(v), "must be an integer or a percentage such as 25%"))
			return defaultMaxSurgeUnavailable
		}
		return n
	}
	s, u := value("maxSurge", c.MaxSurge), value("maxUnavailable", c.MaxUnavailable)
	if len(errs) == 0 && s == 0 && u == 0 {
		errs = append(errs, field.Invalid(p.Child("maxSurge"), shown(c.MaxSurge), "maxSurge and maxUnavailable cannot both be 0: no pod could be replaced"))
	}
	return errs
}

// intOrPercent is getIntOrPercentValue: "25%" is 25, "3" and 3 are 3.
func intOrPercent(v intstr.IntOrString) (int, bool) {
	if v.Type == intstr.Int {
		return v.IntValue(), true
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	return n, err == nil
}

// pingPong follows the pingPong rules of ValidateRolloutStrategyCanary.
func pingPong(c *rollouts.CanaryStrategy, p *field.Path) field.ErrorList {
	pp := c.PingPong
	if pp == nil {
		return nil
	}
	var errs field.ErrorList
	pathPP := p.Child("pingPong")
	if tr := c.TrafficRouting; tr != nil && tr.ALB == nil && tr.Istio == nil {
		errs = append(errs, field.Invalid(pathPP, field.OmitValueType{}, "works with the alb and istio traffic routers only"))
	}
	if pp.PingService == "" {
		errs = append(errs, field.Required(pathPP.Child("pingService"), "pingPong needs pingService and pongService"))
	}
	if pp.PongService == "" {
		errs = append(errs, field.Required(pathPP.Child("pongService"), "pingPong needs pingService and pongService"))
	}
	if pp.PingService != "" && pp.PingService == pp.PongService {
		errs = append(errs, field.Invalid(pathPP.Child("pongService"), pp.PongService, "must differ from pingService"))
	}
	if tr := c.TrafficRouting; tr != nil && tr.ALB != nil && tr.ALB.RootService == "" {
		errs = append(errs, field.Required(p.Child("trafficRouting", "alb", "rootService"), "pingPong with alb needs the root Service"))
	}
	return errs
}

// trafficRouting checks the Istio, nginx and ALB references: exactly one of
// virtualService and virtualServices (ValidateRolloutVirtualServicesConfig),
// the names the Rollout CRD requires, one of stableIngress and
// stableIngresses (ValidateRolloutNginxIngressesConfig), one of ingress and
// ingresses (ValidateRolloutAlbIngressesConfig).
func trafficRouting(tr *rollouts.RolloutTrafficRouting, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if is := tr.Istio; is != nil {
		ip := p.Child("istio")
		switch {
		case is.VirtualService == nil && is.VirtualServices == nil:
			errs = append(errs, field.Required(ip.Child("virtualService"), "give virtualService or virtualServices: the VirtualService whose weights the Rollout sets"))
		case is.VirtualService != nil && is.VirtualServices != nil:
			errs = append(errs, field.Invalid(ip.Child("virtualServices"), field.OmitValueType{}, "give virtualService or virtualServices, not both"))
		}
		if is.VirtualService != nil && is.VirtualService.Name == "" {
			errs = append(errs, field.Required(ip.Child("virtualService", "name"), "the VirtualService's name"))
		}
		for i, vs := range is.VirtualServices {
			if vs.Name == "" {
				errs = append(errs, field.Required(ip.Child("virtualServices").Index(i).Child("name"), "the VirtualService's name"))
			}
		}
		if dr := is.DestinationRule; dr != nil {
			dp := ip.Child("destinationRule")
			for _, f := range []struct{ name, value string }{{"name", dr.Name}, {"canarySubsetName", dr.CanarySubsetName}, {"stableSubsetName", dr.StableSubsetName}} {
				if f.value == "" {
					errs = append(errs, field.Required(dp.Child(f.name), ""))
				}
			}
		}
	}
	if n := tr.Nginx; n != nil && (n.StableIngress == "") == (len(n.StableIngresses) == 0) {
		errs = append(errs, field.Invalid(p.Child("nginx"), field.OmitValueType{}, "give exactly one of stableIngress and stableIngresses"))
	}
	if a := tr.ALB; a != nil && (a.Ingress == "") == (len(a.Ingresses) == 0) {
		errs = append(errs, field.Invalid(p.Child("alb"), field.OmitValueType{}, "give exactly one of ingress and ingresses"))
	}
	for i, r := range tr.ManagedRoutes {
		if r.Name == "" {
			errs = append(errs, field.Required(p.Child("managedRoutes").Index(i).Child("name"), ""))
		}
	}
	return errs
}

// step follows the per-step loop of ValidateRolloutStrategyCanary.
func step(ro *rollouts.Rollout, i int, p *field.Path) field.ErrorList {
	c := ro.Spec.Strategy.Canary
	s := c.Steps[i]
	var errs field.ErrorList
	// hasMultipleStepsType: at most one of setWeight, pause, experiment
	// and analysis; and a step does something.
	kinds := stepKinds(s)
	if len(kinds) == 0 {
		return field.ErrorList{field.Required(p, "one of setWeight, pause, analysis, setCanaryScale, setHeaderRoute, setMirrorRoute, experiment, plugin")}
	}
	var exclusive []string
	for _, k := range kinds {
		switch k {
		case "setWeight", "pause", "experiment", "analysis":
			exclusive = append(exclusive, k)
		}
	}
	if len(exclusive) > 1 {
		errs = append(errs, field.Invalid(p, field.OmitValueType{}, "a step has one of setWeight, pause, experiment and analysis, not "+strings.Join(exclusive, " and ")))
	}
	maxWeight := int32(defaultMaxTrafficWeight)
	if c.TrafficRouting != nil && c.TrafficRouting.MaxTrafficWeight != nil {
		maxWeight = *c.TrafficRouting.MaxTrafficWeight
	}
	if w := s.SetWeight; w != nil && (*w < 0 || *w > maxWeight) {
		errs = append(errs, field.Invalid(p.Child("setWeight"), *w, fmt.Sprintf("must be between 0 and %d", maxWeight)))
	}
	if s.Pause != nil {
		errs = append(errs, pauseDuration(s.Pause, p.Child("pause", "duration"))...)
	}
	tr := c.TrafficRouting
	if s.SetCanaryScale != nil && tr == nil {
		errs = append(errs, field.Invalid(p.Child("setCanaryScale"), field.OmitValueType{}, "needs spec.strategy.canary.trafficRouting (without it the replica count is the traffic split)"))
	}
	if h := s.SetHeaderRoute; h != nil {
		errs = append(errs, headerRoute(h, tr, p.Child("setHeaderRoute"))...)
	}
	if m := s.SetMirrorRoute; m != nil {
		errs = append(errs, mirrorRoute(m, tr, p.Child("setMirrorRoute"))...)
	}
	if e := s.Experiment; e != nil {
		errs = append(errs, experiment(e, tr, p.Child("experiment"))...)
	}
	if a := s.Analysis; a != nil {
		errs = append(errs, analysisRef(a, p.Child("analysis"))...)
		errs = append(errs, fieldRefArgs(a.Args, p.Child("analysis", "args"))...)
	}
	return errs
}

// stepKinds names the step kinds set in s, in the order of the CanaryStep type.
func stepKinds(s rollouts.CanaryStep) []string {
	var out []string
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"setWeight", s.SetWeight != nil}, {"pause", s.Pause != nil}, {"experiment", s.Experiment != nil},
		{"analysis", s.Analysis != nil}, {"setCanaryScale", s.SetCanaryScale != nil}, {"setHeaderRoute", s.SetHeaderRoute != nil},
		{"setMirrorRoute", s.SetMirrorRoute != nil}, {"plugin", s.Plugin != nil},
	} {
		if k.set {
			out = append(out, k.name)
		}
	}
	return out
}

// pauseDuration follows RolloutPause.DurationSeconds, which Argo's step
// check calls: an integer is seconds, a string is an integer or a Go
// duration ("30s", "5m", "1h"); anything else (-1 upstream) or a negative
// duration is invalid.
func pauseDuration(pause *rollouts.RolloutPause, p *field.Path) field.ErrorList {
	d := pause.Duration
	if d == nil {
		return nil
	}
	if d.Type == intstr.String {
		if _, err := strconv.ParseInt(d.StrVal, 10, 32); err != nil {
			if _, err := time.ParseDuration(d.StrVal); err != nil {
				return field.ErrorList{field.Invalid(p, d.StrVal, "must be a number of seconds or a duration such as 30s, 5m or 1h")}
			}
		}
	}
	if pause.DurationSeconds() < 0 {
		return field.ErrorList{field.Invalid(p, d.String(), "must not be negative")}
	}
	return nil
}

// headerRoute follows the setHeaderRoute rules of ValidateRolloutStrategyCanary.
func headerRoute(h *rollouts.SetHeaderRoute, tr *rollouts.RolloutTrafficRouting, p *field.Path) field.ErrorList {
	if tr == nil || (tr.Istio == nil && tr.ALB == nil && tr.Apisix == nil && len(tr.Plugins) == 0) {
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "needs trafficRouting with istio, alb, apisix or a plugin")}
	}
	errs := managedRoute(h.Name, tr, p)
	for j, m := range h.Match {
		mp := p.Child("match").Index(j)
		if m.HeaderName == "" {
			errs = append(errs, field.Required(mp.Child("headerName"), ""))
		}
		if tr.ALB != nil {
			if v := m.HeaderValue; v == nil || v.Exact == "" || v.Regex != "" || v.Prefix != "" {
				errs = append(errs, field.Invalid(mp.Child("headerValue"), field.OmitValueType{}, "the alb router matches headers by exact value only"))
			}
			continue
		}
		errs = append(errs, stringMatch(m.HeaderValue, mp.Child("headerValue"))...)
	}
	return errs
}

// mirrorRoute follows the setMirrorRoute rules of ValidateRolloutStrategyCanary.
func mirrorRoute(m *rollouts.SetMirrorRoute, tr *rollouts.RolloutTrafficRouting, p *field.Path) field.ErrorList {
	if tr == nil || tr.Istio == nil {
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "needs trafficRouting.istio (only the Istio router mirrors)")}
	}
	errs := managedRoute(m.Name, tr, p)
	for j, rm := range m.Match {
		mp := p.Child("match").Index(j)
		if rm.Method != nil {
			errs = append(errs, stringMatch(rm.Method, mp.Child("method"))...)
		}
		if rm.Path != nil {
			errs = append(errs, stringMatch(rm.Path, mp.Child("path"))...)
		}
	}
	return errs
}

// managedRoute follows ValidateStepRouteFoundInManagedRoute: a header or
// mirror route is one of trafficRouting.managedRoutes.
func managedRoute(name string, tr *rollouts.RolloutTrafficRouting, p *field.Path) field.ErrorList {
	if tr.ManagedRoutes == nil {
		return field.ErrorList{field.Required(field.NewPath("spec", "strategy", "canary", "trafficRouting", "managedRoutes"),
			fmt.Sprintf("%s names route %q, which must be listed in managedRoutes", p, name))}
	}
	for _, r := range tr.ManagedRoutes {
		if r.Name == name {
			return nil
		}
	}
	var names []string
	for _, r := range tr.ManagedRoutes {
		names = append(names, strconv.Quote(r.Name))
	}
	return field.ErrorList{field.Invalid(p.Child("name"), name, "not in spec.strategy.canary.trafficRouting.managedRoutes ("+strings.Join(names, ", ")+")")}
}

// stringMatch follows hasMultipleMatchValues: exactly one of exact, prefix
// and regex.
func stringMatch(m *rollouts.StringMatch, p *field.Path) field.ErrorList {
	if m == nil {
		return field.ErrorList{field.Required(p, "one of exact, prefix, regex")}
	}
	var set []string
	for _, k := range []struct{ name, v string }{{"exact", m.Exact}, {"prefix", m.Prefix}, {"regex", m.Regex}} {
		if k.v != "" {
			set = append(set, k.name)
		}
	}
	switch len(set) {
	case 0:
		return field.ErrorList{field.Required(p, "one of exact, prefix, regex")}
	case 1:
		return nil
	}
	return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "give one of exact, prefix and regex, not "+strings.Join(set, " and "))}
}

// experiment follows the experiment rules of ValidateRolloutStrategyCanary:
// a template weight needs a traffic router that can split to it.
func experiment(e *rollouts.RolloutExperimentStep, tr *rollouts.RolloutTrafficRouting, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range e.Templates {
		tp := p.Child("templates").Index(i)
		if t.Name == "" {
			errs = append(errs, field.Required(tp.Child("name"), ""))
		}
		if t.Weight == nil {
			continue
		}
		switch {
		case tr == nil:
			errs = append(errs, field.Invalid(tp.Child("weight"), *t.Weight, "needs spec.strategy.canary.trafficRouting"))
		case tr.ALB == nil && tr.SMI == nil && tr.Istio == nil && len(tr.Plugins) == 0:
			errs = append(errs, field.Invalid(tp.Child("weight"), *t.Weight, "needs trafficRouting with smi, alb, istio or a plugin"))
		}
	}
	for i, a := range e.Analyses {
		ap := p.Child("analyses").Index(i)
		if a.Name == "" {
			errs = append(errs, field.Required(ap.Child("name"), ""))
		}
		if a.TemplateName == "" {
			errs = append(errs, field.Required(ap.Child("templateName"), "the AnalysisTemplate to run"))
		}
		errs = append(errs, args(a.Args, ap.Child("args"))...)
		errs = append(errs, fieldRefArgs(a.Args, ap.Child("args"))...)
	}
	return errs
}

package embedded

import (
	"strings"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/graylane/graylane/internal/plan"
	"github.com/graylane/graylane/internal/route"
)

// applyTraffic rewrites the routing objects the way the Argo Rollouts
// controller does for trafficRouting.istio: the weights of the stable and
// canary destinations in the named VirtualService routes, the pod template
// hash on the DestinationRule subsets (or the Services' selectors for a
// host-level split), and the managed header routes above the user's. The
// stableService and canaryService select the stable and the canary pods
// whenever they are named, with or without traffic routing (Argo's
// reconcileStableAndCanaryService). Objects are copied before they are
// changed.
func applyTraffic(in *route.Input, ro *rollout) {
	c := ro.obj.Spec.Strategy.Canary
	if c == nil {
		return
	}
	pinServices(in, ro, c)
	if c.TrafficRouting == nil || c.TrafficRouting.Istio == nil {
		return
	}
	st := ro.status
	istio := c.TrafficRouting.Istio
	dr := istio.DestinationRule
	for _, vsRef := range virtualServices(istio) {
		for i, vs := range in.VirtualServices {
			if vs.Object.Name != vsRef.Name || nsOr(vs.Object.Namespace) != ro.ns {
				continue
			}
			obj := vs.Object.DeepCopy()
			setWeights(obj.Spec.GetHttp(), vsRef.Routes, c, dr, ro.desired.CanaryWeight)
			obj.Spec.Http = append(headerRoutes(ro.desired.HeaderRoutes, obj.Spec.GetHttp(), vsRef.Routes, c, dr), obj.Spec.Http...)
			in.VirtualServices[i].Object = obj
		}
	}
	if dr == nil {
		return
	}
	for i, d := range in.DestinationRules {
		if d.Object.Name != dr.Name || nsOr(d.Object.Namespace) != ro.ns {
			continue
		}
		obj := d.Object.DeepCopy()
		for _, s := range obj.Spec.GetSubsets() {
			switch s.GetName() {
			case dr.StableSubsetName:
				s.Labels = withLabel(s.Labels, PodTemplateHashLabel, st.StableHash)
			case dr.CanarySubsetName:
				s.Labels = withLabel(s.Labels, PodTemplateHashLabel, st.CanaryHash)
			}
		}
		in.DestinationRules[i].Object = obj
	}
}

// pinServices adds the pod template hash to the selectors of the
// stableService (the stable's) and the canaryService (see
// canaryServiceHash).
func pinServices(in *route.Input, ro *rollout, c *rolloutsv1alpha1.CanaryStrategy) {
	for i, s := range in.Services {
		if nsOr(s.Object.Namespace) != ro.ns {
			continue
		}
		hash := ""
		switch s.Object.Name {
		case c.StableService:
			hash = ro.status.StableHash
		case c.CanaryService:
			hash = ro.canarySvc
		default:
			continue
		}
		if hash == "" {
			continue
		}
		obj := s.Object.DeepCopy()
		obj.Spec.Selector = withLabel(obj.Spec.Selector, PodTemplateHashLabel, hash)
		in.Services[i].Object = obj
	}
}

func virtualServices(istio *rolloutsv1alpha1.IstioTrafficRouting) []rolloutsv1alpha1.IstioVirtualService {
	var out []rolloutsv1alpha1.IstioVirtualService
	if istio.VirtualService != nil {
		out = append(out, *istio.VirtualService)
	}
	return append(out, istio.VirtualServices...)
}

func withLabel(in map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(in)+1)
	for kk, vv := range in {
		out[kk] = vv
	}
	out[k] = v
	return out
}

// managed reports whether an HTTP route is one the Rollout owns: named in
// routes, or the only route when none are named.
func managed(h *networking.HTTPRoute, all []*networking.HTTPRoute, routes []string) bool {
	if len(routes) == 0 {
		return len(all) == 1
	}
	for _, n := range routes {
		if h.GetName() == n {
			return true
		}
	}
	return false
}

// isCanary / isStable tell the two destinations of a managed route apart:
// by subset with a DestinationRule, by Service host otherwise.
func role(d *networking.Destination, c *rolloutsv1alpha1.CanaryStrategy, dr *rolloutsv1alpha1.IstioDestinationRule) string {
	if dr != nil {
		switch d.GetSubset() {
		case dr.CanarySubsetName:
			return "canary"
		case dr.StableSubsetName:
			return "stable"
		}
		return ""
	}
	short := strings.SplitN(d.GetHost(), ".", 2)[0]
	switch short {
	case c.CanaryService:
		return "canary"
	case c.StableService:
		return "stable"
	}
	return ""
}

func setWeights(http []*networking.HTTPRoute, routes []string, c *rolloutsv1alpha1.CanaryStrategy, dr *rolloutsv1alpha1.IstioDestinationRule, w int32) {
	for _, h := range http {
		if !managed(h, http, routes) {
			continue
		}
		for _, d := range h.GetRoute() {
			switch role(d.GetDestination(), c, dr) {
			case "canary":
				d.Weight = w
			case "stable":
				d.Weight = 100 - w
			}
		}
	}
}

// headerRoutes builds the managed routes of setHeaderRoute steps: a header
// match sending everything to the canary destination of the managed route.
func headerRoutes(hrs []plan.HeaderRoute, http []*networking.HTTPRoute, routes []string, c *rolloutsv1alpha1.CanaryStrategy, dr *rolloutsv1alpha1.IstioDestinationRule) []*networking.HTTPRoute {
	if len(hrs) == 0 {
		return nil
	}
	var canary *networking.Destination
	for _, h := range http {
		if managed(h, http, routes) {
			for _, d := range h.GetRoute() {
				if role(d.GetDestination(), c, dr) == "canary" {
					canary = d.GetDestination()
				}
			}
		}
	}
	if canary == nil {
		return nil
	}
	var out []*networking.HTTPRoute
	for _, hr := range hrs {
		m := &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{}}
		for _, hm := range hr.Match {
			m.Headers[strings.ToLower(hm.HeaderName)] = stringMatch(hm.HeaderValue)
		}
		out = append(out, &networking.HTTPRoute{Name: hr.Name, Match: []*networking.HTTPMatchRequest{m},
			Route: []*networking.HTTPRouteDestination{{Destination: canary, Weight: 100}}})
	}
	return out
}

func stringMatch(v *rolloutsv1alpha1.StringMatch) *networking.StringMatch {
	switch {
	case v == nil:
		return nil
	case v.Exact != "":
		return &networking.StringMatch{MatchType: &networking.StringMatch_Exact{Exact: v.Exact}}
	case v.Prefix != "":
		return &networking.StringMatch{MatchType: &networking.StringMatch_Prefix{Prefix: v.Prefix}}
	case v.Regex != "":
		return &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: v.Regex}}
	}
	return nil
}

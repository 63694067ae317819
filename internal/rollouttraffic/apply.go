package rollouttraffic

import (
	"slices"
	"strings"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	networking "istio.io/api/networking/v1"

	"github.com/graylane/graylane/internal/route"
)

// State is what the controller has set for one Rollout: the hashes of its
// stable and canary ReplicaSets, the weight of the canary and the
// setHeaderRoute routes in effect.
type State struct {
	// StableHash and CanaryHash are what the DestinationRule's stable and
	// canary subsets select; "" removes the label, as Argo's UpdateHash.
	StableHash, CanaryHash string
	// StableServiceHash and CanaryServiceHash are what the stableService
	// and the canaryService select ("" leaves the selector as written).
	// Argo moves the canaryService to the canary only once one of its
	// pods has been available, so the two may differ from the subsets'.
	StableServiceHash, CanaryServiceHash string
	// CanaryWeight is the weight of the canary destinations of the
	// managed routes (0-100); the stable ones get the rest.
	CanaryWeight int32
	// HeaderRoutes are the setHeaderRoute routes in effect, in the order
	// the steps set them (Argo then orders them as managedRoutes lists
	// them).
	HeaderRoutes []rolloutsv1alpha1.SetHeaderRoute
}

// Apply rewrites the routing input as the Argo Rollouts controller does
// for the canary Rollout ro of namespace ns in state st: the selectors of
// the stableService and canaryService (reconcileStableAndCanaryService,
// with or without traffic routing), and with trafficRouting.istio the
// DestinationRule subsets' hash (UpdateHash), the setHeaderRoute routes
// (SetHeaderRoute, orderRoutes) and the weights of the managed routes
// (SetWeight), in that order. Objects it changes are replaced by changed
// copies; the caller's objects are left alone.
//
// UpdateHash also drops the DestinationRule's subsets other than the
// stable and canary ones ("Ignore any extraneous subsets"), and so does
// Apply: a route to such a subset fails here as on a cluster (lanes put
// theirs in a DestinationRule of their own; lint warns of others).
//
// Not emulated: setMirrorRoute steps and experiment destinations.
func Apply(in *route.Input, ro *rolloutsv1alpha1.Rollout, ns string, st State) {
	c := ro.Spec.Strategy.Canary
	if c == nil {
		return
	}
	pinServices(in, c, ns, st)
	if c.TrafficRouting == nil || c.TrafficRouting.Istio == nil {
		return
	}
	istio := c.TrafficRouting.Istio
	host, hostKnown := "", true
	if dr := istio.DestinationRule; dr != nil {
		host, hostKnown = setHashes(in, dr, ns, st)
	}
	for _, ref := range virtualServices(istio) {
		key := IstioRef(ref.Name, ns)
		for i, vs := range in.VirtualServices {
			if vs.Object == nil || vs.Object.Name != key.Name || nsOr(vs.Object.Namespace) != key.Namespace {
				continue
			}
			obj := vs.Object.DeepCopy()
			if hostKnown {
				obj.Spec.Http = withHeaderRoutes(obj.Spec.Http, ref.Routes, c, host, st.HeaderRoutes)
			}
			setWeights(obj.Spec.Http, WeightRoutes(obj.Spec.Http, ref.Routes, c.TrafficRouting.ManagedRoutes), c, st.CanaryWeight)
			in.VirtualServices[i].Object = obj
		}
	}
}

func nsOr(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

// pinServices adds the pod template hash to the selectors of the
// stableService and the canaryService.
func pinServices(in *route.Input, c *rolloutsv1alpha1.CanaryStrategy, ns string, st State) {
	for i, s := range in.Services {
		if s.Object == nil || nsOr(s.Object.Namespace) != ns {
			continue
		}
		hash := ""
		switch s.Object.Name {
		case c.StableService:
			hash = st.StableServiceHash
		case c.CanaryService:
			hash = st.CanaryServiceHash
		}
		if hash == "" {
			continue
		}
		obj := s.Object.DeepCopy()
		obj.Spec.Selector = withLabel(obj.Spec.Selector, PodTemplateHashLabel, hash)
		in.Services[i].Object = obj
	}
}

// setHashes sets the hash label of the canary and stable subsets of the
// Rollout's DestinationRule and returns its host (what a header route
// sends to); found is false when the input has no such DestinationRule.
func setHashes(in *route.Input, dr *rolloutsv1alpha1.IstioDestinationRule, ns string, st State) (host string, found bool) {
	for i, d := range in.DestinationRules {
		if d.Object == nil || d.Object.Name != dr.Name || nsOr(d.Object.Namespace) != ns {
			continue
		}
		obj := d.Object.DeepCopy()
		kept := obj.Spec.Subsets[:0]
		for _, s := range obj.Spec.GetSubsets() {
			switch s.GetName() {
			case dr.CanarySubsetName:
				s.Labels = withLabel(s.Labels, PodTemplateHashLabel, st.CanaryHash)
			case dr.StableSubsetName:
				s.Labels = withLabel(s.Labels, PodTemplateHashLabel, st.StableHash)
			default:
				continue // UpdateHash: "Ignore any extraneous subsets"
			}
			kept = append(kept, s)
		}
		obj.Spec.Subsets = kept
		in.DestinationRules[i].Object = obj
		return obj.Spec.GetHost(), true
	}
	return "", false
}

// withLabel returns a copy of in with k set to v, or removed when v is "".
func withLabel(in map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(in)+1)
	for kk, vv := range in {
		out[kk] = vv
	}
	if v == "" {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

// WeightRoutes are the indexes of the HTTP routes whose weights Argo sets
// (getHttpRouteIndexesToPatch): with no route names, the only route or
// else the first unnamed one; otherwise the named ones that exist, in the
// order named, then the routes with a mirror that managedRoutes names.
func WeightRoutes(http []*networking.HTTPRoute, names []string, managed []rolloutsv1alpha1.MangedRoutes) []int {
	for _, h := range http {
		if h.GetMirror() == nil {
			continue
		}
		for _, m := range managed {
			if m.Name == h.GetName() {
				names = append(slices.Clip(names), h.GetName())
			}
		}
	}
	var out []int
	if len(names) == 0 {
		if len(http) == 1 {
			return []int{0}
		}
		for i, h := range http {
			if h.GetName() == "" {
				return []int{i}
			}
		}
	}
	for _, n := range names {
		if i := slices.IndexFunc(http, func(h *networking.HTTPRoute) bool { return h.GetName() == n }); i >= 0 {
			out = append(out, i)
		}
	}
	return out
}

// shortHost is the Service name of a destination host as Argo reads it
// (getHost): up to the first dot; "" for a host that starts with one.
func shortHost(h string) string {
	if i := strings.Index(h, "."); i >= 0 {
		return h[:i]
	}
	return h
}

// role tells the canary and the stable destinations apart as Argo's
// processRoutes does: by the canaryService/stableService name, or by the
// DestinationRule's canary/stable subset.
func role(d *networking.Destination, c *rolloutsv1alpha1.CanaryStrategy) string {
	host, subset := shortHost(d.GetHost()), d.GetSubset()
	var canarySubset, stableSubset string
	if dr := c.TrafficRouting.Istio.DestinationRule; dr != nil {
		canarySubset, stableSubset = dr.CanarySubsetName, dr.StableSubsetName
	}
	switch {
	case host == "":
		return "" // Argo leaves it alone
	case host == c.CanaryService || subset != "" && subset == canarySubset:
		return "canary"
	case host == c.StableService || subset != "" && subset == stableSubset:
		return "stable"
	}
	return "other"
}

// setWeights gives the canary destinations of the routes at idx weight w
// and the stable ones 100-w, and drops their other destinations (Argo
// patches those out of a route it manages).
func setWeights(http []*networking.HTTPRoute, idx []int, c *rolloutsv1alpha1.CanaryStrategy, w int32) {
	for _, i := range idx {
		h := http[i]
		kept := h.Route[:0]
		for _, d := range h.Route {
			switch role(d.GetDestination(), c) {
			case "canary":
				d.Weight = w
			case "stable":
				d.Weight = 100 - w
			case "other":
				continue
			}
			kept = append(kept, d)
		}
		h.Route = kept
	}
}

// withHeaderRoutes inserts the setHeaderRoute routes as Argo's
// SetHeaderRoute does for each one (remove the route of that name, append
// the new one), then orders them as orderRoutes: the routes managedRoutes
// names first, in its order, then the others as they were. A header route
// sends everything to host (the DestinationRule's host, or the
// canaryService without one), canary subset, on the port of the first
// destination of the weighted route; each header match is an HTTP match of
// its own (any of them selects the route).
func withHeaderRoutes(http []*networking.HTTPRoute, names []string, c *rolloutsv1alpha1.CanaryStrategy, host string, hrs []rolloutsv1alpha1.SetHeaderRoute) []*networking.HTTPRoute {
	if len(hrs) == 0 {
		return http
	}
	if host == "" {
		host = c.CanaryService
	}
	dst := &networking.Destination{Host: host}
	if dr := c.TrafficRouting.Istio.DestinationRule; dr != nil {
		dst.Subset = dr.CanarySubsetName
	}
	if idx := WeightRoutes(http, names, nil); len(idx) > 0 {
		if r := http[idx[0]].GetRoute(); len(r) > 0 && r[0].GetDestination().GetPort() != nil {
			dst.Port = &networking.PortSelector{Number: r[0].GetDestination().GetPort().GetNumber()}
		}
	}
	out := slices.Clone(http)
	for _, hr := range hrs {
		out = slices.DeleteFunc(out, func(h *networking.HTTPRoute) bool { return h.GetName() == hr.Name })
		if len(hr.Match) == 0 {
			continue
		}
		r := &networking.HTTPRoute{Name: hr.Name, Route: []*networking.HTTPRouteDestination{{Destination: dst, Weight: 100}}}
		for _, m := range hr.Match {
			r.Match = append(r.Match, &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{
				// Envoy matches header names in any case; Istio wants
				// them in lower case.
				strings.ToLower(m.HeaderName): stringMatch(m.HeaderValue),
			}})
		}
		out = append(out, r)
	}
	managed := c.TrafficRouting.ManagedRoutes
	if managed == nil {
		return out
	}
	var first, rest []*networking.HTTPRoute
	for _, m := range managed {
		for _, h := range out {
			if h.GetName() == m.Name {
				first = append(first, h)
			}
		}
	}
	for _, h := range out {
		if !slices.ContainsFunc(managed, func(m rolloutsv1alpha1.MangedRoutes) bool { return m.Name == h.GetName() }) {
			rest = append(rest, h)
		}
	}
	return append(first, rest...)
}

// stringMatch is the value of Argo's createHeaderRouteMatch (nil: the
// header is present).
func stringMatch(v *rolloutsv1alpha1.StringMatch) *networking.StringMatch {
	switch {
	case v == nil:
		return nil
	case v.Exact != "":
		return &networking.StringMatch{MatchType: &networking.StringMatch_Exact{Exact: v.Exact}}
	case v.Regex != "":
		return &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: v.Regex}}
	case v.Prefix != "":
		return &networking.StringMatch{MatchType: &networking.StringMatch_Prefix{Prefix: v.Prefix}}
	}
	return nil
}

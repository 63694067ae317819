package route

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// vsUnit is a VirtualService being compiled.
type vsUnit struct {
	obj      *networkingv1.VirtualService
	meta     *objMeta
	ns       string
	hosts    []string // resolved
	gateways []string // resolved; ["mesh"] when the field is empty
	routes   []*routeSpec
	vis      visibility // from exportTo
	rejected bool
	// bindings are the unit's hosts and routes per source, once compiled.
	bindings []binding
	// l4 are the "not evaluated" findings of its TCP and TLS routes.
	l4 []Finding
}

func (u *vsUnit) key() string { return u.ns + "/" + u.obj.Name }

func (u *vsUnit) isDelegate() bool { return len(u.obj.Spec.GetHosts()) == 0 }

func (u *vsUnit) isRoot() bool {
	for _, h := range u.obj.Spec.GetHttp() {
		if h.GetDelegate() != nil {
			return true
		}
	}
	return false
}

func newVSUnit(vs VirtualService) *vsUnit {
	o := vs.Object
	u := &vsUnit{obj: o, meta: meta("VirtualService", &o.ObjectMeta, vs.Locate), ns: namespaceOf(&o.ObjectMeta)}
	for _, h := range o.Spec.GetHosts() {
		u.hosts = append(u.hosts, ResolveHost(h, u.ns))
	}
	for _, g := range o.Spec.GetGateways() {
		u.gateways = append(u.gateways, resolveGatewayName(g, u.ns))
	}
	if len(u.gateways) == 0 {
		u.gateways = []string{MeshSource}
	}
	for i, h := range o.Spec.GetHttp() {
		if h != nil {
			u.routes = append(u.routes, newRouteSpec(h, u, i))
		}
	}
	return u
}

// validate applies the checks istiod's validating webhook makes that
// matter for routing. An object failing them would not be accepted by the
// API server, so it is rejected here too and reported as an error.
func (u *vsUnit) validate(fs *findings) {
	reject := func(path, format string, args ...any) {
		fs.add(Error, u.meta, path, "rejected: "+format, args...)
		u.rejected = true
	}
	spec := &u.obj.Spec
	u.vis = parseExportTo(spec.GetExportTo(), u.ns, exportConfig, reject)
	for i, g := range spec.GetGateways() {
		if strings.Count(g, "/") > 1 || strings.HasPrefix(g, "/") || strings.HasSuffix(g, "/") {
			reject(fmt.Sprintf("spec.gateways[%d]", i), "gateway %q must be NAME, NAMESPACE/NAME or mesh", g)
		}
	}
	for i, h := range spec.GetHosts() {
		if h == "" {
			reject(fmt.Sprintf("spec.hosts[%d]", i), "empty host")
		}
	}
	delegate := u.isDelegate()
	for i, h := range spec.GetHttp() {
		if h == nil {
			continue
		}
		validateHTTPRoute(h, fmt.Sprintf("spec.http[%d]", i), delegate, reject)
	}
}

func validateHTTPRoute(h *networking.HTTPRoute, path string, inDelegate bool, reject func(string, string, ...any)) {
	actions := 0
	for _, set := range []bool{len(h.GetRoute()) > 0, h.GetRedirect() != nil, h.GetDirectResponse() != nil, h.GetDelegate() != nil} {
		if set {
			actions++
		}
	}
	switch {
	case actions == 0:
		reject(path, "a route needs one of route, redirect, directResponse or delegate")
	case actions > 1:
		reject(path, "route, redirect, directResponse and delegate are mutually exclusive")
	}
	if h.GetDelegate() != nil {
		if inDelegate {
			reject(path+".delegate", "a delegate VirtualService cannot delegate again (one level only)")
		}
		if h.GetDelegate().GetName() == "" {
			reject(path+".delegate.name", "delegate name is required")
		}
	}
	validateWeights(h, path, reject)
	ValidatePolicy(h, path, reject)
	validateRewrite(h.GetRewrite(), path+".rewrite", reject)
	validateFault(h.GetFault(), path+".fault", reject)
	validateMirrors(h, path, reject)
	for i, m := range h.GetMatch() {
		validateMatch(m, fmt.Sprintf("%s.match[%d]", path, i), reject)
	}
}

// maxTotalWeight is the largest sum of weights Envoy accepts for the
// weighted clusters of one route.
const maxTotalWeight = 1<<32 - 1

// validateWeights applies istiod's rules (since Istio 1.15): no weight is
// negative and several destinations do not all have weight 0. Weights need
// not sum to 100: each destination gets weight/sum of the requests, and a
// single destination gets them all whatever its weight.
func validateWeights(h *networking.HTTPRoute, path string, reject func(string, string, ...any)) {
	dests := h.GetRoute()
	sum := int64(0)
	for i, d := range dests {
		dp := fmt.Sprintf("%s.route[%d]", path, i)
		if d.GetDestination() == nil {
			reject(dp+".destination", "destination is required")
		} else if d.GetDestination().GetHost() == "" {
			reject(dp+".destination.host", "destination host is required")
		}
		if d.GetWeight() < 0 {
			reject(dp+".weight", "weight %d is negative", d.GetWeight())
			continue
		}
		sum += int64(d.GetWeight())
	}
	switch {
	case len(dests) > 1 && sum == 0:
		reject(path+".route", "the weights of the %d destinations sum to 0: at least one needs a weight above 0", len(dests))
	case len(dests) > 1 && sum > maxTotalWeight:
		reject(path+".route", "the weights sum to %d, more than Envoy accepts for one route (%d)", sum, int64(maxTotalWeight))
	}
}

func validateMatch(m *networking.HTTPMatchRequest, path string, reject func(string, string, ...any)) {
	if m == nil {
		return
	}
	check := func(field string, sm *networking.StringMatch) {
		if sm == nil {
			return
		}
		if re := sm.GetRegex(); re != "" {
			if _, err := compileRegex(re, false); err != nil {
				reject(path+"."+field, "%v", err)
			}
		}
	}
	check("uri", m.GetUri())
	check("scheme", m.GetScheme())
	check("method", m.GetMethod())
	check("authority", m.GetAuthority())
	for _, k := range sortedKeys(m.GetHeaders()) {
		if k == "" {
			reject(path+".headers", "empty header name")
		}
		check("headers."+k, m.GetHeaders()[k])
	}
	for _, k := range sortedKeys(m.GetWithoutHeaders()) {
		check("withoutHeaders."+k, m.GetWithoutHeaders()[k])
	}
	for _, k := range sortedKeys(m.GetQueryParams()) {
		check("queryParams."+k, m.GetQueryParams()[k])
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

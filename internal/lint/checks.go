package lint

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
)

// catchAll reports an http route that matches every request while routes
// follow it: those are never used.
func (l *linter) catchAll(o *manifest.Object, vs *networkingv1.VirtualService) {
	http := vs.Spec.GetHttp()
	for i, h := range http {
		if i == len(http)-1 || !matchesAll(h) {
			continue
		}
		var names []string
		for j := i + 1; j < len(http); j++ {
			names = append(names, routeName(http, j))
		}
		l.add(CheckCatchAll, route.Warning, o, fmt.Sprintf("spec.http[%d]", i),
			fmt.Sprintf("route %s matches every request, so the routes below it (%s) are never used", routeName(http, i), strings.Join(names, ", ")),
			"move this route to the end of spec.http, or give it a match")
		return
	}
}

// matchesAll reports whether a route has no match, or a match block
// without any condition.
func matchesAll(h *networking.HTTPRoute) bool {
	if len(h.GetMatch()) == 0 {
		return true
	}
	for _, m := range h.GetMatch() {
		c := proto.Clone(m).(*networking.HTTPMatchRequest)
		c.Name = ""
		if proto.Size(c) == 0 {
			return true
		}
	}
	return false
}

func routeName(http []*networking.HTTPRoute, i int) string {
	if n := http[i].GetName(); n != "" {
		return fmt.Sprintf("%q (spec.http[%d])", n, i)
	}
	return fmt.Sprintf("spec.http[%d]", i)
}

const istioPath = "spec.strategy.canary.trafficRouting.istio"

// rollout checks what a Rollout's canary refers to: the stable/canary
// Services, the VirtualService routes, the DestinationRule subsets, and the
// order of canary header routes. Its own spec was checked when it was
// loaded (internal/rolloutcheck).
func (l *linter) rollout(o *manifest.Object, ro *rollouts.Rollout) {
	c := ro.Spec.Strategy.Canary
	if c == nil {
		return
	}
	for _, s := range []struct{ field, name string }{{"stableService", c.StableService}, {"canaryService", c.CanaryService}} {
		if s.name == "" {
			continue
		}
		svc := l.svc[key(o.Namespace, s.name)]
		if svc == nil {
			l.add(CheckRolloutRef, route.Error, o, "spec.strategy.canary."+s.field, fmt.Sprintf("Service %s/%s is not in the input", o.Namespace, s.name),
				"add the Service (a copy of the callers' Service; Argo Rollouts pins its selector to one version) or fix the name")
			continue
		}
		l.serviceLabels(o, ro, "spec.strategy.canary."+s.field, svc)
	}
	if c.TrafficRouting == nil || c.TrafficRouting.Istio == nil {
		return
	}
	is := c.TrafficRouting.Istio
	canary := canaryTarget{service: c.CanaryService}
	if dr := is.DestinationRule; dr != nil {
		canary.subset = dr.CanarySubsetName
		l.destinationRule(o, dr)
	}
	type ref struct {
		path string
		vs   rollouts.IstioVirtualService
	}
	var refs []ref
	if is.VirtualService != nil {
		refs = append(refs, ref{istioPath + ".virtualService", *is.VirtualService})
	}
	for i, v := range is.VirtualServices {
		refs = append(refs, ref{fmt.Sprintf("%s.virtualServices[%d]", istioPath, i), v})
	}
	for _, r := range refs {
		l.virtualServiceRef(o, r.path, r.vs, c, canary)
	}
}

// serviceLabels follows Argo's ValidateService: the selector of a Service
// the Rollout manages selects the Rollout's pods (Argo adds only the pod
// template hash to it), or the version gets no traffic.
func (l *linter) serviceLabels(o *manifest.Object, ro *rollouts.Rollout, path string, svc *manifest.Object) {
	if ro.Spec.WorkloadRef != nil {
		return // the pod template is another object's
	}
	s := svc.Typed.(*corev1.Service)
	for _, k := range slices.Sorted(maps.Keys(s.Spec.Selector)) {
		if k == rollouts.DefaultRolloutUniqueLabelKey {
			continue
		}
		if v, ok := ro.Spec.Template.Labels[k]; !ok || v != s.Spec.Selector[k] {
			l.add(CheckRolloutRef, route.Error, o, path, fmt.Sprintf("Service %s/%s selects %s=%s, which the Rollout's pod template does not have: Argo Rollouts refuses the Rollout", svc.Namespace, svc.Name, k, s.Spec.Selector[k]),
				"make the Service's selector a subset of spec.template.metadata.labels")
			return
		}
	}
}

// canaryTarget is how a destination is recognised as the canary.
type canaryTarget struct{ subset, service string }

func (t canaryTarget) is(d *networking.Destination) bool {
	host, _, _ := strings.Cut(d.GetHost(), ".")
	return (t.subset != "" && d.GetSubset() == t.subset) || (t.service != "" && host == t.service)
}

func (l *linter) destinationRule(o *manifest.Object, dr *rollouts.IstioDestinationRule) {
	path := istioPath + ".destinationRule"
	d := l.dr[key(o.Namespace, dr.Name)]
	if d == nil {
		l.add(CheckRolloutRef, route.Error, o, path+".name", fmt.Sprintf("DestinationRule %s/%s is not in the input", o.Namespace, dr.Name),
			"add the DestinationRule with the stable and canary subsets, or fix the name")
		return
	}
	var have []string
	for _, s := range d.Typed.(*networkingv1.DestinationRule).Spec.GetSubsets() {
		have = append(have, s.GetName())
	}
	for _, s := range []struct{ field, name string }{{"stableSubsetName", dr.StableSubsetName}, {"canarySubsetName", dr.CanarySubsetName}} {
		if !slices.Contains(have, s.name) {
			l.add(CheckRolloutRef, route.Error, o, path+"."+s.field, fmt.Sprintf("subset %q is not defined in DestinationRule %s/%s (it has: %s)", s.name, o.Namespace, dr.Name, strings.Join(have, ", ")),
				"add the subset to the DestinationRule (labels: the pods' app label; Argo Rollouts adds the pod-template hash)")
		}
	}
	// UpdateHash (argo-rollouts rollout/trafficrouting/istio/istio.go)
	// writes the rule back with only these two subsets.
	for i, s := range d.Typed.(*networkingv1.DestinationRule).Spec.GetSubsets() {
		if n := s.GetName(); n != dr.StableSubsetName && n != dr.CanarySubsetName {
			l.add(CheckRolloutRef, route.Warning, d, fmt.Sprintf("spec.subsets[%d]", i),
				fmt.Sprintf("subset %q: Rollout %s/%s manages this DestinationRule, and Argo Rollouts removes every subset but %q and %q from it when it updates the pod-template hash", n, o.Namespace, o.Name, dr.StableSubsetName, dr.CanarySubsetName),
				"move the subset to a DestinationRule of its own for the same host (istiod merges the subsets of one host's rules in a namespace)")
		}
	}
}

// virtualServiceRef checks the VirtualService routes a Rollout sets the
// weights of: they exist, carry both versions, and no canary header route
// sits below them.
func (l *linter) virtualServiceRef(o *manifest.Object, path string, ref rollouts.IstioVirtualService, c *rollouts.CanaryStrategy, canary canaryTarget) {
	ns, name := vsNamespaceName(ref.Name, o.Namespace)
	vo := l.vs[key(ns, name)]
	if vo == nil {
		l.add(CheckRolloutRef, route.Error, o, path+".name", fmt.Sprintf("VirtualService %s/%s is not in the input", ns, name),
			"add the VirtualService whose weights this Rollout sets, or fix the name")
		return
	}
	http := vo.Typed.(*networkingv1.VirtualService).Spec.GetHttp()
	var names []string
	for _, h := range http {
		names = append(names, h.GetName())
	}
	var weighted []int
	if len(ref.Routes) == 0 && len(ref.TLSRoutes) == 0 && len(ref.TCPRoutes) == 0 {
		// getHttpRouteIndexesToPatch and ValidateHTTPRoutes: the only
		// route, else the first unnamed one, and no other route outside
		// managedRoutes.
		k := slices.Index(names, "")
		if len(http) == 1 {
			k = 0
		}
		if unmanaged := unmanagedRoutes(http, c.TrafficRouting.ManagedRoutes); unmanaged > 1 || k < 0 {
			l.add(CheckRolloutRef, route.Error, o, path+".routes", fmt.Sprintf("VirtualService %s/%s has %d http routes and routes names none of them", ns, name, unmanaged),
				"list the name of the weighted route in routes (Argo Rollouts needs it when there is more than one)")
		} else {
			weighted = []int{k}
		}
	}
	for i, r := range ref.Routes {
		k := slices.Index(names, r)
		if k < 0 {
			l.add(CheckRolloutRef, route.Error, o, fmt.Sprintf("%s.routes[%d]", path, i),
				fmt.Sprintf("route %q is not in VirtualService %s/%s (its http routes: %s)", r, ns, name, quoteAll(names)),
				"name the weighted route of the VirtualService (spec.http[].name) as listed here; Argo Rollouts stops with an error otherwise")
			continue
		}
		weighted = append(weighted, k)
	}
	stable := canaryTarget{service: c.StableService}
	if dr := c.TrafficRouting.Istio.DestinationRule; dr != nil {
		stable.subset = dr.StableSubsetName
	}
	for _, k := range weighted {
		l.weightedRoute(vo, http, k, stable, canary)
	}
	if len(weighted) > 0 {
		l.headerOrder(vo, http, slices.Min(weighted), canary)
	}
}

// vsNamespaceName reads a Rollout's VirtualService reference as Argo's
// GetVirtualServiceNamespaceName does: "name" or "name.namespace".
func vsNamespaceName(ref, ns string) (string, string) {
	fields := strings.Split(ref, ".")
	if len(fields) >= 2 && fields[1] != "" {
		return fields[1], fields[0]
	}
	return ns, fields[0]
}

// unmanagedRoutes counts the http routes not listed in managedRoutes
// (the header and mirror routes Argo Rollouts adds and removes).
func unmanagedRoutes(http []*networking.HTTPRoute, managed []rollouts.MangedRoutes) int {
	n := 0
	for _, h := range http {
		if !slices.ContainsFunc(managed, func(m rollouts.MangedRoutes) bool { return m.Name == h.GetName() }) {
			n++
		}
	}
	return n
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// weightedRoute checks that the route Argo Rollouts weighs has a stable and
// a canary destination.
func (l *linter) weightedRoute(vo *manifest.Object, http []*networking.HTTPRoute, k int, stable, canary canaryTarget) {
	var hasStable, hasCanary bool
	for _, d := range http[k].GetRoute() {
		hasStable = hasStable || stable.is(d.GetDestination())
		hasCanary = hasCanary || canary.is(d.GetDestination())
	}
	for _, v := range []struct {
		name string
		ok   bool
		t    canaryTarget
	}{{"stable", hasStable, stable}, {"canary", hasCanary, canary}} {
		if !v.ok {
			l.add(CheckRolloutRef, route.Error, vo, fmt.Sprintf("spec.http[%d].route", k),
				fmt.Sprintf("the weighted route %s has no %s destination (%s)", routeName(http, k), v.name, v.t.describe()),
				"give the route one destination for the stable and one for the canary version; Argo Rollouts refuses the Rollout otherwise")
		}
	}
}

func (t canaryTarget) describe() string {
	if t.subset != "" {
		return "subset " + t.subset
	}
	return "host " + t.service
}

// headerOrder reports a route that matches headers and sends everything to
// the canary below the weighted route: requests carrying the header meet
// the weighted route first.
func (l *linter) headerOrder(vo *manifest.Object, http []*networking.HTTPRoute, k int, canary canaryTarget) {
	for j := k + 1; j < len(http); j++ {
		h := http[j]
		if !testsHeaders(h) || len(h.GetRoute()) == 0 {
			continue
		}
		all := true
		for _, d := range h.GetRoute() {
			all = all && canary.is(d.GetDestination())
		}
		if !all {
			continue
		}
		msg := fmt.Sprintf("canary header route %s is below the weighted route %s", routeName(http, j), routeName(http, k))
		if matchesAll(http[k]) {
			msg += ", which takes every request first: the header never reaches the canary"
		} else {
			msg += ": requests the weighted route matches ignore the header"
		}
		l.add(CheckHeaderOrder, route.Error, vo, fmt.Sprintf("spec.http[%d]", j), msg, fmt.Sprintf("move it above spec.http[%d]", k))
	}
}

func testsHeaders(h *networking.HTTPRoute) bool {
	for _, m := range h.GetMatch() {
		if len(m.GetHeaders()) > 0 {
			return true
		}
	}
	return false
}

// serviceSelector reports a Service whose selector matches no pod template
// of the workloads of its namespace (when the input has some there).
func (l *linter) serviceSelector(o *manifest.Object, svc *corev1.Service) {
	pods := l.pods[o.Namespace]
	if len(svc.Spec.Selector) == 0 || len(pods) == 0 {
		return
	}
	sel := svc.Spec.Selector
	if _, ok := sel[rollouts.DefaultRolloutUniqueLabelKey]; ok {
		sel = maps.Clone(sel) // Argo Rollouts' own pinning; the template has no such label
		delete(sel, rollouts.DefaultRolloutUniqueLabelKey)
	}
	s := labels.SelectorFromSet(sel)
	var seen []string
	for _, p := range pods {
		if s.Matches(labels.Set(p.labels)) {
			return
		}
		seen = append(seen, p.ref+" {"+labels.Set(p.labels).String()+"}")
	}
	l.add(CheckSelector, route.Error, o, "spec.selector", fmt.Sprintf("selector %s matches no pod template in namespace %s (%s)", s.String(), o.Namespace, strings.Join(seen, "; ")),
		"make spec.selector a subset of the pod template labels of the workload it serves")
}

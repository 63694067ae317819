package lane

import (
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
)

// StrictStatus is the status a strict lane answers for a service without a
// lane version.
const StrictStatus = 503

// virtualServices rewrites every VirtualService that routes to a member
// (or, in strict mode, to another Service of the lane's namespace), and
// adds one for such hosts no mesh VirtualService covers.
func (c *compiler) virtualServices() {
	covered := map[string]bool{}
	for _, o := range append([]*manifest.Object(nil), c.objects...) {
		vs, ok := o.Typed.(*networkingv1.VirtualService)
		if !ok {
			continue
		}
		mesh := isMesh(vs.Spec.GetGateways())
		if mesh {
			for _, h := range vs.Spec.GetHosts() {
				covered[route.ResolveHost(h, o.Namespace)] = true
			}
		}
		if http, changed := c.rewrite(vs.Spec.GetHttp(), o.Namespace, mesh); changed {
			cp := vs.DeepCopy()
			cp.Spec.Http = http
			c.replace(o, copyOf(o, cp))
		}
	}
	for _, t := range c.uncovered(covered) {
		vs := &networkingv1.VirtualService{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "VirtualService"},
			ObjectMeta: metav1.ObjectMeta{Name: "graylane-" + t.svc.Name, Namespace: t.ns},
		}
		vs.Spec.Hosts = []string{t.svc.Name}
		def := &networking.HTTPRoute{Name: "default", Route: []*networking.HTTPRouteDestination{{Destination: &networking.Destination{Host: t.svc.Name}}}}
		vs.Spec.Http, _ = c.rewrite([]*networking.HTTPRoute{def}, t.ns, true)
		c.add(generated(t.lane, "networking.istio.io/v1", "VirtualService", vs.Name, vs.Namespace, vs))
	}
}

type target struct {
	svc  *corev1.Service
	ns   string
	lane *Resolved
}

// uncovered lists the hosts that need a generated VirtualService: members,
// and the other Services of a strict lane's namespace, with no mesh one.
func (c *compiler) uncovered(covered map[string]bool) []target {
	var out []target
	seen := map[string]bool{}
	want := func(host string, l *Resolved) {
		if covered[host] || seen[host] {
			return
		}
		seen[host] = true
		_, ns, _ := route.ServiceOf(host)
		out = append(out, target{c.inv.services[host], ns, l})
	}
	for _, l := range c.lanes {
		for _, m := range l.Members {
			want(m.Host, l)
		}
	}
	for _, l := range c.lanes {
		if l.Spec.Fallback != v1alpha1.FallbackStrict || c.in.StateOf(l).Phase != Active {
			continue
		}
		for _, host := range sortedKeys(c.inv.services) {
			if _, ns, _ := route.ServiceOf(host); ns == l.Namespace && l.Member(host) == nil {
				want(host, l)
			}
		}
	}
	return out
}

func isMesh(gateways []string) bool {
	if len(gateways) == 0 {
		return true
	}
	for _, g := range gateways {
		if g == "mesh" {
			return true
		}
	}
	return false
}

// rewrite returns the routes with, before each route that sends to a
// member, one copy per active lane that sends lane requests to the lane
// subset (or, in strict mode, refuses them); the original routes send to
// the stable subset (or the lane subset once a lane is promoted).
func (c *compiler) rewrite(routes []*networking.HTTPRoute, ns string, mesh bool) ([]*networking.HTTPRoute, bool) {
	var out []*networking.HTTPRoute
	changed := false
	for i, r := range routes {
		if len(r.GetRoute()) == 0 {
			out = append(out, r)
			continue
		}
		fixed, fixChanged := c.fixDefaults(r, ns)
		changed = changed || fixChanged
		for _, l := range c.lanes {
			if c.in.StateOf(l).Phase != Active {
				continue
			}
			switch {
			case c.routesToMember(fixed, ns, l):
				out = append(out, c.laneRoute(fixed, i, ns, l, mesh))
				changed = true
			case l.Spec.Fallback == v1alpha1.FallbackStrict:
				if svc := c.strictTarget(fixed, ns, l); svc != "" {
					out = append(out, refuseRoute(fixed, i, l, svc, mesh))
					changed = true
				}
			}
		}
		out = append(out, fixed)
	}
	return out, changed
}

func (c *compiler) routesToMember(r *networking.HTTPRoute, ns string, l *Resolved) bool {
	for _, d := range r.GetRoute() {
		if l.Member(route.ResolveHost(d.GetDestination().GetHost(), ns)) != nil {
			return true
		}
	}
	return false
}

// strictTarget names a non-member Service of the lane's namespace the
// route sends to, or "".
func (c *compiler) strictTarget(r *networking.HTTPRoute, ns string, l *Resolved) string {
	for _, d := range r.GetRoute() {
		host := route.ResolveHost(d.GetDestination().GetHost(), ns)
		if svc := c.inv.services[host]; svc != nil {
			if _, svcNS, _ := route.ServiceOf(host); svcNS == l.Namespace && l.Member(host) == nil {
				return svc.Name
			}
		}
	}
	return ""
}

// fixDefaults pins the destinations of member hosts: to the lane subset
// when a lane holding the host is promoted, else to the stable subset
// when the route names no subset (so non-lane traffic stays on stable).
func (c *compiler) fixDefaults(r *networking.HTTPRoute, ns string) (*networking.HTTPRoute, bool) {
	var cp *networking.HTTPRoute
	for i, d := range r.GetRoute() {
		subset, ok := c.defaultSubset(route.ResolveHost(d.GetDestination().GetHost(), ns), d.GetDestination().GetSubset())
		if !ok {
			continue
		}
		if cp == nil {
			cp = proto.Clone(r).(*networking.HTTPRoute)
		}
		cp.Route[i].Destination.Subset = subset
	}
	if cp == nil {
		return r, false
	}
	cp.Route = mergeDestinations(cp.Route)
	return cp, true
}

func (c *compiler) defaultSubset(host, current string) (string, bool) {
	var stable string
	for _, l := range c.lanes {
		m := l.Member(host)
		if m == nil {
			continue
		}
		switch c.in.StateOf(l).Phase {
		case Promoted:
			return m.LaneSubset, current != m.LaneSubset
		default:
			stable = m.StableSubset
		}
	}
	if stable != "" && current == "" {
		return stable, true
	}
	return "", false
}

func routeName(l *Resolved, r *networking.HTTPRoute, i int) string {
	name := r.GetName()
	if name == "" {
		name = "route-" + strconv.Itoa(i)
	}
	return "graylane-" + l.Name + "-" + name
}

// laneRoute copies a route for lane l: the same matches, each also
// requiring the lane, and member destinations on the lane subset.
func (c *compiler) laneRoute(r *networking.HTTPRoute, i int, ns string, l *Resolved, mesh bool) *networking.HTTPRoute {
	lr := proto.Clone(r).(*networking.HTTPRoute)
	lr.Name = routeName(l, r, i)
	lr.Match = cross(r.GetMatch(), conditions(l, mesh))
	if !mesh {
		// Requests admitted by an entry rule at the edge carry the lane on.
		if lr.Headers == nil {
			lr.Headers = &networking.Headers{}
		}
		if lr.Headers.Request == nil {
			lr.Headers.Request = &networking.Headers_HeaderOperations{}
		}
		if lr.Headers.Request.Set == nil {
			lr.Headers.Request.Set = map[string]string{}
		}
		lr.Headers.Request.Set[l.Spec.Propagation.Header] = l.Name
	}
	for _, d := range lr.Route {
		if m := l.Member(route.ResolveHost(d.GetDestination().GetHost(), ns)); m != nil {
			d.Destination.Subset = m.LaneSubset
		}
	}
	lr.Route = mergeDestinations(lr.Route)
	return lr
}

// refuseRoute answers lane requests for a service with no lane version.
func refuseRoute(r *networking.HTTPRoute, i int, l *Resolved, svc string, mesh bool) *networking.HTTPRoute {
	msg := fmt.Sprintf("graylane: lane %s has no version of %s (fallback: strict)\n", l.Name, svc)
	return &networking.HTTPRoute{
		Name:  routeName(l, r, i),
		Match: cross(r.GetMatch(), conditions(l, mesh)),
		DirectResponse: &networking.HTTPDirectResponse{Status: StrictStatus,
			Body: &networking.HTTPBody{Specifier: &networking.HTTPBody_String_{String_: msg}}},
	}
}

// mergeDestinations joins destinations that became the same (host,
// subset, port), adding their weights.
func mergeDestinations(ds []*networking.HTTPRouteDestination) []*networking.HTTPRouteDestination {
	var out []*networking.HTTPRouteDestination
	for _, d := range ds {
		merged := false
		for _, o := range out {
			if proto.Equal(o.Destination, d.Destination) {
				o.Weight += d.Weight
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, d)
		}
	}
	if len(out) == 1 {
		out[0].Weight = 0
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

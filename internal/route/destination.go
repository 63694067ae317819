package route

import (
	"fmt"
	"net"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// compileRoute builds the Route of a routeSpec and its match blocks (a nil
// entry for a block that could not be compiled, already reported).
func (c *compiler) compileRoute(u *vsUnit, r *routeSpec) (*Route, []*match) {
	owner := r.owner
	rt := &Route{
		VirtualService: r.root.key(), Index: r.index, RootIndex: r.rootIndex, Name: r.name,
		Redirect: redirectOf(r.http.GetRedirect()), DirectResponse: directResponseOf(r.http.GetDirectResponse()),
		Rewrite: rewriteOf(r.rewrite), Status: 200, path: compilePathRewrite(r),
	}
	if owner != r.root {
		rt.Delegate = owner.key()
	}
	if owner.meta.locate != nil {
		rt.Where = owner.meta.locate(r.path())
	}
	if r.headers != nil {
		rt.RequestHeaders, rt.ResponseHeaders = headerOps(r.headers.GetRequest()), headerOps(r.headers.GetResponse())
	}
	ms := make([]*match, len(r.matches))
	for i := range r.matches {
		rt.MatchNames = append(rt.MatchNames, r.matches[i].name)
		m, err := compileMatch(&r.matches[i], c.slot)
		if err != nil {
			c.fs.add(Error, r.matches[i].owner.meta, r.matches[i].path, "%v", err)
			continue
		}
		ms[i] = m
	}
	switch {
	case rt.Redirect != nil:
		rt.Status = rt.Redirect.Code
	case rt.DirectResponse != nil:
		rt.Status = rt.DirectResponse.Status
	}
	for _, n := range routeNotes(r) {
		rt.NotEvaluated = append(rt.NotEvaluated, c.fs.add(Info, n.meta, n.path, "%s", n.msg))
	}
	// Policy, fault and mirrors first: the per-caller variants
	// destinations makes are copies of rt.
	rt.Policy = routePolicy(r)
	rt.Fault = c.routeFault(r)
	c.mirrors(rt, r)
	c.destinations(rt, r)
	return rt, ms
}

// note is a "not evaluated" finding before it is located.
type note struct {
	meta      *objMeta
	path, msg string
}

// resolution is a route's destinations as a caller of one namespace
// sees them: subsets resolve through the DestinationRules that caller's
// sidecar (or gateway) gets.
type resolution struct {
	dests []Destination
	// problemAt is, per destination, the field its Problem is about
	// ("subset" when empty, or "host").
	problemAt []string
	cum       []uint32
	notes     []note
}

// destinations resolves the route's destinations for a caller of any
// namespace, then, for each namespace whose callers may see other
// DestinationRules, keeps a variant of the route when they do.
func (c *compiler) destinations(rt *Route, r *routeSpec) {
	if len(r.http.GetRoute()) == 0 {
		return
	}
	base := *rt
	generic := c.resolve(r, "")
	c.apply(rt, r, generic, "")
	for _, ns := range c.callers {
		res := c.resolve(r, ns)
		if reflect.DeepEqual(res, generic) {
			continue
		}
		v := base
		v.Findings = slices.Clone(base.Findings)
		v.NotEvaluated = slices.Clone(base.NotEvaluated)
		c.apply(&v, r, res, ns)
		if rt.variants == nil {
			rt.variants = map[string]*Route{}
		}
		rt.variants[ns] = &v
	}
}

// apply puts a resolution into a route and reports its problems.
func (c *compiler) apply(rt *Route, r *routeSpec, res resolution, callerNS string) {
	rt.Destinations, rt.cum = res.dests, res.cum
	for i, d := range res.dests {
		if d.Problem == "" {
			continue
		}
		msg := d.Problem
		if callerNS != "" {
			msg += " (for callers in namespace " + callerNS + ")"
		}
		field := "subset"
		if res.problemAt[i] != "" {
			field = res.problemAt[i]
		}
		path := fmt.Sprintf("%s.route[%d].destination.%s", r.path(), i, field)
		rt.Findings = append(rt.Findings, c.fs.add(Error, r.owner.meta, path, "%s", msg))
		if d.Weight > 0 {
			rt.Status = 503
		}
	}
	for _, n := range res.notes {
		rt.NotEvaluated = append(rt.NotEvaluated, c.fs.add(Info, n.meta, n.path, "%s", n.msg))
	}
}

// resolve works out the destinations for a caller in callerNS ("" for a
// namespace that holds no DestinationRule or ServiceEntry and that none
// is exported to by name).
func (c *compiler) resolve(r *routeSpec, callerNS string) resolution {
	owner := r.owner
	dests := r.http.GetRoute()
	var res resolution
	var cum uint32
	for _, d := range dests {
		host := ResolveHost(d.GetDestination().GetHost(), owner.ns)
		out := Destination{Host: host, Subset: d.GetDestination().GetSubset(), Port: d.GetDestination().GetPort().GetNumber(), Weight: d.GetWeight()}
		if len(dests) == 1 && out.Weight == 0 {
			out.Weight = 100
		}
		if d.GetHeaders() != nil {
			out.RequestHeaders, out.ResponseHeaders = headerOps(d.GetHeaders().GetRequest()), headerOps(d.GetHeaders().GetResponse())
		}
		if svc := c.t.services[host]; svc != nil && out.Port == 0 && len(svc.Spec.Ports) == 1 {
			out.Port = uint32(svc.Spec.Ports[0].Port)
		}
		problemAt := ""
		svcNS, hidden := c.t.serviceNamespace(host, callerNS)
		for _, se := range hidden {
			out.Problem = fmt.Sprintf("host %s is defined only by ServiceEntry %s, which is not exported to %s (exportTo: %s): their sidecars have no cluster for it and Envoy answers 503",
				host, se.meta.namespace+"/"+se.meta.name, c.callerDesc(callerNS), describeExportTo(se.vis))
			problemAt = "host"
		}
		if out.Problem == "" && c.t.knowsHosts() && c.t.services[host] == nil && len(c.t.ses.of(host)) == 0 && net.ParseIP(host) == nil {
			out.Problem = fmt.Sprintf("no Service or ServiceEntry for host %s among the inputs: Envoy has no cluster for it and answers 503", host)
			problemAt = "host"
		}
		rules := c.drs.lookup(host, callerNS, svcNS)
		if out.Problem == "" {
			c.resolveSubset(&out, rules, callerNS)
		}
		for _, u := range rules {
			res.notes = append(res.notes, policyNotes(u, out.Subset)...)
		}
		for _, u := range others(c.drs.selected, host, nil) {
			res.notes = append(res.notes, note{u.meta, "spec.workloadSelector", fmt.Sprintf(
				"not evaluated: this DestinationRule for %s applies only to the sidecars its workloadSelector selects; Graylane leaves it out of the subset lookup", host)})
		}
		cum += uint32(out.Weight)
		res.cum = append(res.cum, cum)
		res.dests = append(res.dests, out)
		res.problemAt = append(res.problemAt, problemAt)
	}
	if cum != 100 {
		for i := range res.dests {
			d := &res.dests[i]
			d.Percent = 100
			if len(res.dests) > 1 {
				d.Percent = float64(d.Weight) * 100 / float64(cum)
			}
		}
	}
	return res
}

// callerDesc names the callers a resolution is for: those of one
// namespace, or those of every namespace that holds no DestinationRule or
// ServiceEntry and that none is exported to by name.
func (c *compiler) callerDesc(ns string) string {
	if ns == "" {
		return "callers outside namespaces " + strings.Join(c.callers, ", ")
	}
	return "callers in namespace " + ns
}

// resolveSubset fills labels from the DestinationRules, or a Problem.
func (c *compiler) resolveSubset(d *Destination, rules []*drUnit, callerNS string) {
	if d.Subset == "" {
		return
	}
	if len(rules) == 0 {
		if hidden := others(c.drs.all, d.Host, nil); len(hidden) > 0 {
			var names []string
			for _, u := range hidden {
				names = append(names, fmt.Sprintf("%s (exportTo: %s)", u.key(), describeExportTo(u.vis)))
			}
			d.Problem = fmt.Sprintf("no DestinationRule for host %s is visible to %s (there is %s), so subset %q does not exist for them: Envoy answers 503 no healthy upstream",
				d.Host, c.callerDesc(callerNS), strings.Join(names, ", "), d.Subset)
			return
		}
		d.Problem = fmt.Sprintf("no DestinationRule defines subsets for host %s, so subset %q does not exist: Envoy answers 503 no healthy upstream", d.Host, d.Subset)
		return
	}
	labels, rule := subsetLabels(rules, d.Subset)
	if rule == nil {
		var names []string
		for _, r := range rules {
			for n := range r.subsets {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		d.Problem = fmt.Sprintf("subset %q is not defined in DestinationRule %s for host %s (it has: %s): Envoy answers 503 no healthy upstream",
			d.Subset, rules[0].key(), d.Host, strings.Join(names, ", "))
		return
	}
	d.Labels = labels
	d.DestinationRule = rule.key()
}

// slot assigns header names to the per-request cache.
func (c *compiler) slot(key string) int {
	if i, ok := c.slots[key]; ok {
		return i
	}
	if len(c.slots) >= headerSlots {
		return -1
	}
	c.slots[key] = len(c.slots)
	return c.slots[key]
}

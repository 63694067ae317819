package route

import (
	"fmt"
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
	c.destinations(rt, r)
	rt.Policy = routePolicy(r)
	rt.Fault = c.routeFault(r)
	c.mirrors(rt, r)
	return rt, ms
}

func (c *compiler) destinations(rt *Route, r *routeSpec) {
	owner := r.owner
	dests := r.http.GetRoute()
	var cum uint32
	for i, d := range dests {
		path := fmt.Sprintf("%s.route[%d].destination", r.path(), i)
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
		c.resolveSubset(&out, owner, path)
		if out.Problem != "" {
			rt.Findings = append(rt.Findings, c.fs.add(Error, owner.meta, path+".subset", "%s", out.Problem))
			if out.Weight > 0 {
				rt.Status = 503
			}
		}
		cum += uint32(out.Weight)
		rt.cum = append(rt.cum, cum)
		rt.Destinations = append(rt.Destinations, out)
	}
}

// resolveSubset fills labels from the DestinationRule, or a Problem.
func (c *compiler) resolveSubset(d *Destination, owner *vsUnit, path string) {
	rules, others := c.drs.lookup(d.Host, owner.ns)
	if len(others) > 0 && d.Subset != "" {
		c.fs.add(Info, owner.meta, path, "DestinationRules for %s exist in namespaces %s; Graylane uses %s (the Service's namespace first); Istio picks by the caller's namespace",
			d.Host, namespacesOf(append(append([]*drUnit(nil), rules...), others...)), rules[0].ns)
	}
	if d.Subset == "" {
		return
	}
	if len(rules) == 0 {
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
		d.Problem = fmt.Sprintf("subset %q is not defined in DestinationRule %s/%s for host %s (it has: %s): Envoy answers 503 no healthy upstream",
			d.Subset, rules[0].ns, rules[0].obj.Name, d.Host, strings.Join(names, ", "))
		return
	}
	d.Labels = labels
	d.DestinationRule = rule.ns + "/" + rule.obj.Name
}

func namespacesOf(us []*drUnit) string {
	seen := map[string]bool{}
	var out []string
	for _, u := range us {
		if !seen[u.ns] {
			seen[u.ns] = true
			out = append(out, u.ns)
		}
	}
	return strings.Join(out, ", ")
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

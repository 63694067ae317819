package route

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Table is compiled routing configuration. It is immutable and safe for
// concurrent use.
type Table struct {
	sources  map[string]*sourceTable
	gateways map[string]*gatewayUnit
	services map[string]*corev1.Service
	// fqdns maps a Service's (name, namespace) to its FQDN, so resolving a
	// short name on the request path does not build the string.
	fqdns    map[[2]string]string
	rejected []*vsUnit
	// Findings is everything Compile noticed, in input order.
	Findings []Finding
}

// sourceTable is the route configuration one proxy (the mesh sidecars, or
// one gateway) would receive.
type sourceTable struct {
	exact map[string][]hostEntry
	wild  []*VirtualHost // longest suffix first, "*" last
}

type hostEntry struct {
	callerNS string // "" = any caller
	vh       *VirtualHost
}

// Compile builds a Table. It never fails: objects istiod would reject are
// left out and reported as Error findings; other problems are Warning or
// Info findings.
func Compile(in Input) *Table {
	fs := &findings{}
	t := &Table{sources: map[string]*sourceTable{MeshSource: newSourceTable()}, services: map[string]*corev1.Service{}, fqdns: map[[2]string]string{}}
	for _, s := range in.Services {
		if s.Object != nil {
			name, ns := strings.ToLower(s.Object.Name), namespaceOf(&s.Object.ObjectMeta)
			fqdn := name + "." + ns + "." + ClusterDomain
			t.services[fqdn] = s.Object
			t.fqdns[[2]string{name, ns}] = fqdn
		}
	}
	drs := newDRIndex(in.DestinationRules, fs)
	t.gateways = newGatewayIndex(in.Gateways, fs)
	for key := range t.gateways {
		t.sources[key] = newSourceTable()
	}
	units := t.prepareVirtualServices(in.VirtualServices, fs)
	c := &compiler{t: t, fs: fs, drs: drs, slots: map[string]int{}}
	for _, u := range units {
		c.bind(u)
	}
	for _, st := range t.sources {
		st.finish()
	}
	t.Findings = fs.list
	return t
}

func newSourceTable() *sourceTable { return &sourceTable{exact: map[string][]hostEntry{}} }

// prepareVirtualServices validates, merges delegates into their roots and
// returns the VirtualServices that bind hosts, oldest first.
func (t *Table) prepareVirtualServices(in []VirtualService, fs *findings) []*vsUnit {
	var units []*vsUnit
	delegates := map[string]*vsUnit{}
	used := map[string]bool{}
	for _, vs := range orderedVirtualServices(in) {
		u := newVSUnit(vs)
		u.validate(fs)
		if u.rejected {
			t.rejected = append(t.rejected, u)
			continue
		}
		if u.isDelegate() {
			delegates[u.key()] = u
			continue
		}
		units = append(units, u)
	}
	for _, u := range units {
		if !u.isRoot() {
			continue
		}
		var merged []*routeSpec
		for _, r := range u.routes {
			d := r.http.GetDelegate()
			if d == nil {
				merged = append(merged, r)
				continue
			}
			ns := d.GetNamespace()
			if ns == "" {
				ns = u.ns
			}
			key := ns + "/" + d.GetName()
			del, ok := delegates[key]
			if !ok {
				fs.add(Warning, u.meta, r.path()+".delegate", "delegate VirtualService %s not found (or rejected); istiod drops this route", key)
				continue
			}
			used[key] = true
			out, dropped := mergeDelegate(r, del.routes)
			for _, d := range dropped {
				fs.add(Warning, del.meta, d.path()+".match", "conflicts with the match of root %s %s; istiod drops this route (a delegate match must narrow the root's, and regex never narrows)", u.key(), r.path())
			}
			merged = append(merged, out...)
		}
		u.routes = merged
	}
	for key, d := range delegates {
		if !used[key] {
			fs.add(Info, d.meta, "spec.hosts", "no hosts and no root VirtualService delegates to it: it has no effect")
		}
	}
	return units
}

// compiler binds VirtualServices to sources.
type compiler struct {
	t     *Table
	fs    *findings
	drs   *drIndex
	slots map[string]int
}

func (c *compiler) bind(u *vsUnit) {
	routes := make([]*Route, len(u.routes))
	matches := make([][]*match, len(u.routes))
	for i, r := range u.routes {
		routes[i], matches[i] = c.compileRoute(u, r)
	}
	for _, src := range u.gateways {
		st := c.t.sources[src]
		if st == nil {
			st = newSourceTable()
			c.t.sources[src] = st
		}
		hosts := u.hosts
		if src != MeshSource {
			hosts = c.gatewayHosts(u, src)
		}
		var bound []boundRoute
		for i, r := range u.routes {
			if br, ok := filterForSource(routes[i], r, matches[i], src); ok {
				bound = append(bound, br)
			}
		}
		for _, h := range hosts {
			c.addHost(st, src, h, u, bound)
		}
	}
}

// filterForSource keeps the match blocks that apply to src: those without
// gateways (the VirtualService's own list already admitted src) and those
// naming src. A route whose every block names other gateways is dropped.
func filterForSource(rt *Route, r *routeSpec, ms []*match, src string) (boundRoute, bool) {
	if len(r.matches) == 0 {
		return boundRoute{route: rt}, true
	}
	br := boundRoute{route: rt}
	for i, spec := range r.matches {
		if ms[i] == nil {
			continue
		}
		if len(spec.gateways) > 0 && !slices.Contains(spec.gateways, src) {
			continue
		}
		br.matches = append(br.matches, ms[i])
		br.origIdx = append(br.origIdx, i)
	}
	return br, len(br.matches) > 0
}

func (c *compiler) addHost(st *sourceTable, src, host string, u *vsUnit, routes []boundRoute) {
	var vh *VirtualHost
	if strings.HasPrefix(host, "*") {
		for _, w := range st.wild {
			if w.Host == host {
				vh = w
			}
		}
	} else if es := st.exact[host]; len(es) > 0 {
		for _, e := range es {
			if e.callerNS == "" {
				vh = e.vh
			}
		}
	}
	if vh != nil {
		if src == MeshSource {
			msg := fmt.Sprintf("host %s is also defined by VirtualService %s; sidecars do not merge VirtualServices, so only %s (the oldest) is used", host, vh.VirtualServices[0], vh.VirtualServices[0])
			vh.Findings = append(vh.Findings, c.fs.add(Warning, u.meta, "spec.hosts", "%s", msg))
			return
		}
		vh.VirtualServices = append(vh.VirtualServices, u.key())
		vh.routes = append(vh.routes, routes...)
		return
	}
	vh = &VirtualHost{Host: host, VirtualServices: []string{u.key()}, routes: routes}
	if strings.HasPrefix(host, "*") {
		st.wild = append(st.wild, vh)
		return
	}
	aliases := []hostAlias{{key: host}}
	if src == MeshSource {
		aliases = meshAliases(host)
	}
	for _, a := range aliases {
		st.exact[a.key] = append(st.exact[a.key], hostEntry{callerNS: a.callerNS, vh: vh})
	}
}

func (st *sourceTable) finish() {
	sort.SliceStable(st.wild, func(i, j int) bool { return len(st.wild[i].Host) > len(st.wild[j].Host) })
	done := map[*VirtualHost]bool{}
	for _, es := range st.exact {
		for _, e := range es {
			if !done[e.vh] {
				done[e.vh] = true
				e.vh.steps = plan(e.vh.routes)
			}
		}
	}
	for _, vh := range st.wild {
		vh.steps = plan(vh.routes)
	}
}

// lookup finds the virtual host for a request host: exact names first
// (short names only for callers in the Service's namespace), then the
// longest matching wildcard, as Envoy does.
func (st *sourceTable) lookup(host, callerNS string) *VirtualHost {
	if es, ok := st.exact[host]; ok {
		for i := range es {
			if es[i].callerNS == "" || es[i].callerNS == callerNS {
				return es[i].vh
			}
		}
	}
	for _, w := range st.wild {
		if wildcardMatch(w.Host, host) {
			return w
		}
	}
	return nil
}

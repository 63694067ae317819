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
	sources  map[string]*sourceView
	gateways map[string]*gatewayUnit
	services map[string]*corev1.Service
	// svcLocate locates the fields of the Services, by FQDN.
	svcLocate map[string]Locator
	ses       *seIndex
	outbound  OutboundPolicy
	drs       *drIndex
	// fqdns maps a Service's (name, namespace) to its FQDN, so resolving a
	// short name on the request path does not build the string.
	fqdns    map[[2]string]string
	rejected []*vsUnit
	// gatewayRefs are the gateways ("ns/name") VirtualServices name.
	gatewayRefs map[string]bool
	// l4 lists, per source, the VirtualServices with TCP or TLS routes
	// (which Graylane does not evaluate).
	l4 map[string][]*vsUnit
	// Findings is everything Compile noticed, in input order.
	Findings []Finding
}

// sourceView is what one kind of proxy (the mesh sidecars, or one
// gateway) is configured with. VirtualServices exported to some
// namespaces only (exportTo) make the configuration depend on the
// caller's namespace (for a gateway, the gateway's): byNS holds the table
// of each namespace named in an exportTo, all the table of every other
// namespace (public VirtualServices only).
type sourceView struct {
	all  *sourceTable
	byNS map[string]*sourceTable
}

func (v *sourceView) table(ns string) *sourceTable {
	if v.byNS != nil {
		if st, ok := v.byNS[ns]; ok {
			return st
		}
	}
	return v.all
}

// sourceTable is the route configuration one proxy would receive.
type sourceTable struct {
	exact map[string][]hostEntry
	wild  []*VirtualHost // longest suffix first, "*" last
}

type hostEntry struct {
	callerNS string // "" = any caller
	vh       *VirtualHost
}

// binding is a VirtualService's hosts and routes on one source.
type binding struct {
	src    string
	hosts  []string
	routes []boundRoute
}

// Compile builds a Table. It never fails: objects istiod would reject are
// left out and reported as Error findings; other problems are Warning or
// Info findings.
func Compile(in Input) *Table {
	fs := &findings{}
	t := &Table{sources: map[string]*sourceView{}, services: map[string]*corev1.Service{}, svcLocate: map[string]Locator{}, fqdns: map[[2]string]string{}, l4: map[string][]*vsUnit{}}
	for _, s := range in.Services {
		if s.Object != nil {
			name, ns := strings.ToLower(s.Object.Name), namespaceOf(&s.Object.ObjectMeta)
			fqdn := name + "." + ns + "." + ClusterDomain
			t.services[fqdn] = s.Object
			t.svcLocate[fqdn] = s.Locate
			t.fqdns[[2]string{name, ns}] = fqdn
		}
	}
	t.ses = newSEIndex(in.ServiceEntries, fs)
	t.outbound = in.Outbound
	drs := newDRIndex(in.DestinationRules, fs)
	t.drs = drs
	t.gateways = newGatewayIndex(in.Gateways, fs)
	units := t.prepareVirtualServices(in.VirtualServices, fs)
	c := &compiler{t: t, fs: fs, drs: drs, slots: map[string]int{}, callers: callerNamespaces(drs, t.ses)}
	sources := []string{MeshSource}
	for key := range t.gateways {
		sources = append(sources, key)
	}
	t.gatewayRefs = map[string]bool{}
	for _, u := range units {
		for _, g := range u.gateways {
			if g != MeshSource {
				t.gatewayRefs[g] = true
			}
		}
		c.compileUnit(u)
		for _, b := range u.bindings {
			if !slices.Contains(sources, b.src) {
				sources = append(sources, b.src)
			}
		}
	}
	slices.Sort(sources[1:])
	special := exportNamespaces(units)
	for _, src := range sources {
		v := &sourceView{all: c.sourceTable(src, units, "")}
		for _, ns := range special {
			if v.byNS == nil {
				v.byNS = map[string]*sourceTable{}
			}
			v.byNS[ns] = c.sourceTable(src, units, ns)
		}
		t.sources[src] = v
	}
	t.Findings = fs.list
	return t
}

func newSourceTable() *sourceTable { return &sourceTable{exact: map[string][]hostEntry{}} }

// exportNamespaces lists the namespaces named (or meant by ".") in the
// exportTo of a VirtualService that is not public.
func exportNamespaces(units []*vsUnit) []string {
	var out []string
	for _, u := range units {
		for _, ns := range u.vis.ns {
			if !slices.Contains(out, ns) {
				out = append(out, ns)
			}
		}
	}
	slices.Sort(out)
	return out
}

// callerNamespaces are the namespaces whose callers may find other
// DestinationRules than a caller of any other namespace.
func callerNamespaces(drs *drIndex, ses *seIndex) []string {
	var out []string
	for ns := range drs.special {
		out = append(out, ns)
	}
	for ns := range ses.special {
		if !drs.special[ns] {
			out = append(out, ns)
		}
	}
	slices.Sort(out)
	return out
}

// sourceTable binds the VirtualServices a caller of namespace ns sees on
// src ("" = a namespace no exportTo names), in istiod's order: those
// exported to ns only from ns itself, then those exported to ns from
// other namespaces, then the public ones (each group oldest first).
func (c *compiler) sourceTable(src string, units []*vsUnit, ns string) *sourceTable {
	st := newSourceTable()
	groups := [3][]*vsUnit{}
	for _, u := range units {
		switch {
		case u.vis.public:
			groups[2] = append(groups[2], u)
		case ns == "" || !u.vis.visibleTo(ns):
		case u.ns == ns:
			groups[0] = append(groups[0], u)
		default:
			groups[1] = append(groups[1], u)
		}
	}
	for _, g := range groups {
		for _, u := range g {
			for _, b := range u.bindings {
				if b.src != src {
					continue
				}
				for _, h := range b.hosts {
					c.addHost(st, src, h, u, b.routes, ns)
				}
			}
		}
	}
	st.finish()
	return st
}

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
			if !del.vis.visibleTo(u.ns) {
				fs.add(Warning, u.meta, r.path()+".delegate", "delegate VirtualService %s is not exported to namespace %s (its exportTo: %s); istiod drops this route", key, u.ns, describeExportTo(del.vis))
				continue
			}
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
	// callers are the namespaces whose callers may resolve subsets
	// differently from a caller of any other namespace.
	callers []string
}

// compileUnit compiles a VirtualService's routes once and works out its
// hosts and routes on each source it is bound to. A source on which it
// has no HTTP route gets no virtual host from it, as istiod builds none.
func (c *compiler) compileUnit(u *vsUnit) {
	if len(u.obj.Spec.GetTcp()) > 0 || len(u.obj.Spec.GetTls()) > 0 {
		c.l4Notes(u)
		for _, src := range u.gateways {
			c.t.l4[src] = append(c.t.l4[src], u)
		}
	}
	routes := make([]*Route, len(u.routes))
	matches := make([][]*match, len(u.routes))
	for i, r := range u.routes {
		routes[i], matches[i] = c.compileRoute(u, r)
	}
	for _, src := range u.gateways {
		var bound []boundRoute
		for i, r := range u.routes {
			if br, ok := filterForSource(routes[i], r, matches[i], src); ok {
				bound = append(bound, br)
			}
		}
		if len(bound) == 0 {
			continue
		}
		hosts := u.hosts
		if src != MeshSource {
			hosts = c.gatewayHosts(u, src)
		}
		u.bindings = append(u.bindings, binding{src: src, hosts: hosts, routes: bound})
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

func (c *compiler) addHost(st *sourceTable, src, host string, u *vsUnit, routes []boundRoute, ns string) {
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
			first := vh.VirtualServices[0]
			msg := fmt.Sprintf("host %s is also defined by VirtualService %s; sidecars do not merge VirtualServices, so only %s (the oldest) is used", host, first, first)
			if ns != "" && (!u.vis.public || !vh.public) {
				msg = fmt.Sprintf("host %s is also defined by VirtualService %s; sidecars do not merge VirtualServices, so callers in namespace %s use only %s (VirtualServices exported to their namespace by name come before public ones, then the oldest)", host, first, ns, first)
			}
			vh.Findings = append(vh.Findings, c.fs.add(Warning, u.meta, "spec.hosts", "%s", msg))
			return
		}
		vh.VirtualServices = append(vh.VirtualServices, u.key())
		vh.routes = append(vh.routes, routes...)
		return
	}
	vh = &VirtualHost{Host: host, VirtualServices: []string{u.key()}, routes: routes, public: u.vis.public}
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

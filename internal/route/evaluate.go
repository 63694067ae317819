package route

import (
	"maps"
	"slices"
	"sort"
	"strings"
)

// Evaluate routes one request. It does not allocate when the request's
// host has a VirtualService (a passthrough result for a short host name
// builds its FQDN).
func (t *Table) Evaluate(req *Request) Result {
	src := req.Source.Gateway
	if src == "" {
		src = MeshSource
	}
	host := hostOnly(req.Authority)
	res := Result{Host: host, Match: -1}
	ns := req.namespace()
	if src != MeshSource {
		if g := t.gateways[src]; g != nil {
			if rt := g.httpsRedirect(req, host); rt != nil {
				res.Route, res.Status, res.Reason = rt, rt.Status, HTTPSRedirect
				return res
			}
		}
	}
	var vh *VirtualHost
	if v := t.sources[src]; v != nil {
		vh = v.table(ns).lookup(host, ns)
	}
	if vh == nil {
		if src == MeshSource {
			res.Status, res.Reason = 200, Passthrough
			return res
		}
		res.Status, res.Reason = 404, NoVirtualHost
		return res
	}
	res.VirtualHost = vh
	c := evalCtx{r: req}
	for si := range vh.steps {
		s := &vh.steps[si]
		if s.idx != nil {
			pos, block, linear := s.idx.best(&c, vh.routes)
			if pos >= 0 {
				br := &vh.routes[pos]
				rt := br.route.forCaller(ns)
				res.Route, res.Status, res.Reason, res.Match = rt, rt.Status, Matched, br.origIdx[block]
				return res
			}
			if !linear {
				continue
			}
		}
		for i := s.start; i < s.end; i++ {
			br := &vh.routes[i]
			if br.matches == nil {
				rt := br.route.forCaller(ns)
				res.Route, res.Status, res.Reason = rt, rt.Status, Matched
				return res
			}
			for j, m := range br.matches {
				if m.matches(&c) {
					rt := br.route.forCaller(ns)
					res.Route, res.Status, res.Reason, res.Match = rt, rt.Status, Matched, br.origIdx[j]
					return res
				}
			}
		}
	}
	res.Status, res.Reason = 404, NoRoute
	return res
}

// forCaller is the route as a caller of namespace ns sees it.
func (r *Route) forCaller(ns string) *Route {
	if r.variants != nil {
		if v, ok := r.variants[ns]; ok {
			return v
		}
	}
	return r
}

// PassthroughHost is the destination of a Passthrough result: the request
// host as a FQDN, resolved in the caller's namespace like Kubernetes DNS.
func (t *Table) PassthroughHost(req *Request) string {
	host := hostOnly(req.Authority)
	ns := req.namespace()
	switch strings.Count(host, ".") {
	case 0:
		if fqdn, ok := t.fqdns[[2]string{host, ns}]; ok {
			return fqdn
		}
		return ResolveHost(host, ns)
	case 1:
		if _, ok := t.services[host+"."+ClusterDomain]; ok {
			return host + "." + ClusterDomain
		}
	}
	if strings.HasSuffix(host, ".svc") {
		return host + ".cluster.local"
	}
	return host
}

// Service returns the Kubernetes Service for a cluster FQDN, if loaded.
func (t *Table) Service(fqdn string) (name, namespace string, ports []int32, ok bool) {
	s := t.services[fqdn]
	if s == nil {
		return "", "", nil, false
	}
	for _, p := range s.Spec.Ports {
		ports = append(ports, p.Port)
	}
	return s.Name, namespaceOf(&s.ObjectMeta), ports, true
}

// RejectedFor lists the findings of rejected VirtualServices that name
// the request's host: why a VirtualService the user expected is not used.
func (t *Table) RejectedFor(req *Request) []Finding {
	host := hostOnly(req.Authority)
	full := t.PassthroughHost(req)
	var out []Finding
	for _, u := range t.rejected {
		for _, h := range u.hosts {
			if wildcardMatch(h, host) || wildcardMatch(h, full) {
				for _, f := range t.Findings {
					if f.Object == u.meta.ref() && f.Severity == Error {
						out = append(out, f)
					}
				}
				break
			}
		}
	}
	return out
}

// FindingsFor lists the findings about the given objects ("Kind ns/name").
func (t *Table) FindingsFor(objects ...string) []Finding {
	var out []Finding
	for _, f := range t.Findings {
		if slices.Contains(objects, f.Object) {
			out = append(out, f)
		}
	}
	return out
}

// HostSummary describes one virtual host of a source.
type HostSummary struct {
	Source          string   `json:"source"`
	Host            string   `json:"host"`
	VirtualServices []string `json:"virtualServices"`
	Routes          int      `json:"routes"`
	// Namespaces, when set, are the only namespaces whose callers get this
	// virtual host (VirtualServices exported to some namespaces only).
	Namespaces []string `json:"namespaces,omitempty"`
}

// Hosts lists every virtual host per source (the mesh and each gateway),
// sorted by source and host: those every caller gets, then those only
// callers of some namespaces get (exportTo).
func (t *Table) Hosts() []HostSummary {
	var out []HostSummary
	for src, v := range t.sources {
		seen := map[string]bool{}
		for _, h := range v.all.hosts() {
			h.Source = src
			seen[h.Host+"|"+strings.Join(h.VirtualServices, ",")] = true
			out = append(out, h)
		}
		byKey := map[string]*HostSummary{}
		var keys []string
		for _, ns := range slices.Sorted(maps.Keys(v.byNS)) {
			for _, h := range v.byNS[ns].hosts() {
				k := h.Host + "|" + strings.Join(h.VirtualServices, ",")
				if seen[k] {
					continue
				}
				if byKey[k] == nil {
					h.Source = src
					byKey[k] = &h
					keys = append(keys, k)
				}
				byKey[k].Namespaces = append(byKey[k].Namespaces, ns)
			}
		}
		for _, k := range keys {
			out = append(out, *byKey[k])
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return out[i].Host < out[j].Host
	})
	return out
}

func (st *sourceTable) hosts() []HostSummary {
	var out []HostSummary
	seen := map[*VirtualHost]bool{}
	add := func(vh *VirtualHost) {
		if !seen[vh] {
			seen[vh] = true
			out = append(out, HostSummary{Host: vh.Host, VirtualServices: vh.VirtualServices, Routes: len(vh.routes)})
		}
	}
	for _, es := range st.exact {
		for _, e := range es {
			add(e.vh)
		}
	}
	for _, vh := range st.wild {
		add(vh)
	}
	return out
}

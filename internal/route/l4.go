package route

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// TCP and TLS: Graylane evaluates HTTP routing only. What would route a
// request's connection at layer 4 instead is reported, located, by
// NotEvaluated and L4.

// l4Notes records the "not evaluated" findings of a VirtualService's TCP
// and TLS routes.
func (c *compiler) l4Notes(u *vsUnit) {
	spec := &u.obj.Spec
	if len(spec.GetTcp()) > 0 {
		u.l4 = append(u.l4, c.fs.add(Info, u.meta, "spec.tcp",
			"not evaluated: TCP routes decide where connections to a TCP port of %s go; Graylane evaluates HTTP routes only", strings.Join(u.hosts, ", ")))
	}
	if len(spec.GetTls()) > 0 {
		u.l4 = append(u.l4, c.fs.add(Info, u.meta, "spec.tls",
			"not evaluated: TLS routes decide, by SNI, where TLS connections to %s that are not terminated go; Graylane evaluates HTTP routes only", strings.Join(u.hosts, ", ")))
	}
}

// NotEvaluated lists the located "not evaluated" findings about one
// evaluation: those of the matched route (CORS, traffic policies and TLS
// origination of the DestinationRules its destinations use)
// or of the passthrough host's DestinationRule,
// the TCP and TLS routes of the VirtualServices for the request's host
// that its caller sees on its source, and the gateway's TCP/TLS servers
// on the request's port.
func (t *Table) NotEvaluated(req *Request, res Result) []Finding {
	var out []Finding
	if res.Route != nil {
		out = append(out, res.Route.NotEvaluated...)
	}
	if res.Reason == Passthrough {
		// The host's own cluster gets the traffic policies of its
		// DestinationRule all the same.
		host := t.PassthroughHost(req)
		svcNS, _ := t.serviceNamespace(host, req.namespace())
		for _, u := range t.drs.lookup(host, req.namespace(), svcNS) {
			for _, n := range policyNotes(u, "") {
				out = append(out, locatedFinding(n.meta, n.path, n.msg))
			}
		}
	}
	src := req.Source.Gateway
	if src == "" {
		src = MeshSource
	}
	host, ns := hostOnly(req.Authority), req.namespace()
	full := host
	if src == MeshSource {
		full = t.PassthroughHost(req)
	}
	for _, u := range t.l4[src] {
		if !u.vis.visibleTo(ns) {
			continue
		}
		for _, h := range u.hosts {
			if wildcardMatch(h, host) || wildcardMatch(h, full) {
				out = append(out, u.l4...)
				break
			}
		}
	}
	if f, ok := t.L4(req); ok {
		out = append(out, f)
	}
	return out
}

// L4 reports whether the request's port carries TCP or TLS for its
// source, with the finding that says why: on a gateway, only TCP/TLS
// servers listen on the port; in the mesh, the port of the destination
// Service (or, for a host no Service has, of the first ServiceEntry the
// caller sees) is declared TCP, TLS, HTTPS, MONGO, MYSQL or REDIS (by appProtocol or
// its name's prefix, as Istio reads it). Envoy then does not read HTTP on
// it, so HTTP routes do not apply and the answer is not evaluated.
func (t *Table) L4(req *Request) (Finding, bool) {
	port := req.port()
	if gw := req.Source.Gateway; gw != "" && gw != MeshSource {
		g := t.gateways[gw]
		if g == nil {
			return Finding{}, false
		}
		var l4 *gatewayServer
		for i := range g.servers {
			s := &g.servers[i]
			if s.port != port {
				continue
			}
			if !s.l4 {
				return Finding{}, false
			}
			l4 = s
		}
		if l4 == nil {
			return Finding{}, false
		}
		path := fmt.Sprintf("spec.servers[%d]", l4.index)
		return locatedFinding(g.meta, path, fmt.Sprintf("not evaluated: port %d of Gateway %s is a %s server: its connections follow TCP/TLS routes, which Graylane does not evaluate", port, g.meta.namespace+"/"+g.meta.name, l4.describe())), true
	}
	fqdn := t.PassthroughHost(req)
	if svc := t.services[fqdn]; svc != nil {
		for i, p := range svc.Spec.Ports {
			if uint32(p.Port) != port {
				continue
			}
			if proto := portProtocol(p); isL4Protocol(proto) {
				m := meta("Service", &svc.ObjectMeta, t.svcLocate[fqdn])
				return locatedFinding(m, fmt.Sprintf("spec.ports[%d]", i), fmt.Sprintf("not evaluated: port %d of Service %s is declared %s: Envoy proxies its connections without reading HTTP (TCP routes apply, not HTTP routes), which Graylane does not evaluate", port, svc.Name, proto)), true
			}
			return Finding{}, false
		}
		return Finding{}, false
	}
	// A ServiceEntry's port, as the caller sees the first that defines
	// the host.
	for _, u := range t.ses.of(fqdn) {
		if !u.vis.visibleTo(req.namespace()) {
			continue
		}
		for _, p := range u.ports {
			if p.number != port {
				continue
			}
			if isL4Protocol(p.protocol) {
				return locatedFinding(u.meta, fmt.Sprintf("spec.ports[%d]", p.index), fmt.Sprintf("not evaluated: port %d of ServiceEntry %s is declared %s: Envoy proxies its connections without reading HTTP (TCP/TLS routes apply, not HTTP routes), which Graylane does not evaluate", port, u.meta.namespace+"/"+u.meta.name, p.protocol)), true
			}
			return Finding{}, false
		}
		return Finding{}, false
	}
	return Finding{}, false
}

// isL4Protocol reports whether Istio's sidecars proxy a port of this
// protocol at layer 4 (istiod's ModelProtocolToListenerProtocol: HTTPS is
// TLS the application speaks itself, so HTTP routes do not apply either).
func isL4Protocol(proto string) bool {
	switch proto {
	case "TCP", "TLS", "HTTPS", "MONGO", "MYSQL", "REDIS":
		return true
	}
	return false
}

func (s *gatewayServer) describe() string {
	if s.protocol == "HTTPS" {
		return "HTTPS (TLS passed through)"
	}
	return s.protocol
}

// portProtocol is the protocol Istio selects for a Service port: its
// appProtocol, else the prefix of its name before "-" ("http-web" is
// HTTP); "" when neither names a protocol (Istio then sniffs, and an HTTP
// request is HTTP).
func portProtocol(p corev1.ServicePort) string {
	name := p.Name
	if p.AppProtocol != nil && *p.AppProtocol != "" {
		name = *p.AppProtocol
	}
	prefix, _, _ := strings.Cut(name, "-")
	switch prefix = strings.ToUpper(prefix); prefix {
	case "HTTP", "HTTP2", "HTTPS", "GRPC", "GRPC-WEB", "TCP", "TLS", "MONGO", "MYSQL", "REDIS", "UDP":
		return prefix
	}
	return ""
}

func locatedFinding(m *objMeta, path, msg string) Finding {
	f := Finding{Severity: Info, Object: m.ref(), Path: path, Message: msg}
	if m.locate != nil {
		f.Where = m.locate(path)
	}
	return f
}

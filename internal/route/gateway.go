package route

import (
	"fmt"
	"slices"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// gatewayUnit is a loaded Gateway: its servers' hosts, with the namespace
// each host admits VirtualServices from ("*" for any).
type gatewayUnit struct {
	meta    *objMeta
	ns      string
	hosts   []gatewayHost // of the HTTP servers
	ports   []uint32
	servers []gatewayServer
}

type gatewayHost struct {
	ns   string // "*" any, else a namespace
	host string
}

// gatewayServer is one server of a Gateway.
type gatewayServer struct {
	index    int
	port     uint32
	protocol string
	// l4: TCP, TLS or MONGO, or HTTPS with TLS passed through: its
	// connections follow TCP/TLS routes, which Graylane does not evaluate.
	l4    bool
	hosts []gatewayHost
	// redirect is the route of tls.httpsRedirect: Envoy answers every
	// plain-HTTP request for the server's hosts with 301 to https.
	redirect *Route
}

func newGatewayIndex(in []Gateway, fs *findings) map[string]*gatewayUnit {
	out := map[string]*gatewayUnit{}
	for _, g := range in {
		if g.Object == nil {
			continue
		}
		o := g.Object
		u := &gatewayUnit{meta: meta("Gateway", &o.ObjectMeta, g.Locate), ns: namespaceOf(&o.ObjectMeta)}
		for i, s := range o.Spec.GetServers() {
			path := fmt.Sprintf("spec.servers[%d]", i)
			srv := gatewayServer{index: i, port: s.GetPort().GetNumber(), protocol: strings.ToUpper(s.GetPort().GetProtocol()), l4: isL4Server(s)}
			if srv.port != 0 && !slices.Contains(u.ports, srv.port) {
				u.ports = append(u.ports, srv.port)
			}
			if len(s.GetHosts()) == 0 {
				fs.add(Error, u.meta, path+".hosts", "a server needs at least one host")
			}
			for _, h := range s.GetHosts() {
				ns, host, found := strings.Cut(h, "/")
				if !found {
					ns, host = "*", h
				}
				if ns == "." {
					ns = u.ns
				}
				srv.hosts = append(srv.hosts, gatewayHost{ns: ns, host: strings.ToLower(host)})
			}
			if !srv.l4 {
				u.hosts = append(u.hosts, srv.hosts...)
			}
			if s.GetTls().GetHttpsRedirect() && !srv.l4 {
				f := fs.add(Info, u.meta, path+".tls.httpsRedirect", "Envoy answers every plain-HTTP request for %s on port %d with 301 to the same URL in https", describeServerHosts(srv.hosts), srv.port)
				srv.redirect = &Route{Redirect: &Redirect{Scheme: "https", Code: 301}, Status: 301, Index: -1, RootIndex: -1, Where: f.Where, Findings: []Finding{f}}
			}
			u.servers = append(u.servers, srv)
		}
		out[u.ns+"/"+o.Name] = u
	}
	return out
}

// isL4Server reports whether a server's connections are routed by TCP or
// TLS routes: protocols TCP, TLS and MONGO, and HTTPS whose TLS is passed
// through to the destination (PASSTHROUGH, AUTO_PASSTHROUGH).
func isL4Server(s *networking.Server) bool {
	switch strings.ToUpper(s.GetPort().GetProtocol()) {
	case "TCP", "TLS", "MONGO":
		return true
	case "HTTPS":
		m := s.GetTls().GetMode()
		return m == networking.ServerTLSSettings_PASSTHROUGH || m == networking.ServerTLSSettings_AUTO_PASSTHROUGH
	}
	return false
}

// gatewayHosts returns the hosts under which a VirtualService's routes are
// served on a gateway: each VS host intersected with the server hosts that
// admit the VS's namespace. An unknown gateway admits every host.
func (c *compiler) gatewayHosts(u *vsUnit, gw string) []string {
	g := c.t.gateways[gw]
	if g == nil {
		c.fs.add(Info, u.meta, "spec.gateways", "Gateway %s is not among the inputs; its server hosts are not checked", gw)
		return u.hosts
	}
	var out []string
	for _, h := range u.hosts {
		for _, gh := range g.hosts {
			if gh.ns != "*" && gh.ns != u.ns {
				continue
			}
			if ih := hostsIntersect(h, gh.host); ih != "" && !slices.Contains(out, ih) {
				out = append(out, ih)
			}
		}
	}
	if len(out) == 0 {
		c.fs.add(Warning, u.meta, "spec.hosts", "none of the hosts %s is served by Gateway %s (its servers accept %s): the gateway ignores this VirtualService",
			strings.Join(u.hosts, ", "), gw, g.describeHosts())
	}
	return out
}

func describeServerHosts(hs []gatewayHost) string {
	var parts []string
	for _, h := range hs {
		parts = append(parts, h.host)
	}
	return strings.Join(parts, ", ")
}

func (g *gatewayUnit) describeHosts() string {
	var parts []string
	for _, h := range g.hosts {
		parts = append(parts, h.ns+"/"+h.host)
	}
	return strings.Join(parts, ", ")
}

// httpsRedirect returns the redirect route of a server on the request's
// port with tls.httpsRedirect whose hosts take the request's host, for a
// plain-HTTP request; nil otherwise.
func (g *gatewayUnit) httpsRedirect(req *Request, host string) *Route {
	if req.scheme() != "http" {
		return nil
	}
	port := req.port()
	for i := range g.servers {
		s := &g.servers[i]
		if s.redirect == nil || s.port != port {
			continue
		}
		for _, h := range s.hosts {
			if wildcardMatch(h.host, host) {
				return s.redirect
			}
		}
	}
	return nil
}

// GatewayPorts returns the server ports of a loaded Gateway ("ns/name"),
// and whether it is loaded.
func (t *Table) GatewayPorts(gw string) ([]uint32, bool) {
	g := t.gateways[gw]
	if g == nil {
		return nil, false
	}
	return g.ports, true
}

// GatewayNamespaces returns, sorted, the namespaces of the Gateways named
// name among the inputs, or, when none is, the namespaces in which
// VirtualServices refer to a Gateway of that name (a bare name in a
// VirtualService is one of its own namespace). loaded tells which.
func (t *Table) GatewayNamespaces(name string) (nss []string, loaded bool) {
	for key := range t.gateways {
		if ns, n, _ := strings.Cut(key, "/"); n == name {
			nss = append(nss, ns)
		}
	}
	if len(nss) > 0 {
		slices.Sort(nss)
		return nss, true
	}
	for key := range t.gatewayRefs {
		if ns, n, _ := strings.Cut(key, "/"); n == name && !slices.Contains(nss, ns) {
			nss = append(nss, ns)
		}
	}
	slices.Sort(nss)
	return nss, false
}

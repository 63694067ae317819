package route

import (
	"fmt"
	"slices"
	"strings"
)

// gatewayUnit is a loaded Gateway: its servers' hosts, with the namespace
// each host admits VirtualServices from ("*" for any).
type gatewayUnit struct {
	meta  *objMeta
	ns    string
	hosts []gatewayHost
	ports []uint32
}

type gatewayHost struct {
	ns   string // "*" any, else a namespace
	host string
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
			if p := s.GetPort().GetNumber(); p != 0 && !slices.Contains(u.ports, p) {
				u.ports = append(u.ports, p)
			}
			if proto := strings.ToUpper(s.GetPort().GetProtocol()); proto == "TCP" || proto == "TLS" || proto == "MONGO" {
				continue
			}
			if len(s.GetHosts()) == 0 {
				fs.add(Error, u.meta, fmt.Sprintf("spec.servers[%d].hosts", i), "a server needs at least one host")
			}
			for _, h := range s.GetHosts() {
				ns, host, found := strings.Cut(h, "/")
				if !found {
					ns, host = "*", h
				}
				if ns == "." {
					ns = u.ns
				}
				u.hosts = append(u.hosts, gatewayHost{ns: ns, host: strings.ToLower(host)})
			}
		}
		out[u.ns+"/"+o.Name] = u
	}
	return out
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

func (g *gatewayUnit) describeHosts() string {
	var parts []string
	for _, h := range g.hosts {
		parts = append(parts, h.ns+"/"+h.host)
	}
	return strings.Join(parts, ", ")
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

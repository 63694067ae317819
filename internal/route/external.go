package route

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// OutboundPolicy is the mesh's outboundTrafficPolicy.mode: what a sidecar
// does with a request for a host no Service or ServiceEntry it sees
// defines (istio.io/api mesh/v1alpha1/config.proto,
// MeshConfig.OutboundTrafficPolicy).
type OutboundPolicy uint8

const (
	// AllowAny (Istio's default): the request goes to its original
	// destination through the PassthroughCluster.
	AllowAny OutboundPolicy = iota
	// RegistryOnly: the request is blocked; for HTTP the sidecar's
	// catch-all virtual host "block_all" answers 502 itself (istiod's
	// buildCatchAllVirtualHost, pilot/pkg/networking/core/httproute.go:
	// a direct response of 502, reported as BlackHoleCluster).
	RegistryOnly
)

// Outbound policy names, as the flag of graylane up takes them.
const (
	AllowAnyName     = "allow-any"
	RegistryOnlyName = "registry-only"
)

func (p OutboundPolicy) String() string {
	if p == RegistryOnly {
		return RegistryOnlyName
	}
	return AllowAnyName
}

// ParseOutboundPolicy reads allow-any or registry-only (Istio's spellings
// ALLOW_ANY and REGISTRY_ONLY too).
func ParseOutboundPolicy(s string) (OutboundPolicy, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "_", "-")) {
	case AllowAnyName:
		return AllowAny, nil
	case RegistryOnlyName:
		return RegistryOnly, nil
	}
	return AllowAny, fmt.Errorf("outbound traffic policy %q: want %s or %s", s, AllowAnyName, RegistryOnlyName)
}

// Cluster names Istio gives the requests that leave by the catch-all
// routes (pilot/pkg/networking/util: PassthroughCluster,
// BlackHoleCluster); its metrics report them as destination_service_name.
const (
	PassthroughCluster = "PassthroughCluster"
	BlackHoleCluster   = "BlackHoleCluster"
)

// External is a ServiceEntry host a hop sends to: the cluster istiod builds
// for a ServiceEntry's host and port. It belongs to the Table and must not
// be modified.
type External struct {
	// ServiceEntry is "namespace/name".
	ServiceEntry string `json:"serviceEntry"`
	// Namespace is the ServiceEntry's namespace (Istio's
	// destination_service_namespace).
	Namespace string `json:"namespace"`
	// Host is the ServiceEntry's host the request matched, as written
	// (a wildcard stays one): Istio's destination_service.
	Host string `json:"host"`
	// Resolution is spec.resolution: NONE, STATIC, DNS or DNS_ROUND_ROBIN.
	Resolution string `json:"resolution"`
	unit       *seUnit
}

// Endpoint is one address a ServiceEntry's cluster sends to.
type Endpoint struct {
	// Address is host:port; the host is a name the data plane resolves
	// (resolution DNS, DNS_ROUND_ROBIN), or the address the client
	// called (NONE).
	Address string            `json:"address"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// OriginalDestination reports whether the cluster sends to the address
// the client connected to (resolution NONE, Envoy's ORIGINAL_DST).
func (x *External) OriginalDestination() bool { return x.Resolution == "NONE" }

// PerAuthority reports whether Endpoints depends on the authority the
// client named: resolution NONE, or a wildcard host without endpoints
// resolved by DNS (the host the client named is the address). Otherwise
// the endpoints of a port and subset are the same for every request.
func (x *External) PerAuthority() bool {
	return x.OriginalDestination() || strings.HasPrefix(x.Host, "*") && len(x.unit.endpoints) == 0
}

// Endpoints are the addresses a request for authority (host[:port]) sent
// to port of the ServiceEntry, with the subset's labels, goes to (Istio's
// istio.io/api networking/v1alpha3/service_entry.proto, Resolution):
//
//   - STATIC: the endpoints whose labels carry the subset's, each on its
//     ports entry named as the ServiceEntry port (WorkloadEntry.ports "takes
//     precedence over targetPort"), else the port's targetPort, else the
//     port's number;
//   - DNS, DNS_ROUND_ROBIN: the same endpoints, their names resolved by
//     the data plane (embedded's dnsHosts for DNS, when connecting for
//     DNS_ROUND_ROBIN); without endpoints the host itself ("the proxy will
//     resolve the DNS address specified in the hosts field"; for a wildcard
//     host, the host the client named), which carries no labels;
//   - NONE: the address the client connected to, here authority's host on
//     port (subsets select nothing on an original-destination cluster).
//
// Unix domain socket endpoints are left out.
func (x *External) Endpoints(authority string, port uint32, labels map[string]string) []Endpoint {
	u := x.unit
	p := u.port(port)
	target := port
	if p != nil && p.target != 0 {
		target = p.target
	}
	if x.OriginalDestination() {
		return []Endpoint{{Address: OriginalAddress(authority, port)}}
	}
	if len(u.endpoints) == 0 {
		if len(labels) > 0 || u.resolution == "STATIC" {
			return nil
		}
		host := x.Host
		if strings.HasPrefix(host, "*") {
			host = hostOnly(authority)
		}
		return []Endpoint{{Address: net.JoinHostPort(host, strconv.Itoa(int(target)))}}
	}
	var out []Endpoint
	for _, ep := range u.endpoints {
		if strings.HasPrefix(ep.address, "unix://") || !LabelsMatch(ep.labels, labels) {
			continue
		}
		epPort := target
		if p != nil {
			if n, ok := ep.ports[p.name]; ok && n != 0 {
				epPort = n
			}
		}
		out = append(out, Endpoint{Address: net.JoinHostPort(ep.address, strconv.Itoa(int(epPort))), Labels: ep.labels})
	}
	return out
}

// OriginalAddress is the address a request for authority (host[:port])
// sent to port goes to on an original-destination cluster (a ServiceEntry
// with resolution NONE, the PassthroughCluster): authority's host on port.
func OriginalAddress(authority string, port uint32) string {
	return net.JoinHostPort(hostOnly(authority), strconv.Itoa(int(port)))
}

// FirstPort is the number of the ServiceEntry's first port (0: it has
// none): where a caller that names no port is taken to call it.
func (x *External) FirstPort() uint32 {
	if len(x.unit.ports) == 0 {
		return 0
	}
	return x.unit.ports[0].number
}

// port is the ServiceEntry's port numbered n, nil when it has none.
func (u *seUnit) port(n uint32) *sePort {
	for i := range u.ports {
		if u.ports[i].number == n {
			return &u.ports[i]
		}
	}
	return nil
}

// external is the ServiceEntry host a caller in callerNS sees for host,
// nil when none does: the first visible one in input order that has host
// among its hosts, or among its addresses with port among its ports (port
// 0: any). An address is a service's only on the ports of that service:
// istiod adds an entry's address to the domains of its virtual hosts in
// the route configuration of each of the entry's ports, so ServiceEntries
// that share an address (all of graylane nacos fix's, in graylane up) are
// told apart by port.
func (idx *seIndex) external(host, callerNS string, port uint32) *External {
	for _, u := range idx.all {
		if !u.vis.visibleTo(callerNS) {
			continue
		}
		for i, h := range u.hosts {
			if wildcardMatch(h, host) {
				return u.ext[i]
			}
		}
		if len(u.ext) == 0 || port != 0 && len(u.ports) > 0 && u.port(port) == nil {
			continue
		}
		for _, a := range u.addresses {
			if a == host {
				return u.ext[0]
			}
		}
	}
	return nil
}

// External is the ServiceEntry host that req's caller reaches by host (a
// FQDN, or an address of the entry), nil when it is a Service's or no
// ServiceEntry the caller sees defines it.
func (t *Table) External(req *Request, host string) *External {
	if t.services[host] != nil {
		return nil
	}
	return t.ses.external(host, req.namespace(), 0)
}

// seUpstream is Upstream for a ServiceEntry host: the destination's port,
// else the ServiceEntry's only port, else the request's; no cluster when
// the ServiceEntry has ports and none is that one (istiod builds a
// cluster per ServiceEntry port, outbound|PORT|SUBSET|HOST).
func seUpstream(x *External, d *Destination, reqPort uint32) (port uint32, problem string) {
	u := x.unit
	port = d.Port
	if port == 0 && len(u.ports) == 1 {
		port = u.ports[0].number
	}
	if port == 0 {
		port = reqPort
	}
	if len(u.ports) == 0 || u.port(port) != nil {
		return port, ""
	}
	nums := make([]uint32, 0, len(u.ports))
	for _, p := range u.ports {
		nums = append(nums, p.number)
	}
	return port, fmt.Sprintf("ServiceEntry %s has no port %d for host %s (it has %v): Envoy has no cluster outbound|%d|%s|%s and answers 503 (NC)",
		x.ServiceEntry, port, d.Host, nums, port, d.Subset, d.Host)
}

// outside decides a passthrough hop (no VirtualService for the host) whose
// host is not a Service: a ServiceEntry host the caller sees, on one of
// its ports, is sent to that ServiceEntry's cluster; any other host is an
// unknown destination, sent to the PassthroughCluster (AllowAny) or
// answered 502 by the BlackHoleCluster route (RegistryOnly).
func (t *Table) outside(req *Request, h *Hop) {
	x := t.ses.external(h.Host, req.namespace(), h.Port)
	if raw := hostOnly(req.Authority); x == nil && raw != h.Host {
		// A ServiceEntry's short host is kept as written, not resolved
		// in its namespace (istio/istio#13447, #36864): the name the
		// client used matches it.
		x = t.ses.external(raw, req.namespace(), h.Port)
	}
	if x != nil && (len(x.unit.ports) == 0 || x.unit.port(h.Port) != nil) {
		h.External = x
		return
	}
	if t.outbound == RegistryOnly {
		h.Outcome, h.Status = Blocked, http.StatusBadGateway
		return
	}
	h.Passthrough, h.Policy = true, &passthroughPolicy
}

// passthroughPolicy is the policy of the PassthroughCluster's route: the
// catch-all route "allow_any" istiod writes names the cluster with its
// timeout disabled and no retry policy (buildCatchAllVirtualHost), so a
// request to an unknown host that fails is not tried again.
var passthroughPolicy = Policy{}

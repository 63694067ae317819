package route

import (
	"fmt"
	"strings"
)

// seUnit is a loaded ServiceEntry: the hosts it adds to the registry and
// who sees them.
type seUnit struct {
	meta  *objMeta
	ns    string
	hosts []string // resolved
	vis   visibility
	ports []sePort
	// addresses are spec.addresses (IPs; CIDR ranges are not matched).
	addresses []string
	// resolution is spec.resolution (NONE, STATIC, DNS, DNS_ROUND_ROBIN).
	resolution string
	endpoints  []seEndpoint
	// ext is the External of each host, what a hop to it carries.
	ext []*External
}

// sePort is a port of a ServiceEntry: its number, protocol (upper case),
// name, targetPort and index in spec.ports.
type sePort struct {
	number   uint32
	protocol string
	index    int
	name     string
	target   uint32
}

// seEndpoint is one of spec.endpoints (a WorkloadEntry).
type seEndpoint struct {
	address string
	ports   map[string]uint32
	labels  map[string]string
}

// seIndex finds the ServiceEntries of a host.
type seIndex struct {
	all     []*seUnit
	special map[string]bool // namespaces that hold ServiceEntries or are named in an exportTo
}

func newSEIndex(in []ServiceEntry, fs *findings) *seIndex {
	idx := &seIndex{special: map[string]bool{}}
	for _, s := range in {
		if s.Object == nil {
			continue
		}
		o := s.Object
		u := &seUnit{meta: meta("ServiceEntry", &o.ObjectMeta, s.Locate), ns: namespaceOf(&o.ObjectMeta)}
		rejected := false
		reject := func(path, format string, args ...any) {
			fs.add(Error, u.meta, path, "rejected: "+format, args...)
			rejected = true
		}
		u.vis = parseExportTo(o.Spec.GetExportTo(), u.ns, exportServiceEntry, reject)
		for i, h := range o.Spec.GetHosts() {
			if h == "" {
				reject(fmt.Sprintf("spec.hosts[%d]", i), "empty host")
				continue
			}
			// As written: istiod does not resolve a ServiceEntry's short
			// host in its namespace (istio/istio#13447, #36864).
			u.hosts = append(u.hosts, strings.ToLower(h))
		}
		if rejected {
			continue
		}
		for i, pt := range o.Spec.GetPorts() {
			u.ports = append(u.ports, sePort{pt.GetNumber(), strings.ToUpper(pt.GetProtocol()), i, pt.GetName(), pt.GetTargetPort()})
		}
		u.addresses = o.Spec.GetAddresses()
		u.resolution = o.Spec.GetResolution().String()
		for _, ep := range o.Spec.GetEndpoints() {
			u.endpoints = append(u.endpoints, seEndpoint{address: ep.GetAddress(), ports: ep.GetPorts(), labels: ep.GetLabels()})
		}
		for _, h := range u.hosts {
			u.ext = append(u.ext, &External{ServiceEntry: u.ns + "/" + u.meta.name, Namespace: u.ns, Host: h, Resolution: u.resolution, unit: u})
		}
		idx.all = append(idx.all, u)
		idx.special[u.ns] = true
		for _, ns := range u.vis.ns {
			idx.special[ns] = true
		}
	}
	return idx
}

// of returns the ServiceEntries that define host, in input order.
func (idx *seIndex) of(host string) []*seUnit {
	var out []*seUnit
	for _, u := range idx.all {
		for _, h := range u.hosts {
			if wildcardMatch(h, host) {
				out = append(out, u)
				break
			}
		}
	}
	return out
}

// knowsHosts: the input holds Services or ServiceEntries, so a
// destination host that is neither can be told apart from one the user
// did not pass.
func (t *Table) knowsHosts() bool { return len(t.services) > 0 || len(t.ses.all) > 0 }

// serviceNamespace is the namespace of the service behind host as a
// caller in callerNS sees it: a Kubernetes Service's namespace from its
// FQDN, else that of the first ServiceEntry for host visible to the
// caller ("" when there is none). Istio looks up DestinationRules that
// the service's namespace exports there.
func (t *Table) serviceNamespace(host, callerNS string) (string, []*seUnit) {
	if _, ns, ok := ServiceOf(host); ok {
		return ns, nil
	}
	ses := t.ses.of(host)
	for _, u := range ses {
		if u.vis.visibleTo(callerNS) {
			return u.ns, nil
		}
	}
	return "", ses
}

func describeExportTo(v visibility) string {
	if v.public {
		return "*"
	}
	if len(v.ns) == 0 {
		return "~"
	}
	return strings.Join(v.ns, ", ")
}

package embedded

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/route"
)

// config is one immutable snapshot of what the proxies route with. A new
// one replaces the old atomically on every change; requests in flight
// finish with the snapshot they started with.
type config struct {
	table    *route.Table
	services map[string]*corev1.Service // by FQDN
	pods     []*pod
	// gateways lists, per local gateway listener address, the Gateway
	// objects ("ns/name") it serves.
	gateways map[string][]string
	// entry decides lane entry at gateways (nil: no lanes).
	entry *lane.Entry
	// byAddr finds a replica by its address (127.0.0.1:PORT), for calls
	// made to a pod's address instead of a Service (passthrough).
	byAddr  map[string]*pod
	mu      sync.RWMutex
	members map[memberKey]*memberList
	// dns resolves the names of ServiceEntries with resolution DNS (the
	// runtime's, shared by every snapshot).
	dns *dnsHosts
}

// podAt is the replica listening at hostport, nil when none does.
// "localhost:PORT" names the same replica as "127.0.0.1:PORT".
func (c *config) podAt(hostport string) *pod {
	if p := c.byAddr[hostport]; p != nil {
		return p
	}
	if port, ok := strings.CutPrefix(hostport, "localhost:"); ok {
		return c.byAddr["127.0.0.1:"+port]
	}
	return nil
}

// memberKey names a member list: a Service host's subset (port 0), or a
// ServiceEntry host's subset on one of its ports.
type memberKey struct {
	host, subset string
	port         uint32
	ext          *route.External // a ServiceEntry host's (host is then "")
}

type memberList struct {
	pods []*pod
	next atomic.Uint64
	// A list of DNS names (dnsMembers): the names, the dnsHosts change
	// count it was built at, and when (dnsHosts.now) its names are next
	// to be looked up, which resolves them again when due.
	names []string
	gen   uint64
	due   atomic.Int64
}

// endpoints returns the pods behind a Service host whose labels carry the
// subset labels, cached per snapshot.
func (c *config) endpoints(host, subset string, labels map[string]string) *memberList {
	key := memberKey{host: host, subset: subset}
	c.mu.RLock()
	m := c.members[key]
	c.mu.RUnlock()
	if m != nil {
		return m
	}
	m = &memberList{}
	if svc := c.services[host]; svc != nil && len(svc.Spec.Selector) > 0 {
		ns := svc.Namespace
		if ns == "" {
			ns = "default"
		}
		for _, p := range c.pods {
			if p.spec.namespace == ns && route.LabelsMatch(p.spec.labels, svc.Spec.Selector) && route.LabelsMatch(p.spec.labels, labels) {
				m.pods = append(m.pods, p)
			}
		}
	}
	return c.cacheMembers(key, m, nil)
}

// cacheMembers keeps m as the member list of key in this snapshot, unless
// another request did first (a list other than replace, the one m is
// built to replace): that one is returned.
func (c *config) cacheMembers(key memberKey, m, replace *memberList) *memberList {
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.members[key]; prev != nil && prev != replace {
		return prev
	}
	if c.members == nil {
		c.members = map[memberKey]*memberList{}
	}
	c.members[key] = m
	return m
}

// pick returns the next ready pod after skip (round-robin), or nil.
func (m *memberList) pick(skip *pod) *pod {
	n := len(m.pods)
	if n == 0 {
		return nil
	}
	start := int(m.next.Add(1) % uint64(n))
	for i := 0; i < n; i++ {
		p := m.pods[(start+i)%n]
		if p != skip && p.ready.Load() {
			return p
		}
	}
	return nil
}

func serviceKey(name, ns string) string {
	return strings.ToLower(name) + "." + ns + "." + route.ClusterDomain
}

// entryMembers are the members a hop (or a mirror) to ServiceEntry host
// x sends to: its endpoints for the port and subset
// (route.External.Endpoints), cached per snapshot; for resolution NONE,
// or a wildcard host resolved by DNS, the host the client called
// (authority), not cached. An endpoint that is a replica's address
// (127.0.0.1:PORT, as the ServiceEntries of graylane nacos fix list the
// instances Nacos knows) is that replica, as a real mesh reaches that
// pod and its sidecar reports the request too.
func (c *config) entryMembers(x *route.External, authority string, port uint32, subset string, labels map[string]string) *memberList {
	if x.PerAuthority() {
		return c.addressMembers(x.Endpoints(authority, port, labels))
	}
	key := memberKey{ext: x, subset: subset, port: port}
	if x.Resolution == "DNS" && c.dns != nil {
		return c.dnsMembers(key, x, authority, port, labels)
	}
	c.mu.RLock()
	m := c.members[key]
	c.mu.RUnlock()
	if m != nil {
		return m
	}
	return c.cacheMembers(key, c.addressMembers(x.Endpoints(authority, port, labels)), nil)
}

// dnsMembers are entryMembers for resolution DNS: each endpoint named by
// DNS is a member per address the name resolves to (dnsHosts), cached
// until one of the names resolves to other addresses.
func (c *config) dnsMembers(key memberKey, x *route.External, authority string, port uint32, labels map[string]string) *memberList {
	d := c.dns
	c.mu.RLock()
	m := c.members[key]
	c.mu.RUnlock()
	if m != nil && m.gen == d.changes.Load() {
		now, due := d.now(), m.due.Load()
		if now < due || !m.due.CompareAndSwap(due, now+int64(d.refresh)) {
			return m // not due, or another request looks the names up
		}
		for _, n := range m.names {
			d.lookup(n) // resolved again in the background
		}
		if m.gen == d.changes.Load() {
			return m
		}
	}
	gen := d.changes.Load() // before the lookups: a change meanwhile builds again
	var names []string
	var eps []route.Endpoint
	for _, e := range x.Endpoints(authority, port, labels) {
		host, p, err := net.SplitHostPort(e.Address)
		if err != nil || net.ParseIP(host) != nil {
			eps = append(eps, e)
			continue
		}
		names = append(names, host)
		addrs := d.lookup(host)
		if len(addrs) == 0 {
			eps = append(eps, e) // never resolved: dialled by name
			continue
		}
		for _, a := range addrs {
			eps = append(eps, route.Endpoint{Address: net.JoinHostPort(a, p), Labels: e.Labels})
		}
	}
	next := c.addressMembers(eps)
	next.names, next.gen = names, gen
	next.due.Store(d.now() + int64(d.refresh))
	return c.cacheMembers(key, next, m)
}

// passthroughMembers is the original destination of a request for a host
// nothing defines (route.Hop.Passthrough): the host and port the client
// named (port 80 when it named none), a replica when it is one's address.
// Not cached: clients name hosts at will.
func (c *config) passthroughMembers(authority string, port uint32) *memberList {
	return c.addressMembers([]route.Endpoint{{Address: route.OriginalAddress(authority, port)}})
}

// addressMembers makes members of addresses: the replica listening at an
// address, else an endpoint outside the runtime (pod.external).
func (c *config) addressMembers(eps []route.Endpoint) *memberList {
	m := &memberList{pods: make([]*pod, 0, len(eps))}
	for _, e := range eps {
		if p := c.podAt(e.Address); p != nil {
			m.pods = append(m.pods, p)
			continue
		}
		p := &pod{addr: e.Address, external: true}
		p.ready.Store(true)
		m.pods = append(m.pods, p)
	}
	return m
}

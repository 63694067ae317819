package embedded

import (
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

type memberKey struct{ host, subset string }

type memberList struct {
	pods []*pod
	next atomic.Uint64
}

// endpoints returns the pods behind a Service host whose labels carry the
// subset labels, cached per snapshot.
func (c *config) endpoints(host, subset string, labels map[string]string) *memberList {
	key := memberKey{host, subset}
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.members[key]; prev != nil {
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

package embedded

import (
	"context"
	"net"
	"slices"
	"sync"
	"time"
)

// dnsRefresh is how often a ServiceEntry's DNS name is resolved again:
// Istio's default meshConfig.dnsRefreshRate.
const dnsRefresh = 60 * time.Second

// dnsTimeout bounds one resolution.
const dnsTimeout = 5 * time.Second

// dnsHosts resolves the names of ServiceEntries with resolution DNS as
// the cluster istiod gives Envoy for them does (STRICT_DNS,
// pilot/pkg/networking/core/cluster_builder.go: DnsRefreshRate the
// mesh's, IPv4 only for IPv4 proxies): every IPv4 address a name resolves
// to is a host of its own, balanced over, and names are resolved again
// in the background, not when a connection is made. A name whose
// resolution fails keeps its last addresses; one that never resolved is
// dialled by name (the dial then says why it fails). Record TTLs are not
// read (Go's resolver does not give them): a name is resolved again every
// refresh.
type dnsHosts struct {
	resolver *net.Resolver
	refresh  time.Duration
	mu       sync.Mutex
	names    map[string]*dnsName
}

// dnsName is one name's last resolution.
type dnsName struct {
	addrs []string  // IPv4 addresses, sorted
	at    time.Time // when it was last resolved (or tried)
	busy  bool      // a resolution runs
	gen   uint64    // counts the changes of addrs
}

func newDNSHosts(resolver *net.Resolver, refresh time.Duration) *dnsHosts {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	if refresh <= 0 {
		refresh = dnsRefresh
	}
	return &dnsHosts{resolver: resolver, refresh: refresh, names: map[string]*dnsName{}}
}

// lookup returns name's addresses and their generation: as last
// resolved, resolving the name first when it never was, and again in the
// background when it was a refresh ago.
func (d *dnsHosts) lookup(name string) ([]string, uint64) {
	d.mu.Lock()
	n := d.names[name]
	if n == nil {
		n = &dnsName{busy: true}
		d.names[name] = n
		d.mu.Unlock()
		d.resolve(name, n)
		d.mu.Lock()
	} else if !n.busy && time.Since(n.at) >= d.refresh {
		n.busy = true
		go d.resolve(name, n)
	}
	addrs, gen := n.addrs, n.gen
	d.mu.Unlock()
	return addrs, gen
}

// gen is the sum of the generations of names, resolving them as lookup
// does.
func (d *dnsHosts) gen(names []string) uint64 {
	var g uint64
	for _, n := range names {
		_, ng := d.lookup(n)
		g += ng
	}
	return g
}

// resolve resolves name into n.
func (d *dnsHosts) resolve(name string, n *dnsName) {
	ctx, cancel := context.WithTimeout(context.Background(), dnsTimeout)
	ips, err := d.resolver.LookupIP(ctx, "ip4", name)
	cancel()
	var addrs []string
	for _, ip := range ips {
		addrs = append(addrs, ip.String())
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	d.mu.Lock()
	defer d.mu.Unlock()
	n.busy, n.at = false, time.Now()
	if err == nil && len(addrs) > 0 && !slices.Equal(addrs, n.addrs) {
		n.addrs = addrs
		n.gen++
	}
}

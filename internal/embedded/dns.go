package embedded

import (
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
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
	// changes counts the changes of any name's addresses: a member list
	// built at another count is built again.
	changes atomic.Uint64
	mu      sync.Mutex
	ctx     context.Context // ends the resolutions under way (Runtime.Run's)
	names   map[string]*dnsName
	epoch   time.Time // the origin of now, a monotonic clock
}

// dnsName is one name's last resolution.
type dnsName struct {
	addrs []string  // IPv4 addresses, sorted
	at    time.Time // when its last resolution started
	busy  bool      // a resolution runs
}

func newDNSHosts(resolver *net.Resolver, refresh time.Duration) *dnsHosts {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	if refresh <= 0 {
		refresh = dnsRefresh
	}
	return &dnsHosts{resolver: resolver, refresh: refresh, ctx: context.Background(), names: map[string]*dnsName{}, epoch: time.Now()}
}

// now is the time since d was made, on the monotonic clock (member
// lists' due times; a wall clock stepped back does not hold them up).
func (d *dnsHosts) now() int64 { return int64(time.Since(d.epoch)) }

// run has the resolutions end with ctx.
func (d *dnsHosts) run(ctx context.Context) {
	d.mu.Lock()
	d.ctx = ctx
	d.mu.Unlock()
}

// lookup returns name's addresses as last resolved, resolving the name
// first when it never was, and again in the background when it was a
// refresh ago.
func (d *dnsHosts) lookup(name string) []string {
	d.mu.Lock()
	n := d.names[name]
	if n == nil {
		n = &dnsName{busy: true, at: time.Now()}
		d.names[name] = n
		ctx := d.ctx
		d.mu.Unlock()
		d.resolve(ctx, name, n)
		d.mu.Lock()
	} else if !n.busy && time.Since(n.at) >= d.refresh {
		// Counted from the start, so that one comes every refresh.
		n.busy, n.at = true, time.Now()
		go d.resolve(d.ctx, name, n)
	}
	addrs := n.addrs
	d.mu.Unlock()
	return addrs
}

// resolve resolves name into n.
func (d *dnsHosts) resolve(ctx context.Context, name string, n *dnsName) {
	ctx, cancel := context.WithTimeout(ctx, dnsTimeout)
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
	n.busy = false
	if err == nil && len(addrs) > 0 && !slices.Equal(addrs, n.addrs) {
		n.addrs = addrs
		d.changes.Add(1)
	}
}

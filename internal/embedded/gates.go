package embedded

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graylane/graylane/internal/decide"
	"github.com/graylane/graylane/internal/gateclient"
)

// gateFollowers keep the whitelists of the gates that lanes name
// (spec.entry.whitelist.gate) in memory: one gateclient.Follower per gate
// URL refreshes its gate's snapshot in the background, and lane entry
// reads it with no I/O per request. A gate that goes down leaves its
// last-known whitelist in use.
type gateFollowers struct {
	mu       sync.Mutex // guards byURL and registered
	byURL    map[string]*followedGate
	cur      atomic.Pointer[map[string]*gateclient.Follower] // what requests read
	register sync.Once
}

type followedGate struct {
	f    *gateclient.Follower
	stop context.CancelFunc
}

// followGates starts following the gates at urls and stops following the
// others. Called with r.mu held, after Run has set r.ctx.
func (r *Runtime) followGates(urls []string) {
	g := &r.gates
	if r.ctx == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(urls) > 0 {
		g.register.Do(func() { r.metrics.registry.MustRegister(&gateCollector{g: g}) })
	}
	want := map[string]bool{}
	for _, u := range urls {
		want[u] = true
	}
	if g.byURL == nil {
		g.byURL = map[string]*followedGate{}
	}
	for u, fg := range g.byURL {
		if !want[u] {
			fg.stop()
			delete(g.byURL, u)
		}
	}
	for u := range want {
		if _, ok := g.byURL[u]; ok {
			continue
		}
		ctx, stop := context.WithCancel(r.ctx)
		f := gateclient.NewFollower(u, r.opts.GateToken, r.log, gateclient.FollowerOptions{})
		g.byURL[u] = &followedGate{f: f, stop: stop}
		go f.Run(ctx)
	}
	cur := make(map[string]*gateclient.Follower, len(g.byURL))
	for u, fg := range g.byURL {
		cur[u] = fg.f
	}
	g.cur.Store(&cur)
}

// gateWhitelist is the last-known whitelist of the gate at url (nil before
// its first snapshot: it admits nobody). No I/O.
func (r *Runtime) gateWhitelist(url string) *decide.Whitelist {
	if m := r.gates.cur.Load(); m != nil {
		if f := (*m)[url]; f != nil {
			return f.Whitelist()
		}
	}
	return nil
}

// gateStatuses reports every followed gate.
func (g *gateFollowers) statuses() []gateclient.FollowerStatus {
	m := g.cur.Load()
	if m == nil {
		return nil
	}
	out := make([]gateclient.FollowerStatus, 0, len(*m))
	for _, f := range *m {
		out = append(out, f.Status())
	}
	return out
}

// gateCollector exports the followers' state as metrics.
type gateCollector struct{ g *gateFollowers }

var (
	gateStaleDesc = prometheus.NewDesc("graylane_gate_whitelist_stale",
		"1 while a gate a lane names cannot be reached and lane entry uses its last-known whitelist (or, before the first snapshot, none).",
		[]string{"gate"}, nil)
	gateVersionDesc = prometheus.NewDesc("graylane_gate_whitelist_version",
		"Version (the gate's change counter) of the whitelist snapshot lane entry uses, -1 before the first.",
		[]string{"gate"}, nil)
	gateEntriesDesc = prometheus.NewDesc("graylane_gate_whitelist_entries",
		"Entries of the whitelist snapshot lane entry uses.",
		[]string{"gate"}, nil)
)

func (c *gateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- gateStaleDesc
	ch <- gateVersionDesc
	ch <- gateEntriesDesc
}

func (c *gateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.g.statuses() {
		stale, version := 0.0, -1.0
		if st.Stale || !st.Loaded {
			stale = 1
		}
		if st.Loaded {
			version = float64(st.Version)
		}
		ch <- prometheus.MustNewConstMetric(gateStaleDesc, prometheus.GaugeValue, stale, st.Gate)
		ch <- prometheus.MustNewConstMetric(gateVersionDesc, prometheus.GaugeValue, version, st.Gate)
		ch <- prometheus.MustNewConstMetric(gateEntriesDesc, prometheus.GaugeValue, float64(st.Entries), st.Gate)
	}
}

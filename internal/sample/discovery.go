package sample

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/springprops"
)

// discovery is the Nacos side of the sample in its Nacos discovery mode,
// what a Spring Cloud Alibaba app does with the Nacos 1.x Java client over
// the v1 HTTP API: it registers itself and beats, looks up the instances of
// its lb:// upstreams, and reads the configurations it imports, listening
// for changes (long polling). The official Go client (nacos-sdk-go/v2) is
// not used: it speaks gRPC with a process-wide logger and cache folders,
// while a sample host serves many apps in one process (and it added about
// 12 MB to the graylane binary before nacosclient linked it too).
type discovery struct {
	opts     *NacosOptions
	log      *slog.Logger
	hc       *http.Client // naming's and config's, closed by close
	naming   *nacosclient.Client
	config   *nacosclient.Client
	services []string // the services of the lb:// upstreams
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	// props and md5s are the imports' current properties and the md5 of
	// their content ("" when absent), by index of opts.Imports; props of a
	// document that did not parse are kept from its last good version, as
	// a failed refresh keeps the old values.
	mu    sync.Mutex
	props []map[string]string
	md5s  []string
	// overrides: service -> where the configuration points its clients.
	overrides atomic.Pointer[map[string]clientURL]
	// hosts: service -> its instances as last listed.
	hosts      sync.Map
	registered *nacosclient.Registration
}

// clientURL is where the configuration points a service's clients: the
// property's value, and it parsed (by overrideBase).
type clientURL struct {
	value string
	base  *url.URL
}

// Timing of the client, as the Nacos 1.x Java client's defaults.
const (
	nacosCallTimeout = 5 * time.Second
	// longPoll is ClientWorker's configLongPollTimeout (30 s).
	longPoll = 30 * time.Second
	// retryPause is ClientWorker's pause after a failed poll (taskPenaltyTime).
	retryPause = 2 * time.Second
	// hostsPoll is how often the instance lists are read again. The Java
	// client reads every cacheMillis (10 s) and gets UDP pushes between;
	// there are no pushes here, so it reads every second.
	hostsPoll = time.Second
)

// startDiscovery connects to Nacos, reads the imported configurations and
// the upstreams' instances, and starts listening and polling. It does not
// register yet: see register. A non-optional import that does not exist,
// or that cannot be read, fails the start, as Spring Boot fails when a
// config import is missing (NacosConfigDataLoader).
func startDiscovery(n *NacosOptions, services []string, log *slog.Logger) (*discovery, error) {
	d := &discovery{opts: n, log: log, services: services, props: make([]map[string]string, len(n.Imports)), md5s: make([]string, len(n.Imports))}
	d.overrides.Store(&map[string]clientURL{})
	d.ctx, d.cancel = context.WithCancel(context.Background())
	// No overall timeout (a long poll is held 30 s); calls bound their own.
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: nacosCallTimeout}).DialContext,
		MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second}}
	d.hc = hc
	ctx, cancel := context.WithTimeout(d.ctx, nacosCallTimeout)
	defer cancel()
	fail := func(err error) (*discovery, error) {
		d.cancel()
		hc.CloseIdleConnections()
		return nil, err
	}
	var err error
	if d.naming, err = nacosclient.New(ctx, nacosclient.Options{Server: n.Server, Namespace: n.Namespace, Group: n.Group,
		Username: n.Username, Password: n.Password, HTTPClient: hc, Protocol: nacosclient.ProtocolHTTP}); err != nil {
		return fail(fmt.Errorf("nacos %s: %w", n.Server, err))
	}
	if d.config, err = nacosclient.New(ctx, nacosclient.Options{Server: n.Server, Namespace: n.ConfigNamespace,
		Username: n.Username, Password: n.Password, HTTPClient: hc, Protocol: nacosclient.ProtocolHTTP}); err != nil {
		return fail(fmt.Errorf("nacos %s: %w", n.Server, err))
	}
	refreshing := false
	for i, ci := range n.Imports {
		if err := d.importConfig(ctx, i, ci); err != nil {
			return fail(err)
		}
		refreshing = refreshing || ci.Refresh
	}
	d.refresh()
	for _, s := range services {
		d.listHosts(ctx, s)
	}
	if refreshing {
		d.wg.Add(1)
		go d.listen()
	}
	if len(services) > 0 {
		d.wg.Add(1)
		go d.pollHosts()
	}
	return d, nil
}

// importConfig reads one import at start.
func (d *discovery) importConfig(ctx context.Context, i int, ci ConfigImport) error {
	c, err := d.config.GetConfig(ctx, ci.DataID, ci.Group)
	switch {
	case errors.Is(err, nacosclient.ErrNotFound) && !ci.Optional:
		return fmt.Errorf("config import %s: the configuration does not exist in Nacos (namespace %q); write optional:nacos:... to start without it",
			ci, d.opts.ConfigNamespace)
	case errors.Is(err, nacosclient.ErrNotFound):
	case err != nil && !ci.Optional:
		return fmt.Errorf("config import %s: %w", ci, err)
	case err != nil:
		d.log.Warn("nacos: optional config import not read", "import", ci.String(), "err", err)
	}
	d.setContent(i, ci, c.Content)
	return nil
}

// setContent parses an import's document; "" is no properties (the
// configuration does not exist, or was deleted).
func (d *discovery) setContent(i int, ci ConfigImport, content string) {
	props := map[string]string{}
	if content != "" {
		format := springprops.FormatOf(ci.DataID)
		if format == "" {
			format = springprops.Properties // Spring Cloud Alibaba's default file-extension
		}
		var err error
		if props, err = springprops.Parse([]byte(content), format); err != nil {
			d.log.Warn("nacos: config import does not parse; its previous values stay", "import", ci.String(), "err", err)
			props = nil
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.md5s[i] = ""
	if content != "" {
		d.md5s[i] = nacosclient.MD5(content)
	}
	if props != nil {
		d.props[i] = props
	}
}

// listen long-polls the imports that refresh and applies what changed, as
// @RefreshScope beans see a Nacos change, until the discovery closes.
func (d *discovery) listen() {
	defer d.wg.Done()
	for d.ctx.Err() == nil {
		var watched []nacosclient.Watched
		d.mu.Lock()
		for i, ci := range d.opts.Imports {
			if ci.Refresh {
				watched = append(watched, nacosclient.Watched{DataID: ci.DataID, Group: ci.Group, MD5: d.md5s[i]})
			}
		}
		d.mu.Unlock()
		changed, err := d.config.Listen(d.ctx, watched, longPoll)
		if err != nil {
			if d.ctx.Err() == nil {
				d.log.Warn("nacos: listening to config imports", "err", err)
				sleep(d.ctx, retryPause)
			}
			continue
		}
		for _, w := range changed {
			for i, ci := range d.opts.Imports {
				if ci.Refresh && ci.DataID == w.DataID && ci.Group == w.Group {
					d.reread(i, ci)
				}
			}
		}
		if len(changed) > 0 {
			d.refresh()
		}
	}
}

// reread reads a changed import again.
func (d *discovery) reread(i int, ci ConfigImport) {
	ctx, cancel := context.WithTimeout(d.ctx, nacosCallTimeout)
	defer cancel()
	c, err := d.config.GetConfig(ctx, ci.DataID, ci.Group)
	if err != nil && !errors.Is(err, nacosclient.ErrNotFound) {
		if d.ctx.Err() == nil {
			d.log.Warn("nacos: reading a changed config import", "import", ci.String(), "err", err)
			sleep(d.ctx, retryPause)
		}
		return
	}
	d.setContent(i, ci, c.Content)
}

// refresh recomputes where the configuration points each upstream service,
// from the imports merged in order (a later one wins, as in Spring Boot)
// under the environment, and logs what changed.
func (d *discovery) refresh() {
	d.mu.Lock()
	merged := map[string]string{}
	for _, p := range d.props {
		maps.Copy(merged, p)
	}
	d.mu.Unlock()
	next := map[string]clientURL{}
	for _, s := range d.services {
		if v, key := override(merged, d.opts.Env, s); v != "" {
			base, err := overrideBase(v)
			if err != nil {
				d.log.Warn("nacos: ignoring a client url", "service", s, "property", key, "value", v, "err", err)
				continue
			}
			next[s] = clientURL{value: v, base: base}
		}
	}
	prev := d.overrides.Swap(&next)
	for _, s := range d.services {
		if was, now := (*prev)[s].value, next[s].value; was != now {
			where := "instances from Nacos"
			if now != "" {
				where = now
			}
			d.log.Info("nacos: upstream client refreshed", "service", s, "calls", where)
		}
	}
}

// listHosts reads a service's instances into the cache; on failure the
// last list stays (the Java client's failover keeps serving its cache).
func (d *discovery) listHosts(ctx context.Context, service string) []nacosclient.Instance {
	ins, err := d.naming.Instances(ctx, service, "")
	if err != nil {
		if d.ctx.Err() == nil {
			d.log.Warn("nacos: listing instances", "service", service, "err", err)
		}
		if prev, ok := d.hosts.Load(service); ok {
			return prev.([]nacosclient.Instance)
		}
		return nil
	}
	d.hosts.Store(service, ins)
	return ins
}

// pollHosts reads the upstreams' instance lists every hostsPoll.
func (d *discovery) pollHosts() {
	defer d.wg.Done()
	t := time.NewTicker(hostsPoll)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		for _, s := range d.services {
			ctx, cancel := context.WithTimeout(d.ctx, nacosCallTimeout)
			d.listHosts(ctx, s)
			cancel()
		}
	}
}

// resolve is where a call to lb://service + u's path goes: the configured
// url when the configuration points the client there (sidecar false: the
// ordinary proxy rules apply), else a healthy enabled instance from Nacos,
// chosen at random by weight (the Nacos client's
// Balancer.getHostByRandomWeight, which Spring Cloud Alibaba's
// NacosLoadBalancer uses), called at its IP and port (sidecar true:
// through the sidecar, whatever NO_PROXY says).
func (d *discovery) resolve(service string, u *url.URL) (target *url.URL, sidecar bool, err error) {
	if o, ok := (*d.overrides.Load())[service]; ok {
		return overrideURL(o.base, u), false, nil
	}
	var hosts []nacosclient.Instance
	if v, ok := d.hosts.Load(service); ok {
		hosts = v.([]nacosclient.Instance)
	}
	in, ok := pickInstance(hosts)
	if !ok { // maybe registered since the last poll
		ctx, cancel := context.WithTimeout(d.ctx, nacosCallTimeout)
		in, ok = pickInstance(d.listHosts(ctx, service))
		cancel()
	}
	if !ok {
		return nil, false, fmt.Errorf("no healthy instance of %s in Nacos (group %s)", service, d.opts.Group)
	}
	t := *u
	t.Scheme, t.Host = "http", net.JoinHostPort(in.IP, strconv.Itoa(in.Port))
	return &t, true, nil
}

// pickInstance draws a healthy, enabled instance with a weight, at random
// in proportion to the weights.
func pickInstance(hosts []nacosclient.Instance) (nacosclient.Instance, bool) {
	total := 0.0
	for _, h := range hosts {
		if h.Healthy && h.Enabled && h.Weight > 0 {
			total += h.Weight
		}
	}
	if total == 0 {
		return nacosclient.Instance{}, false
	}
	x := rand.Float64() * total
	var last nacosclient.Instance
	for _, h := range hosts {
		if h.Healthy && h.Enabled && h.Weight > 0 {
			if last = h; x < h.Weight {
				return h, true
			}
			x -= h.Weight
		}
	}
	return last, true // rounding
}

// register registers the app, an ephemeral instance kept alive by beats
// every 5 s (the server's clientBeatInterval), registered again when the
// server lost it, as Spring Cloud Alibaba's NacosServiceRegistry does once
// the web server listens (with the 1.x client's BeatReactor).
func (d *discovery) register(port int, version string) error {
	r := nacosclient.Registration{Service: d.opts.Service, Group: d.opts.Group, Cluster: "DEFAULT", IP: d.opts.IP, Port: port,
		Weight: 1, Ephemeral: true, Metadata: map[string]string{"version": version, "preserved.register.source": "SPRING_CLOUD"}}
	ctx, cancel := context.WithTimeout(d.ctx, nacosCallTimeout)
	defer cancel()
	if err := d.naming.Register(ctx, r); err != nil {
		return fmt.Errorf("nacos %s: %w", d.opts.Server, err)
	}
	d.registered = &r
	d.wg.Add(1)
	go d.beat(r)
	return nil
}

func (d *discovery) beat(r nacosclient.Registration) {
	defer d.wg.Done()
	interval, failing := 5*time.Second, false
	for {
		sleep(d.ctx, interval)
		if d.ctx.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(d.ctx, nacosCallTimeout)
		next, err := d.naming.Beat(ctx, r)
		if errors.Is(err, nacosclient.ErrNotRegistered) {
			err = d.naming.Register(ctx, r)
		}
		cancel()
		switch {
		case err != nil && !failing && d.ctx.Err() == nil:
			d.log.Warn("nacos: beat", "service", r.Service, "err", err)
			failing = true
		case err == nil:
			failing = false
			if next > 0 {
				interval = next
			}
		}
	}
}

// close stops listening, polling and beating, and deregisters when asked
// (a graceful stop; a killed app does not, and the server drops its
// instance once its beats stop: unhealthy after 15 s, gone after 30 s).
func (d *discovery) close(deregister bool) {
	d.cancel()
	d.wg.Wait()
	if r := d.registered; r != nil && deregister {
		ctx, cancel := context.WithTimeout(context.Background(), nacosCallTimeout)
		defer cancel()
		if err := d.naming.Deregister(ctx, *r); err != nil {
			d.log.Warn("nacos: deregister", "service", r.Service, "err", err)
		}
	}
	// The clients were given hc, so their Close would not close it.
	d.hc.CloseIdleConnections()
}

// closeIf is close on a discovery that may be nil (no Nacos mode).
func (d *discovery) closeIf(deregister bool) {
	if d != nil {
		d.close(deregister)
	}
}

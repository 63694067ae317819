package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/dataplane"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosserver"
	"github.com/graylane/graylane/internal/promstore"
	"github.com/graylane/graylane/internal/release"
	"github.com/graylane/graylane/internal/route"
)

// Options configure a Runtime.
type Options struct {
	// Files are the manifests to run; they are watched for changes.
	Files []string
	// Images are IMAGE=COMMAND mappings on top of ImageFiles and
	// DefaultImages.
	Images []string
	// ImageFiles are YAML files of image mappings (see LoadImageFile);
	// a later file wins over an earlier one.
	ImageFiles []string
	// GatewayAddr is where Gateway servers on port 80 listen, e.g.
	// 127.0.0.1:8080 (port 0: any free port).
	GatewayAddr string
	// AdminAddr serves the admin API (internal/adminapi).
	AdminAddr string
	// ClientAddr is a sidecar for requests from outside the workloads (a
	// "client pod" in namespace default with no labels): use it as an
	// HTTP proxy to call services by name. Empty disables it.
	ClientAddr string
	// StateDir keeps process logs and the state of the releases
	// (state.go: a runtime started again with it resumes them); empty
	// means a temporary folder that is removed on exit, and no state kept.
	StateDir string
	// LogMaxBytes bounds each replica's log file (0: DefaultLogMaxBytes).
	LogMaxBytes int64
	// Serving, when set, is called once the listeners serve after the
	// first apply, whether or not every workload is ready yet.
	Serving func(adminapi.Addresses)
	// Console, when set, shows the workloads' start-up on a terminal;
	// otherwise it is logged.
	Console *Console
	// Executable runs the built-in sample ("EXE sample"); default: this binary.
	Executable string
	// WatchInterval is how often Files are checked for changes (0: 1s; <0: never).
	WatchInterval time.Duration
	// Prometheus, when set, is the Prometheus server that analysis metrics
	// without an address query, instead of the embedded one.
	Prometheus string
	// LaneKey verifies signed lane headers at gateways (see lane.Sign);
	// empty: lane headers from outside are always removed.
	LaneKey []byte
	// GateToken is sent to gates that lane whitelists name.
	GateToken string
	// Edge bounds the proxy listeners (dataplane.EdgeOptions). [edge: issue #15]
	Edge dataplane.EdgeOptions
	// NoEventLoop serves every proxy connection on a goroutine of its
	// own, without the data plane's event loop (dataplane.FastHandler).
	NoEventLoop bool
	// Nacos, when set, is where a Nacos-compatible registry and config
	// center (internal/nacosserver) serves its HTTP Open API, with gRPC
	// on the port + 1000 as Nacos does (port 0: free ports); empty: off.
	Nacos string
	// CanaryNacos is the Nacos that the canary configuration of fully
	// promoted Rollouts is published to (internal/canaryconfig; the
	// namespace a canaryConfig names replaces Namespace). Server empty:
	// the local registry of Nacos when it runs, else nowhere (a warning
	// says so).
	CanaryNacos nacosclient.Options
	// SampleProcesses is how the built-in sample's replicas run:
	// SamplesShared ("" too: all in one sample host process, on Linux) or
	// SamplesPerReplica (a process each).
	SampleProcesses string
	// Outbound is the mesh's outboundTrafficPolicy: what the sidecars do
	// with a host that is neither a Service nor a ServiceEntry host
	// (route.AllowAny, Istio's default: its original destination;
	// route.RegistryOnly: 502).
	Outbound route.OutboundPolicy
	// Resolver resolves the names of ServiceEntries with resolution DNS
	// (nil: net.DefaultResolver), again every DNSRefresh (0: Istio's
	// default dnsRefreshRate, 60 s); see dnsHosts.
	Resolver   *net.Resolver
	DNSRefresh time.Duration
}

// Runtime runs manifests locally.
type Runtime struct {
	opts      Options
	log       *slog.Logger
	images    *ImageMap
	exe       string
	stateDir  string
	tempState bool
	metrics   *metrics
	up        *dataplane.Proxy

	mu        sync.Mutex // guards store, workloads, gatewayLs
	store     *store
	workloads map[string]*workload // by "Deployment ns/name"
	// release runs the Rollouts and lane plans (releases.go);
	// rolloutPods are the Rollouts' pods, by "Rollout ns/name".
	release     *release.Controller
	rolloutPods map[string]*rolloutPods
	// compiled is the stored objects with the lanes compiled in: what
	// workloads and routing are built from.
	compiled  []*manifest.Object
	entry     *lane.Entry
	gates     gateFollowers        // whitelists of the gates lanes name
	gatewayLs map[uint32]*listener // by Gateway server port
	cfg       atomic.Pointer[config]

	admin, client *listener
	ctx           context.Context
	notesMu       sync.Mutex
	notes         map[string]bool
	wake          chan struct{}
	started       chan struct{} // closed once the admin listener is up
	rolloutWake   chan struct{}
	// events is closed and replaced at every change of a pod or of the
	// configuration (see nextChange).
	eventsMu sync.Mutex
	events   chan struct{}
	spawn    *spawner
	progress *progress
	// prom is the embedded Prometheus; the admin address serves its query
	// API, so analysis queries without an address go there.
	prom *promstore.Store
	// state keeps the releases' state in the state folder (state.go).
	state stateKeeper
	// samples serves the built-in sample's replicas in one process; nil:
	// a process per replica (see Options.SampleProcesses).
	samples *sampleHost
	// nacos is the local Nacos server (Options.Nacos); nil: off.
	nacos *nacosserver.Server
	// canary publishes the canary configuration of promoted Rollouts
	// (canaryconfig.go); guarded by mu.
	canary canaryConfigs
	// dns resolves the names of ServiceEntries with resolution DNS.
	dns *dnsHosts
}

// workload is a Deployment's running replicas.
type workload struct {
	hash string
	pods []*pod
}

// probeClient sends readiness probes; a probe's connection is not kept.
var probeClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

// New prepares a runtime. It checks the options and loads the manifests
// (an error here is the user's input: see cli.InputError).
func New(opts Options, log *slog.Logger) (*Runtime, error) {
	images, err := NewImageMap(opts.Images, opts.ImageFiles...)
	if err != nil {
		return nil, &cli.InputError{Err: err}
	}
	sharedSamples, err := sampleMode(opts.SampleProcesses)
	if err != nil {
		return nil, err
	}
	exe := opts.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the graylane executable: %w", err)
		}
	}
	r := &Runtime{opts: opts, log: log, images: images, exe: exe, metrics: newMetrics(), store: newStore(),
		workloads: map[string]*workload{}, rolloutPods: map[string]*rolloutPods{}, rolloutWake: make(chan struct{}, 1), gatewayLs: map[uint32]*listener{}, notes: map[string]bool{}, wake: make(chan struct{}, 1), started: make(chan struct{}), events: make(chan struct{})}
	// resourceVersions go on from the start time in microseconds: one
	// read before a restart is not given again to an object changed
	// after it (versions are raised far less often than every µs).
	r.store.lastVersion = uint64(time.Now().UnixMicro())
	r.release = newReleases(r)
	r.progress = &progress{r: r, log: log, console: opts.Console}
	if sharedSamples {
		r.samples = newSampleHost(r)
	}
	r.up = &dataplane.Proxy{}
	r.up.UseEventLoop(!opts.NoEventLoop)
	r.dns = newDNSHosts(opts.Resolver, opts.DNSRefresh)
	r.cfg.Store(&config{table: route.Compile(route.Input{Outbound: opts.Outbound}), services: map[string]*corev1.Service{}, gateways: map[string][]string{}, dns: r.dns})
	return r, nil
}

// Run starts everything, applies the files, and serves until ctx ends.
// Options.Serving is called once the listeners serve, ready once every
// workload is ready.
func (r *Runtime) Run(ctx context.Context, ready func(gateway, admin, client string)) error {
	r.ctx = ctx
	r.dns.run(ctx)
	if os.Getenv("GOGC") == "" {
		// The proxies allocate per request and keep little: collecting
		// less often costs a little memory and saves CPU on every hop.
		debug.SetGCPercent(400)
	}
	if err := r.prepareStateDir(); err != nil {
		return err
	}
	// Before the listeners: the admin API reads r.nacos. And before the
	// replicas, closed after them: an app deregisters itself from Nacos
	// when it stops.
	if r.opts.Nacos != "" {
		srv, err := nacosserver.Start(ctx, nacosserver.Options{Addr: r.opts.Nacos, Logger: r.log.With("component", "nacos")})
		if err != nil {
			return fmt.Errorf("nacos: %w", err)
		}
		defer func() { _ = srv.Close() }()
		r.nacos = srv
	}
	r.spawn = newSpawner()
	defer r.cleanup()
	prom, err := promstore.New(r.metrics.registry, promstore.Options{Logger: r.log})
	if err != nil {
		return fmt.Errorf("embedded prometheus: %w", err)
	}
	r.prom = prom
	promCtx, stopProm := context.WithCancel(ctx)
	promDone := make(chan struct{})
	go func() {
		defer close(promDone)
		if err := prom.Run(promCtx); err != nil {
			r.log.Warn("embedded prometheus", "err", err)
		}
	}()
	defer func() { stopProm(); <-promDone }()
	r.setupCanaryConfigs()
	if err := r.listen(); err != nil {
		return err
	}
	close(r.started)
	set, err := manifest.Load(r.opts.Files...)
	if err != nil {
		return &cli.InputError{Err: err}
	}
	if err := r.applyStart(set); err != nil {
		return err
	}
	go r.watch(ctx)
	go r.rolloutLoop(ctx)
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		r.progress.run(ctx)
	}()
	defer func() { <-progressDone }()
	if r.opts.Serving != nil {
		r.opts.Serving(r.Addresses())
	}
	r.waitReady(ctx, ready)
	<-ctx.Done()
	return nil
}

func (r *Runtime) addresses() adminapi.Addresses {
	a := adminapi.Addresses{Admin: r.admin.addr}
	if l := r.gatewayListener(80); l != nil {
		a.Gateway = l.addr
	}
	if r.client != nil {
		a.Client = r.client.addr
	}
	if r.nacos != nil {
		a.Nacos, a.NacosGRPC = r.nacos.HTTPAddr(), r.nacos.GRPCAddr()
	}
	return a
}

func (r *Runtime) prepareStateDir() error {
	r.stateDir = r.opts.StateDir
	if r.stateDir == "" {
		dir, err := MakeTempDir("graylane-up-")
		if err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		r.stateDir, r.tempState = dir, true
	} else {
		r.state.path = filepath.Join(r.stateDir, stateFileName)
	}
	if err := os.MkdirAll(filepath.Join(r.stateDir, "logs"), 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return nil
}

// cleanup stops every process and listener, and waits for them.
func (r *Runtime) cleanup() {
	r.mu.Lock()
	r.canary.stopping = true
	r.mu.Unlock()
	r.canary.publishing.Wait()
	r.mu.Lock()
	var pods []*pod
	for _, w := range r.workloads {
		pods = append(pods, w.pods...)
	}
	pods = append(pods, r.rolloutPodList()...)
	ls := []*listener{r.admin, r.client}
	for _, l := range r.gatewayLs {
		ls = append(ls, l)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.stopPod(p)
		}()
	}
	wg.Wait()
	if r.samples != nil {
		r.samples.close()
	}
	r.spawn.stop()
	for _, l := range ls {
		if l != nil {
			l.close()
		}
	}
	r.up.CloseIdle()
	if r.tempState {
		_ = os.RemoveAll(r.stateDir)
	}
}

// listen opens the admin and client listeners (the gateway listeners open
// when Gateways are applied).
func (r *Runtime) listen() error {
	var err error
	if r.admin, err = serve(r.opts.AdminAddr, r.adminHandler()); err != nil {
		return fmt.Errorf("admin address: %w", err)
	}
	if r.opts.ClientAddr != "" {
		c := &caller{source: route.Source{Namespace: "default"}, workload: "graylane-client", app: "graylane-client", version: "unknown"}
		if r.client, err = r.serveCaller(r.opts.ClientAddr, c); err != nil {
			return fmt.Errorf("client proxy address: %w", err)
		}
	}
	return nil
}

// serve starts an HTTP server on addr.
func serve(addr string, h http.Handler) (*listener, error) {
	ln, err := listen(addr)
	if err != nil {
		return nil, err
	}
	l := &listener{addr: ln.Addr().String(), ln: ln, server: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = l.server.Serve(ln) }()
	return l, nil
}

func (l *listener) close() {
	if l.fast != nil {
		l.fast.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.server.Shutdown(ctx)
}

// Started is closed once the admin listener is up (Addr is valid).
func (r *Runtime) Started() <-chan struct{} { return r.started }

// Addr is the admin listener's address; valid once Started is closed.
func (r *Runtime) Addr() string { return r.admin.addr }

// changed wakes the readiness watcher and whoever waits on nextChange.
func (r *Runtime) changed() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
	r.eventsMu.Lock()
	close(r.events)
	r.events = make(chan struct{})
	r.eventsMu.Unlock()
}

// nextChange is closed at the next change of a pod or the configuration.
func (r *Runtime) nextChange() <-chan struct{} {
	r.eventsMu.Lock()
	defer r.eventsMu.Unlock()
	return r.events
}

// NotReady lists the pods that are not ready, "" when all are.
func (r *Runtime) NotReady() []string {
	var out []string
	for _, p := range r.cfg.Load().pods {
		if !p.ready.Load() {
			state, err := p.status()
			msg := p.spec.name + " (" + p.spec.workload + "): " + state
			if err != "" {
				msg += ": " + err
			}
			out = append(out, msg)
		}
	}
	sort.Strings(out)
	return out
}

func (r *Runtime) waitReady(ctx context.Context, ready func(gateway, admin, client string)) {
	for {
		next := r.nextChange()
		if len(r.NotReady()) == 0 {
			if ready != nil {
				a := r.addresses()
				ready(a.Gateway, a.Admin, a.Client)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-next:
		}
	}
}

func (r *Runtime) gatewayListener(port uint32) *listener {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gatewayLs[port]
}

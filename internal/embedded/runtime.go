package embedded

import (
	"context"
	"errors"
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
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/inspect"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/promstore"
	"github.com/graylane/graylane/internal/route"
)

// Options configure a Runtime.
type Options struct {
	// Files are the manifests to run; they are watched for changes.
	Files []string
	// Images are IMAGE=COMMAND mappings on top of DefaultImages.
	Images []string
	// GatewayAddr is where Gateway servers on port 80 listen, e.g.
	// 127.0.0.1:8080 (port 0: any free port).
	GatewayAddr string
	// AdminAddr serves /readyz, /metrics, /apply and the inspect API.
	AdminAddr string
	// ClientAddr is a sidecar for requests from outside the workloads (a
	// "client pod" in namespace default with no labels): use it as an
	// HTTP proxy to call services by name. Empty disables it.
	ClientAddr string
	// StateDir keeps process logs; empty means a temporary folder that is
	// removed on exit.
	StateDir string
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
	// Edge bounds the proxy listeners (edge.go). [edge: issue #15]
	Edge EdgeOptions
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
	up        *upstreams

	mu        sync.Mutex // guards store, workloads, gatewayLs
	store     *store
	workloads map[string]*workload // by "Deployment ns/name"
	rollouts  map[string]*rollout  // by "Rollout ns/name"
	lanes     map[string]*laneRun  // by "ns/name"
	// compiled is the stored objects with the lanes compiled in: what
	// workloads and routing are built from.
	compiled  []*manifest.Object
	entry     *lane.Entry
	gatewayLs map[uint32]*listener // by Gateway server port
	cfg       atomic.Pointer[config]

	admin, client *listener
	ctx           context.Context
	notesMu       sync.Mutex
	notes         map[string]bool
	wake          chan struct{}
	started       chan struct{} // closed once the admin listener is up
	rolloutWake   chan struct{}
	// prom is the embedded Prometheus; the admin address serves its query
	// API, so analysis queries without an address go there.
	prom *promstore.Store
}

// workload is a Deployment's running replicas.
type workload struct {
	hash string
	pods []*pod
}

var probeClient = &http.Client{Timeout: time.Second}

// New prepares a runtime. It checks the options and loads the manifests
// (an error here is the user's input: see inspect.InputError).
func New(opts Options, log *slog.Logger) (*Runtime, error) {
	images, err := NewImageMap(opts.Images)
	if err != nil {
		return nil, &inspect.InputError{Err: err}
	}
	exe := opts.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the graylane executable: %w", err)
		}
	}
	r := &Runtime{opts: opts, log: log, images: images, exe: exe, metrics: newMetrics(), store: newStore(),
		workloads: map[string]*workload{}, rollouts: map[string]*rollout{}, lanes: map[string]*laneRun{}, rolloutWake: make(chan struct{}, 1), gatewayLs: map[uint32]*listener{}, notes: map[string]bool{}, wake: make(chan struct{}, 1), started: make(chan struct{})}
	r.up = newUpstreams()
	r.cfg.Store(&config{table: route.Compile(route.Input{}), services: map[string]*corev1.Service{}, gateways: map[string][]string{}})
	return r, nil
}

// Run starts everything, applies the files, and serves until ctx ends.
// ready is called once every workload is ready.
func (r *Runtime) Run(ctx context.Context, ready func(gateway, admin, client string)) error {
	r.ctx = ctx
	if os.Getenv("GOGC") == "" {
		// The proxies allocate per request and keep little: collecting
		// less often costs a little memory and saves CPU on every hop.
		debug.SetGCPercent(400)
	}
	if err := r.prepareStateDir(); err != nil {
		return err
	}
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
	if err := r.listen(); err != nil {
		return err
	}
	close(r.started)
	set, err := manifest.Load(r.opts.Files...)
	if err != nil {
		return &inspect.InputError{Err: err}
	}
	if _, err := r.Apply(set); err != nil {
		return err
	}
	go r.watch(ctx)
	go r.rolloutLoop(ctx)
	r.waitReady(ctx, ready)
	<-ctx.Done()
	return nil
}

func (r *Runtime) prepareStateDir() error {
	r.stateDir = r.opts.StateDir
	if r.stateDir == "" {
		dir, err := os.MkdirTemp("", "graylane-up-")
		if err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		r.stateDir, r.tempState = dir, true
	}
	if err := os.MkdirAll(filepath.Join(r.stateDir, "logs"), 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return nil
}

// cleanup stops every process and listener, and waits for them.
func (r *Runtime) cleanup() {
	r.mu.Lock()
	var pods []*pod
	for _, w := range r.workloads {
		pods = append(pods, w.pods...)
	}
	for _, ro := range r.rollouts {
		for _, g := range ro.groups {
			pods = append(pods, g.pods...)
		}
	}
	ls := []*listener{r.admin, r.client}
	for _, l := range r.gatewayLs {
		ls = append(ls, l)
	}
	r.mu.Unlock()
	for _, p := range pods {
		r.stopPod(p)
	}
	for _, l := range ls {
		if l != nil {
			l.close()
		}
	}
	r.up.closeAll()
	if r.tempState {
		_ = os.RemoveAll(r.stateDir)
	}
}

func (r *Runtime) stopPod(p *pod) {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
	if p.sidecar != nil {
		p.sidecar.close()
	}
	r.metrics.forgetPod(p) // [edge: issue #15 item 5] the series of a gone workload go
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

// listen opens a TCP listener. Accepted connections get no TCP
// keep-alive probes (Envoy's default for downstream connections too): the
// idle timeout closes a silent connection, and the four socket options
// keep-alive needs would cost four system calls on every new connection.
func listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{Enable: false}, KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s is already in use (is another graylane up running? pick another port)", addr)
		}
		return nil, err
	}
	return ln, nil
}

func (l *listener) close() {
	if l.fast != nil {
		l.fast.close()
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

// changed wakes the readiness watcher.
func (r *Runtime) changed() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
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
		if len(r.NotReady()) == 0 {
			gw, client := "", ""
			if l := r.gatewayListener(80); l != nil {
				gw = l.addr
			}
			if r.client != nil {
				client = r.client.addr
			}
			if ready != nil {
				ready(gw, r.admin.addr, client)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-time.After(time.Second):
		}
	}
}

func (r *Runtime) gatewayListener(port uint32) *listener {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gatewayLs[port]
}

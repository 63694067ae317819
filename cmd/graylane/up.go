package main

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/graylane/graylane/examples"
	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/dataplane"
	"github.com/graylane/graylane/internal/embedded"
	"github.com/graylane/graylane/internal/nacosserver"
	"github.com/graylane/graylane/internal/route"
)

type upOptions struct {
	files       []string
	images      []string
	imageFiles  []string
	gatewayPort int
	admin       string
	client      string
	stateDir    string
	prometheus  string
	laneKeyFile string
	output      string
	edge        upEdgeFlags
	eventLoop   bool
	// sampleProcesses: how built-in sample replicas run (embedded.Samples*).
	sampleProcesses string
	nacos           string
	canaryNacos     canaryNacosFlags
	// outbound is --outbound-traffic-policy, parsed into outboundPolicy
	// by validate.
	outbound       string
	outboundPolicy route.OutboundPolicy
}

// upEdgeFlags are the limits and timeouts of the proxy listeners
// (dataplane.EdgeOptions), in the units of the flags.
type upEdgeFlags struct {
	maxHeadersKB, maxHeadersCount, maxLineKB, maxFieldKB int
	maxBodyMB                                            int64
	headersTimeout, streamIdle, idle                     time.Duration
	maxConns                                             int
}

func (f upEdgeFlags) options() dataplane.EdgeOptions {
	return dataplane.EdgeOptions{
		MaxRequestHeadersBytes: f.maxHeadersKB << 10, MaxHeadersCount: f.maxHeadersCount,
		MaxRequestLineBytes: f.maxLineKB << 10, MaxHeaderFieldBytes: f.maxFieldKB << 10,
		MaxRequestBodyBytes: f.maxBodyMB << 20, RequestHeadersTimeout: f.headersTimeout,
		StreamIdleTimeout: f.streamIdle, IdleTimeout: f.idle, MaxConnections: f.maxConns,
	}
}

func newUpCmd(stdout, stderr io.Writer) *cobra.Command {
	var o upOptions
	c := &cobra.Command{
		Use:   "up [-f PATH]... [flags]",
		Short: "Run Kubernetes + Istio manifests on this machine, with real traffic",
		Long: `Runs Services, Deployments, Gateways, VirtualServices and DestinationRules
locally: every Deployment replica is a process with its own sidecar (an HTTP
proxy that applies the mesh routing with the replica's pod labels), every
Gateway server is a local listener. Without -f it runs the bundled shop
example (gateway -> order -> payment -> logistics, each with v1 and v2).

Sidecars send a ServiceEntry host's requests to the entry's endpoints
(resolution STATIC, DNS or NONE), and a host nothing defines to the host
and port the client named (Istio's default ALLOW_ANY; with
--outbound-traffic-policy registry-only they answer 502 instead).

Documents of kinds it does not run are logged with their file:line; Rollout
features it does not run (blueGreen, workloadRef, experiment and setMirrorRoute
steps, other traffic routers, ...) are refused at their field (exit 2): they run
on a cluster, and graylane lint lists them.

Images map to commands with --image IMAGE=COMMAND or a file of mappings
(--images FILE); builtin:sample is the built-in sample app, and images named
go-http-sample or graylane/sample run it by default. Prints the gateway and
admin addresses as soon as they serve, and which workloads are not ready yet;
the start-up progress goes to standard error (redrawn in place on a terminal),
each replica's output to its log (graylane logs WORKLOAD --local). Stops
everything on Ctrl-C.

Environment: GRAYLANE_GATE_TOKEN is the bearer token sent to the gate that a
Lane's entry.whitelist.gate names (the gate's admin token; not needed when the
gate runs with --open-read).`,
		Example: `  graylane up
  graylane up -f examples/seed004/ --gateway-port 8080
  graylane up -f k8s/ --image registry.example.com/shop/order=./bin/order
  graylane up -f k8s/ --images images.yaml --state-dir .graylane`,
		Args:    cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error { return o.validate() },
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUp(cmd, o, stdout, stderr)
		},
	}
	f := c.Flags()
	f.StringArrayVarP(&o.files, "filename", "f", nil, "manifest file or folder (repeatable; watched for changes)")
	f.StringArrayVar(&o.images, "image", nil, "IMAGE=COMMAND: how to run a container image (repeatable; COMMAND may be builtin:sample; wins over --images)")
	f.StringArrayVar(&o.imageFiles, "images", nil, "YAML file of image mappings (images: {IMAGE: COMMAND}; repeatable, a later file wins)")
	f.IntVar(&o.gatewayPort, "gateway-port", 8080, "local port for Gateway servers on port 80 (0: any free port)")
	f.StringVar(&o.admin, "admin", "127.0.0.1:15000", "admin address: /readyz, /metrics, /apply, /v1/workloads, /v1/services")
	f.StringVar(&o.client, "client-proxy", "127.0.0.1:15001", "a mesh client sidecar: use it as HTTP proxy to call services by name (empty: off)")
	f.StringVar(&o.stateDir, "state-dir", "", "folder for the replicas' logs, logs/NAMESPACE/POD.log (default: a temporary folder removed on exit)")
	f.StringVar(&o.prometheus, "prometheus", "", "Prometheus URL for analysis metrics without an address (default: the embedded one on --admin)")
	f.StringVar(&o.laneKeyFile, "lane-key-file", "", "key that signed lane headers from outside are verified with (see graylane lane sign); without it every lane header from outside is removed")
	f.IntVar(&o.edge.maxHeadersKB, "max-request-headers-kb", dataplane.DefaultMaxRequestHeadersBytes>>10, "gateway and sidecars: largest request head in KiB (request line and header fields; over it: 431)")
	f.IntVar(&o.edge.maxHeadersCount, "max-headers-count", dataplane.DefaultMaxHeadersCount, "gateway and sidecars: most header fields in a request (over it: 431)")
	f.IntVar(&o.edge.maxLineKB, "max-request-line-kb", dataplane.DefaultMaxRequestLineBytes>>10, "gateway and sidecars: longest request line in KiB (over it: 414)")
	f.IntVar(&o.edge.maxFieldKB, "max-header-field-kb", dataplane.DefaultMaxHeaderFieldBytes>>10, "gateway and sidecars: longest header field line in KiB (over it: 431)")
	f.Int64Var(&o.edge.maxBodyMB, "max-request-body-mb", dataplane.DefaultMaxRequestBodyBytes>>20, "gateway and sidecars: largest request body in MiB (over it: 413; -1: no limit)")
	f.DurationVar(&o.edge.headersTimeout, "request-headers-timeout", dataplane.DefaultRequestHeadersTimeout, "gateway and sidecars: time for a request head to arrive once started (then: 408; negative: none)")
	f.DurationVar(&o.edge.streamIdle, "stream-idle-timeout", dataplane.DefaultStreamIdleTimeout, "gateway and sidecars: time a request may go without bytes moving (body: 408, upstream answer: 504; negative: none)")
	f.DurationVar(&o.edge.idle, "idle-timeout", dataplane.DefaultIdleTimeout, "gateway and sidecars: a kept-alive connection with no request is closed after this (negative: never)")
	f.IntVar(&o.edge.maxConns, "max-connections", dataplane.DefaultMaxConnections, "gateway and sidecars: most connections a listener serves at once (more are closed; -1: no limit)")
	f.BoolVar(&o.eventLoop, "event-loop", true, "gateway and sidecars: forward plain GETs on the data plane's event loop (Linux, 2 CPUs or more); false: a goroutine per connection (see docs/up.md)")
	f.StringVar(&o.sampleProcesses, "sample-processes", embedded.SamplesShared, "how built-in sample replicas run: shared (one sample host process serves them all, on Linux) or per-replica (a graylane sample process each)")
	f.StringVar(&o.outbound, "outbound-traffic-policy", route.AllowAnyName, "what sidecars do with a host that is neither a Service nor a ServiceEntry host, as Istio's meshConfig.outboundTrafficPolicy: allow-any (send it to the host and port the client named, counted as PassthroughCluster) or registry-only (answer 502, counted as BlackHoleCluster)")
	f.StringVar(&o.nacos, "nacos", "", "serve a local Nacos registry and config center at this address, gRPC on the port + 1000 (--nacos alone: "+nacosserver.DefaultAddr+"; see docs/nacos.md)")
	f.Lookup("nacos").NoOptDefVal = nacosserver.DefaultAddr
	o.canaryNacos.add(f, "the local registry of --nacos; without either nothing is published")
	addOutputFlag(c, &o.output)
	return c
}

func runUp(cmd *cobra.Command, o upOptions, stdout, stderr io.Writer) error {
	// On a terminal the start-up progress is redrawn in place; the log and
	// the address lines are written above it.
	var console *embedded.Console
	if f, ok := stderr.(*os.File); ok {
		console = embedded.NewConsole(f)
	}
	logOut, out := stderr, stdout
	if console != nil {
		logOut = console
		if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			out = console.Above(stdout)
		}
	}
	log := slog.New(slog.NewTextHandler(logOut, nil))
	files := o.files
	if len(files) == 0 {
		dir, remove, err := bundledShop()
		if err != nil {
			return err
		}
		defer remove()
		files = []string{dir}
	}
	var laneKey []byte
	if o.laneKeyFile != "" {
		key, err := readLaneKey(o.laneKeyFile)
		if err != nil {
			return err
		}
		laneKey = key
	}
	readyShown := false
	rt, err := embedded.New(embedded.Options{
		Files: files, Images: o.images, ImageFiles: o.imageFiles, GatewayAddr: "127.0.0.1:" + strconv.Itoa(o.gatewayPort),
		AdminAddr: o.admin, ClientAddr: o.client, StateDir: o.stateDir, Prometheus: o.prometheus,
		LaneKey: laneKey, GateToken: os.Getenv("GRAYLANE_GATE_TOKEN"), Console: console, Edge: o.edge.options(), NoEventLoop: !o.eventLoop,
		SampleProcesses: o.sampleProcesses, Nacos: o.nacos, CanaryNacos: o.canaryNacos.options(), Outbound: o.outboundPolicy,
		Serving: func(a adminapi.Addresses) {
			readyShown = len(a.NotReady) == 0
			printAddresses(out, o.output, a, false)
		},
	}, log)
	if err != nil {
		return err
	}
	return rt.Run(cmd.Context(), func(gateway, admin, client string) {
		// Machine-readable output says once more when everything is ready.
		if !readyShown && (o.output == "json" || o.output == "yaml") {
			printAddresses(out, o.output, adminapi.Addresses{Gateway: gateway, Admin: admin, Client: client}, true)
		}
	})
}

// printAddresses prints where graylane up serves: text lines, or one JSON
// object (a YAML document) with ready and the workloads not ready yet.
func printAddresses(w io.Writer, format string, a adminapi.Addresses, again bool) {
	if format == "json" || format == "yaml" {
		info := map[string]any{"admin": "http://" + a.Admin, "ready": len(a.NotReady) == 0}
		if a.Gateway != "" {
			info["gateway"] = "http://" + a.Gateway
		}
		if a.Client != "" {
			info["clientProxy"] = "http://" + a.Client
		}
		if a.Nacos != "" {
			info["nacos"], info["nacosGrpc"] = "http://"+a.Nacos, a.NacosGRPC
		}
		if len(a.NotReady) > 0 {
			info["notReady"] = a.NotReady
		}
		if again && format == "yaml" {
			fmt.Fprintln(w, "---")
		}
		_ = writeAny(w, format, info)
		return
	}
	var b strings.Builder
	if a.Gateway != "" {
		fmt.Fprintf(&b, "gateway: http://%s\n", a.Gateway)
	}
	fmt.Fprintf(&b, "admin: http://%s\n", a.Admin)
	if a.Client != "" {
		fmt.Fprintf(&b, "client proxy: http://%s (HTTP proxy for calls by service name)\n", a.Client)
	}
	if a.Nacos != "" {
		fmt.Fprintf(&b, "nacos: http://%s (gRPC %s)\n", a.Nacos, a.NacosGRPC)
	}
	if len(a.NotReady) > 0 {
		fmt.Fprintf(&b, "not ready yet: %s\n", strings.Join(a.NotReady, ", "))
	}
	_, _ = io.WriteString(w, b.String())
}

// bundledShop is examples/shop when running from the repository, else
// the embedded copy written to a temporary folder, which remove deletes.
func bundledShop() (dir string, remove func(), err error) {
	if st, err := os.Stat(filepath.Join("examples", "shop")); err == nil && st.IsDir() {
		return filepath.Join("examples", "shop"), func() {}, nil
	}
	dir, err = embedded.MakeTempDir("graylane-shop-")
	if err != nil {
		return "", nil, err
	}
	remove = func() { _ = os.RemoveAll(dir) }
	err = fs.WalkDir(examples.Shop, "shop", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := examples.Shop.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644)
	})
	if err != nil {
		remove()
		return "", nil, err
	}
	return dir, remove, nil
}

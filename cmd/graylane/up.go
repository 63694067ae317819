package main

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/examples"
	"github.com/graylane/graylane/internal/embedded"
)

type upOptions struct {
	files       []string
	images      []string
	gatewayPort int
	admin       string
	client      string
	stateDir    string
	prometheus  string
	laneKeyFile string
	output      string
	edge        upEdgeFlags
}

// upEdgeFlags are the limits and timeouts of the proxy listeners
// (embedded.EdgeOptions), in the units of the flags.
type upEdgeFlags struct {
	maxHeadersKB, maxHeadersCount, maxLineKB, maxFieldKB int
	maxBodyMB                                            int64
	headersTimeout, streamIdle, idle                     time.Duration
	maxConns                                             int
}

func (f upEdgeFlags) options() embedded.EdgeOptions {
	return embedded.EdgeOptions{
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

Images map to commands with --image IMAGE=COMMAND; builtin:sample is the
built-in sample app, and images named go-http-sample or graylane/sample run it
by default. Prints the gateway and admin addresses once every workload is
ready; stops everything on Ctrl-C.`,
		Example: `  graylane up
  graylane up -f examples/seed004/ --gateway-port 8080
  graylane up -f k8s/ --image registry.example.com/shop/order=./bin/order`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUp(cmd, o, stdout, stderr)
		},
	}
	f := c.Flags()
	f.StringArrayVarP(&o.files, "filename", "f", nil, "manifest file or folder (repeatable; watched for changes)")
	f.StringArrayVar(&o.images, "image", nil, "IMAGE=COMMAND: how to run a container image (repeatable; COMMAND may be builtin:sample)")
	f.IntVar(&o.gatewayPort, "gateway-port", 8080, "local port for Gateway servers on port 80 (0: any free port)")
	f.StringVar(&o.admin, "admin", "127.0.0.1:15000", "admin address: /readyz, /metrics, /apply, /v1/workloads, /v1/services")
	f.StringVar(&o.client, "client-proxy", "127.0.0.1:15001", "a mesh client sidecar: use it as HTTP proxy to call services by name (empty: off)")
	f.StringVar(&o.stateDir, "state-dir", "", "folder for process logs (default: a temporary folder removed on exit)")
	f.StringVar(&o.prometheus, "prometheus", "", "Prometheus URL for analysis metrics without an address (default: the embedded one on --admin)")
	f.StringVar(&o.laneKeyFile, "lane-key-file", "", "key that signed lane headers from outside are verified with (see `graylane lane sign`); without it every lane header from outside is removed")
	f.IntVar(&o.edge.maxHeadersKB, "max-request-headers-kb", embedded.DefaultMaxRequestHeadersBytes>>10, "gateway and sidecars: largest request head in KiB (request line and header fields; over it: 431)")
	f.IntVar(&o.edge.maxHeadersCount, "max-headers-count", embedded.DefaultMaxHeadersCount, "gateway and sidecars: most header fields in a request (over it: 431)")
	f.IntVar(&o.edge.maxLineKB, "max-request-line-kb", embedded.DefaultMaxRequestLineBytes>>10, "gateway and sidecars: longest request line in KiB (over it: 414)")
	f.IntVar(&o.edge.maxFieldKB, "max-header-field-kb", embedded.DefaultMaxHeaderFieldBytes>>10, "gateway and sidecars: longest header field line in KiB (over it: 431)")
	f.Int64Var(&o.edge.maxBodyMB, "max-request-body-mb", embedded.DefaultMaxRequestBodyBytes>>20, "gateway and sidecars: largest request body in MiB (over it: 413; -1: no limit)")
	f.DurationVar(&o.edge.headersTimeout, "request-headers-timeout", embedded.DefaultRequestHeadersTimeout, "gateway and sidecars: time for a request head to arrive once started (then: 408; negative: none)")
	f.DurationVar(&o.edge.streamIdle, "stream-idle-timeout", embedded.DefaultStreamIdleTimeout, "gateway and sidecars: time a request may go without bytes moving (body: 408, upstream answer: 504; negative: none)")
	f.DurationVar(&o.edge.idle, "idle-timeout", embedded.DefaultIdleTimeout, "gateway and sidecars: a kept-alive connection with no request is closed after this (negative: never)")
	f.IntVar(&o.edge.maxConns, "max-connections", embedded.DefaultMaxConnections, "gateway and sidecars: most connections a listener serves at once (more are closed; -1: no limit)")
	addOutputFlag(c, &o.output)
	return c
}

func runUp(cmd *cobra.Command, o upOptions, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	files := o.files
	if len(files) == 0 {
		dir, err := bundledShop()
		if err != nil {
			return err
		}
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
	rt, err := embedded.New(embedded.Options{
		Files: files, Images: o.images, GatewayAddr: "127.0.0.1:" + strconv.Itoa(o.gatewayPort),
		AdminAddr: o.admin, ClientAddr: o.client, StateDir: o.stateDir, Prometheus: o.prometheus,
		LaneKey: laneKey, GateToken: os.Getenv("GRAYLANE_GATE_TOKEN"), Edge: o.edge.options(),
	}, log)
	if err != nil {
		return err
	}
	return rt.Run(cmd.Context(), func(gateway, admin, client string) {
		info := map[string]string{"admin": "http://" + admin}
		if gateway != "" {
			info["gateway"] = "http://" + gateway
		}
		if client != "" {
			info["clientProxy"] = "http://" + client
		}
		if o.output == "json" || o.output == "yaml" {
			_ = writeAny(stdout, o.output, info)
			return
		}
		if gateway != "" {
			fmt.Fprintf(stdout, "gateway: http://%s\n", gateway)
		}
		fmt.Fprintf(stdout, "admin: http://%s\n", admin)
		if client != "" {
			fmt.Fprintf(stdout, "client proxy: http://%s (HTTP proxy for calls by service name)\n", client)
		}
	})
}

// bundledShop is examples/shop when running from the repository, else
// the embedded copy written to a temporary folder.
func bundledShop() (string, error) {
	if st, err := os.Stat(filepath.Join("examples", "shop")); err == nil && st.IsDir() {
		return filepath.Join("examples", "shop"), nil
	}
	dir, err := os.MkdirTemp("", "graylane-shop-")
	if err != nil {
		return "", err
	}
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
	return dir, err
}

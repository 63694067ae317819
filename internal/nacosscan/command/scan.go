// Package command is the shell of `graylane nacos scan` and `graylane
// nacos fix`: it reads Nacos (internal/nacosclient), the Kubernetes side
// (manifests, a cluster with client-go, or a running `graylane up` over
// internal/adminapi) and PassthroughCluster edges from Prometheus, runs
// internal/nacosscan, prints the findings, and for fix publishes the
// shared Spring configuration with compare-and-swap and, when asked,
// applies the ServiceEntries (to the cluster with internal/kubeapply, or
// to a running `graylane up` through its admin apply) and deletes the
// stale ones it made before (nacosscan.Stale).
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosscan"
	"github.com/graylane/graylane/internal/springprops"
)

// Options are the inputs scan and fix share.
type Options struct {
	// Nacos: server ("" = the runtime's with Local, else
	// nacosclient.DefaultServer), namespace, credentials.
	Nacos nacosclient.Options
	// Groups are the Nacos groups to read (none: DEFAULT_GROUP).
	Groups []string
	// The Kubernetes side, one of: Files (manifests), Local (a running
	// `graylane up` at Admin), else the cluster of Kubeconfig/Context.
	Files               []string
	Local               bool
	Admin               string
	Kubeconfig, Context string
	// Prometheus, when set, is the URL of a Prometheus whose Istio
	// metrics name the callers (with Local: default the runtime's), from
	// the requests of the last Window (default DefaultWindow).
	Prometheus string
	Window     time.Duration
	// DataID and ConfigGroup name the shared Spring configuration fix
	// publishes (defaults DefaultDataID, DEFAULT_GROUP); its format is
	// the data id's extension (.yaml, .yml, .properties).
	DataID, ConfigGroup string
	Output              string
}

// Defaults of Options.
const (
	// DefaultDataID is the data id of the shared configuration.
	DefaultDataID = "graylane-mesh.yaml"
	// DefaultWindow is how far back the metrics are read.
	DefaultWindow = 10 * time.Minute
)

// check validates the options before anything is read.
func (o *Options) check() error {
	if err := cli.CheckFormat(o.Output); err != nil {
		return err
	}
	if o.DataID == "" {
		o.DataID = DefaultDataID
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.Window < time.Second {
		return cli.InputErrorf("--window %s: want at least 1s", o.Window)
	}
	if o.ConfigGroup == "" {
		o.ConfigGroup = nacosclient.DefaultGroup
	}
	if springprops.FormatOf(o.DataID) == "" {
		return cli.InputErrorf("--data-id %q: want a name ending in .yaml, .yml or .properties (the configuration's format)", o.DataID)
	}
	cluster := o.Kubeconfig != "" || o.Context != ""
	switch {
	case len(o.Files) > 0 && o.Local, len(o.Files) > 0 && cluster, o.Local && cluster:
		return cli.InputErrorf("give one of -f FILE|DIR, --local, or --kubeconfig/--context (a cluster)")
	}
	if o.Prometheus != "" {
		if u, err := url.Parse(o.Prometheus); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cli.InputErrorf("--prometheus %q: want an http:// or https:// URL", o.Prometheus)
		}
	}
	if o.Nacos.Server == "" {
		if err := o.Nacos.TLS.Check(); err != nil {
			return &cli.InputError{Err: err} // it names the file
		}
	} else if err := o.Nacos.Check(); err != nil {
		var fe *nacosclient.TLSFileError
		if errors.As(err, &fe) {
			return &cli.InputError{Err: fe} // it names the file
		}
		return cli.InputErrorf("--server: %w", err)
	}
	for _, g := range o.Groups {
		if g == "" {
			return cli.InputErrorf("--group: empty group name")
		}
	}
	return nil
}

func (o *Options) groups() []string {
	if len(o.Groups) == 0 {
		return []string{nacosclient.DefaultGroup}
	}
	return o.Groups
}

// source is what a run read.
type source struct {
	snap  nacosscan.Snapshot
	nacos *nacosclient.Client
	// shared is the shared configuration as read (nil: it does not
	// exist).
	shared *nacosclient.Config
}

// close releases the Nacos client.
func (s *source) close() {
	if s != nil && s.nacos != nil {
		_ = s.nacos.Close()
	}
}

// read gathers the snapshot: the Kubernetes side first (input errors of
// manifests before any network call), then Nacos, then Prometheus. The
// caller closes the source.
func read(ctx context.Context, o *Options, warn func(string)) (*source, error) {
	src, err := readAll(ctx, o, warn)
	if err != nil {
		src.close()
		return nil, err
	}
	return src, nil
}

func readAll(ctx context.Context, o *Options, warn func(string)) (*source, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	var src source
	var k *kube
	var err error
	switch {
	case len(o.Files) > 0:
		k, err = readManifests(o.Files, warn)
	case o.Local:
		rt := adminapi.New(adminapi.Admin(o.Admin))
		addrs, aerr := rt.Addresses(ctx)
		if aerr != nil {
			return nil, aerr
		}
		if o.Nacos.Server == "" && addrs.Nacos != "" {
			o.Nacos.Server = "http://" + addrs.Nacos
		}
		if o.Prometheus == "" {
			// The runtime's embedded Prometheus, at its admin address.
			o.Prometheus = rt.Base()
		}
		k, err = readLocal(ctx, rt)
	default:
		k, err = readCluster(ctx, o.Kubeconfig, o.Context)
	}
	if err != nil {
		return nil, err
	}
	src.snap.Services, src.snap.Pods, src.snap.ServiceEntries = k.services, k.pods, k.entries
	if src.nacos, err = newNacos(ctx, o.Nacos); err != nil {
		return nil, err
	}
	if src.snap.Nacos, err = readNacos(ctx, src.nacos, o.groups(), warn); err != nil {
		return &src, err
	}
	if err := readShared(ctx, o, &src, warn); err != nil {
		return &src, err
	}
	if o.Prometheus != "" {
		if src.snap.Edges, err = readEdges(ctx, o.Prometheus, o.Window); err != nil {
			return &src, err
		}
	}
	return &src, nil
}

// readShared reads the shared configuration into the snapshot; a
// configuration that does not exist is none, one that does not parse is
// warned about and left out.
func readShared(ctx context.Context, o *Options, src *source, warn func(string)) error {
	cfg, err := src.nacos.GetConfig(ctx, o.DataID, o.ConfigGroup)
	if errors.Is(err, nacosclient.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	src.shared = &cfg
	snap := &src.snap
	props, err := springprops.Parse([]byte(cfg.Content), springprops.FormatOf(o.DataID))
	if err != nil {
		warn(fmt.Sprintf("%s (group %s) in Nacos: %v; not read", o.DataID, o.ConfigGroup, err))
		return nil
	}
	snap.Shared, snap.SharedName = props, o.DataID
	return nil
}

// newNacos connects to Nacos: options the client refuses (a server URL
// that does not parse, TLS settings for an http:// server) and
// credentials Nacos refuses are input errors; a server that cannot be
// reached (over gRPC, or with a certificate not trusted) is not.
func newNacos(ctx context.Context, o nacosclient.Options) (*nacosclient.Client, error) {
	c, err := nacosclient.New(ctx, o)
	var bad *nacosclient.OptionsError
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, nacosclient.ErrAuth), errors.As(err, &bad):
		return nil, &cli.InputError{Err: err}
	}
	return nil, err
}

// FindingsError is returned by Scan when it found something (exit code
// 1); N counts the findings.
type FindingsError = cli.FindingsError

// Scan prints the findings: text (one a line, "where: kind: message
// (hint)"), or {"findings": [...]} as JSON or YAML. It returns a
// *FindingsError when there is at least one.
func Scan(ctx context.Context, o Options, stdout, stderr io.Writer) error {
	src, err := read(ctx, &o, func(s string) { fmt.Fprintf(stderr, "warning: %s\n", s) })
	if err != nil {
		return err
	}
	defer src.close()
	fs := nacosscan.Scan(src.snap)
	err = cli.WriteFindings(stdout, o.Output, fs, nacosscan.Finding.String)
	if err != nil {
		return err
	}
	if len(fs) > 0 {
		return &FindingsError{N: len(fs)}
	}
	return nil
}

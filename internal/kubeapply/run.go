package kubeapply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/canaryconfig"
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/nacosclient"
)

// Options are the options of `graylane apply` to a cluster.
type Options struct {
	Files []string
	// Kubeconfig is the kubeconfig file ("": $KUBECONFIG, ~/.kube/config).
	Kubeconfig string
	// Context overrides the kubeconfig's current context.
	Context string
	// Namespace is given to namespaced objects without one ("": the
	// context's namespace, else "default").
	Namespace string
	// Wait blocks until every applied Rollout is Healthy or Degraded.
	Wait bool
	// Timeout bounds the wait (0: 30 minutes).
	Timeout time.Duration
	// ForceConflicts takes fields over from other field managers.
	ForceConflicts bool
	// DryRun is "", "none" or "server".
	DryRun string
	// Output is text, json or yaml.
	Output string
	// PollInterval is how often the wait reads the Rollouts (0: 500 ms).
	PollInterval time.Duration
	// Nacos is where --wait publishes the canary configuration of fully
	// promoted Rollouts (internal/canaryconfig); the namespace a
	// canaryConfig names replaces Namespace. Connected only when there is
	// something to publish.
	Nacos nacosclient.Options
}

// Report is what Run prints.
type Report struct {
	DryRun   bool            `json:"dryRun,omitempty"`
	Objects  []Result        `json:"objects"`
	Skipped  []Skipped       `json:"skipped,omitempty"`
	Rollouts []RolloutStatus `json:"rollouts,omitempty"`
	// CanaryConfig is what --wait did with the Rollouts' canary
	// configuration.
	CanaryConfig []CanaryConfigResult `json:"canaryConfig,omitempty"`
}

// DefaultTimeout bounds --wait when no --timeout is given.
const DefaultTimeout = 30 * time.Minute

func (o Options) check() error {
	if err := cli.CheckFormat(o.Output); err != nil {
		return err
	}
	if len(o.Files) == 0 {
		return &cli.InputError{Err: errors.New("no manifests: give -f FILE or -f DIR")}
	}
	switch o.DryRun {
	case "", "none", "server":
	default:
		return &cli.InputError{Err: fmt.Errorf("--dry-run %q: want none or server (a client dry run cannot show what the cluster would do)", o.DryRun)}
	}
	if o.DryRun == "server" && o.Wait {
		return &cli.InputError{Err: errors.New("--wait cannot wait for a dry run")}
	}
	if o.Timeout < 0 {
		return &cli.InputError{Err: fmt.Errorf("--timeout %v: must not be negative", o.Timeout)}
	}
	return nil
}

// Run loads the manifests, applies them to the cluster of the kubeconfig,
// optionally waits for the Rollouts, and prints a Report on stdout. Status
// changes during the wait go to stderr when it is a terminal. Bad flags,
// manifests or kubeconfig, and objects the API server finds invalid, are
// *cli.InputError; a Degraded Rollout wraps ErrDegraded.
func Run(ctx context.Context, o Options, stdout, stderr io.Writer) error {
	if err := o.check(); err != nil {
		return err
	}
	set, err := manifest.Load(o.Files...)
	if err != nil {
		return &cli.InputError{Err: err}
	}
	ex, err := expand.Manifests(set)
	if err != nil {
		return &cli.InputError{Err: err}
	}
	set = ex.Set
	cfg, ns, err := ClientConfig(o.Kubeconfig, o.Context)
	if err != nil {
		return &cli.InputError{Err: err}
	}
	if o.Namespace != "" {
		ns = o.Namespace
	}
	// The API server's warnings (deprecations, ...) go to stderr, once each.
	cfg.WarningHandler = rest.NewWarningWriter(stderr, rest.WarningWriterOptions{Deduplicate: true})
	scheme, err := NewScheme()
	if err != nil {
		return err
	}
	c, err := NewClient(cfg, scheme)
	if err != nil {
		return fmt.Errorf("connect to the cluster: %w", err)
	}
	var lookup discovery
	items, skipped, err := Plan(set, scheme, lookup.scope(ctx, c), ns)
	switch {
	case lookup.unreachable != nil:
		return fmt.Errorf("reach the cluster at %s: %w", cfg.Host, lookup.unreachable)
	case err != nil && lookup.unserved:
		return err // the cluster lacks CRDs: not a problem of the manifests
	case err != nil:
		return &cli.InputError{Err: err}
	}
	for _, s := range skipped {
		hint := ""
		if m := manifest.Suggest(s.APIVersion, s.Kind); m != "" {
			hint = "; did you mean " + m + "?"
		}
		fmt.Fprintf(stderr, "skipped: %s: %s %s %s: a kind graylane apply does not know%s\n", s.Source, s.APIVersion, s.Kind, s.Name, hint)
	}
	dry := o.DryRun == "server"
	rep := Report{DryRun: dry, Skipped: skipped}
	rep.Objects, err = Apply(ctx, c, items, ApplyOptions{ForceConflicts: o.ForceConflicts, DryRun: dry})
	if err == nil && o.Wait {
		err = o.wait(ctx, c, items, stderr, &rep)
	}
	if werr := writeReport(stdout, o.Output, rep); werr != nil && err == nil {
		err = werr
	}
	return classify(err)
}

func (o Options) wait(ctx context.Context, c Client, items []Item, stderr io.Writer, rep *Report) error {
	// keys are the Rollouts waited for; canary those of them rendered
	// with a canaryConfig, which alone may have something to publish.
	var keys, canary []types.NamespacedName
	for _, it := range items {
		if it.GVK().Group == "argoproj.io" && it.GVK().Kind == "Rollout" {
			keys = append(keys, objectKey(it.Object))
			if _, ok := it.Object.GetAnnotations()[v1alpha1.CanaryConfigAnnotation]; ok {
				canary = append(canary, objectKey(it.Object))
			}
		}
	}
	if len(keys) == 0 {
		return nil
	}
	timeout, every := o.Timeout, o.PollInterval
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if every == 0 {
		every = 500 * time.Millisecond
	}
	var progress io.Writer
	if isTerminal(stderr) {
		progress = stderr
	}
	var err error
	rep.Rollouts, err = Wait(ctx, c, keys, timeout, every, progress)
	if ctx.Err() != nil {
		return err
	}
	// Also after a Degraded one or the timeout: the Rollouts that are fully
	// promoted publish, the others say why they do not.
	if len(canary) == 0 {
		return err
	}
	var perr error
	rep.CanaryConfig, perr = publishCanaryConfigs(ctx, c, canary, canaryconfig.NacosConnect(o.Nacos))
	return errors.Join(err, perr)
}

// classify makes the apply error an InputError when every rejected object
// was invalid (the manifests are wrong, not the cluster).
func classify(err error) error {
	if err == nil {
		return nil
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		return err
	}
	for _, e := range joined.Unwrap() {
		var rej *RejectedError
		if !errors.As(e, &rej) || !rej.Invalid {
			return err
		}
	}
	return &cli.InputError{Err: err}
}

// discovery answers Namespaced from the cluster's discovery and remembers
// how lookups failed: a kind the cluster does not serve (an error of that
// object) or any other failure (the cluster unreachable).
type discovery struct {
	unserved    bool
	unreachable error
}

func (d *discovery) scope(ctx context.Context, c *RESTClient) Namespaced {
	return func(gvk schema.GroupVersionKind) (bool, error) {
		namespaced, err := c.Namespaced(ctx, gvk)
		switch {
		case err == nil:
			return namespaced, nil
		case isNotServed(err):
			d.unserved = true
		case d.unreachable == nil:
			d.unreachable = err
		}
		return false, fmt.Errorf("the cluster does not serve %s %s (are its CRDs installed?)", gvk.GroupVersion(), gvk.Kind)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func writeReport(w io.Writer, format string, rep Report) error {
	return cli.Write(w, format, rep, func(w io.Writer) error {
		suffix := ""
		if rep.DryRun {
			suffix = " (server dry run)"
		}
		for _, r := range rep.Objects {
			if _, err := fmt.Fprintf(w, "%s %s%s\n", r.Ref(), r.Action, suffix); err != nil {
				return err
			}
		}
		for _, s := range rep.Rollouts {
			if _, err := fmt.Fprintln(w, s); err != nil {
				return err
			}
		}
		for _, s := range rep.CanaryConfig {
			if _, err := fmt.Fprintln(w, s); err != nil {
				return err
			}
		}
		return nil
	})
}

package localapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/plan"
)

// RolloutOptions are the options of `graylane rollout ... --local`.
type RolloutOptions struct {
	Action    string // list, get, promote, abort, retry, pause, resume
	Name      string
	Namespace string
	Full      bool   // promote --full
	Image     string // set-image: CONTAINER=IMAGE
	Wait      bool   // block until Healthy or Degraded
	Watch     bool   // print every change until Healthy or Degraded
	Timeout   time.Duration
	Admin     string
	Output    string
	// Notes receives what a command did when the output is JSON or YAML
	// (in text it goes to stdout, above the status); nil: dropped.
	Notes io.Writer
}

// ErrDegraded is returned by --wait when the Rollout ends Degraded, so the
// CLI exits non-zero and a pipeline can gate on it.
var ErrDegraded = errors.New("rollout is Degraded")

// Rollout lists, shows or commands Rollouts of a running runtime.
func Rollout(ctx context.Context, o RolloutOptions, stdout io.Writer) error {
	if err := cli.CheckFormat(o.Output); err != nil {
		return err
	}
	c := adminapi.New(adminapi.Admin(o.Admin))
	only := o.Namespace // list: this namespace only; "": every namespace
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	switch o.Action {
	case "list":
		rs, err := c.Rollouts(ctx)
		if err != nil {
			return err
		}
		if only != "" {
			rs = slices.DeleteFunc(rs, func(x adminapi.RolloutStatus) bool { return x.Namespace != only })
		}
		return cli.Write(stdout, o.Output, rs, func(w io.Writer) error { return rolloutTable(w, rs) })
	case "get":
	case "set-image":
		container, image, ok := strings.Cut(o.Image, "=")
		if !ok || container == "" || image == "" {
			return &cli.InputError{Err: fmt.Errorf("set image %q: want CONTAINER=IMAGE", o.Image)}
		}
		res, err := c.SetImage(ctx, o.Namespace, o.Name, container, image)
		if err != nil {
			return err
		}
		note(stdout, o.Notes, o.Output, res.Message)
	case "promote", "abort", "retry", "pause", "resume":
		res, err := c.RolloutCommand(ctx, o.Namespace, o.Name, command(o.Action, o.Full))
		if err != nil {
			return err
		}
		note(stdout, o.Notes, o.Output, res.Message)
	default:
		return &cli.InputError{Err: fmt.Errorf("rollout %q: want list, get, promote, abort, retry, pause or resume", o.Action)}
	}
	st, err := rollout(ctx, c, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	switch {
	case o.Watch:
		if st, err = watch(ctx, c, o, stdout); err != nil {
			return err
		}
		if st.Phase == plan.Degraded {
			return fmt.Errorf("%s/%s: %w: %s", st.Namespace, st.Name, ErrDegraded, st.Message)
		}
		return nil
	case o.Wait:
		if st, err = wait(ctx, c, o); err != nil {
			return err
		}
	}
	if err := cli.Write(stdout, o.Output, st, func(w io.Writer) error {
		if err := rolloutTable(w, []adminapi.RolloutStatus{st}); err != nil {
			return err
		}
		return canaryConfigLine(w, st.CanaryConfig)
	}); err != nil {
		return err
	}
	if o.Wait && st.Phase == plan.Degraded {
		return fmt.Errorf("%s/%s: %w: %s", st.Namespace, st.Name, ErrDegraded, st.Message)
	}
	return nil
}

// rollout gets the Rollout ns/name.
func rollout(ctx context.Context, c *adminapi.Client, ns, name string) (adminapi.RolloutStatus, error) {
	return find(ctx, c.Rollouts, "rollout", ns, name, func(r adminapi.RolloutStatus) (string, string) { return r.Namespace, r.Name })
}

// find gets a list from the admin API (list) and returns the item ns/name.
func find[T any](ctx context.Context, list func(context.Context) ([]T, error), kind, ns, name string, key func(T) (string, string)) (T, error) {
	var zero T
	items, err := list(ctx)
	if err != nil {
		return zero, err
	}
	for _, it := range items {
		if n, m := key(it); n == ns && m == name {
			return it, nil
		}
	}
	return zero, &cli.InputError{Err: fmt.Errorf("%s %s/%s not found", kind, ns, name)}
}

// pollUntil calls get every 200 ms until done says so or timeout (0: 30m)
// passes; then late explains what it last saw.
func pollUntil[T any](ctx context.Context, timeout time.Duration, get func(context.Context) (T, error), done func(T) bool, late func(T, time.Duration) error) (T, error) {
	if timeout == 0 {
		timeout = 30 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		st, err := get(ctx)
		if err != nil || done(st) {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, late(st, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// wait polls until the Rollout is Healthy or Degraded.
func wait(ctx context.Context, c *adminapi.Client, o RolloutOptions) (adminapi.RolloutStatus, error) {
	return pollUntil(ctx, o.Timeout,
		func(ctx context.Context) (adminapi.RolloutStatus, error) { return rollout(ctx, c, o.Namespace, o.Name) },
		func(st adminapi.RolloutStatus) bool { return st.Phase == plan.Healthy || st.Phase == plan.Degraded },
		func(st adminapi.RolloutStatus, timeout time.Duration) error {
			return fmt.Errorf("rollout %s/%s still %s after %s: %s", o.Namespace, o.Name, st.Phase, timeout, st.Message)
		})
}

// watch prints a line at every change of the Rollout until it is Healthy
// or Degraded.
func watch(ctx context.Context, c *adminapi.Client, o RolloutOptions, w io.Writer) (adminapi.RolloutStatus, error) {
	last := ""
	tty := isTerminal(w)
	for {
		st, err := rollout(ctx, c, o.Namespace, o.Name)
		if err != nil {
			return st, err
		}
		weight := fmt.Sprint(st.CanaryWeight)
		if st.CanaryHash != st.StableHash && st.SetWeight != st.CanaryWeight {
			weight += fmt.Sprintf(" (set %d)", st.SetWeight)
		}
		line := fmt.Sprintf("%s  step %d/%d  weight %s  stable %s %d/%d", st.Phase, st.Step, st.Steps, weight, st.StableHash, st.Stable.Ready, st.Stable.Desired)
		if st.CanaryHash != st.StableHash {
			line += fmt.Sprintf("  canary %s %d/%d", st.CanaryHash, st.Canary.Ready, st.Canary.Desired)
		}
		if st.Message != "" {
			line += "  " + st.Message
		}
		finished := st.Phase == plan.Healthy || st.Phase == plan.Degraded
		switch {
		case o.Output == "json" && line != last:
			_ = cli.Write(w, "json", st, nil)
		case tty:
			// On a terminal one status line is redrawn in place, with a
			// progress bar of the canary weight.
			fmt.Fprintf(w, "\r\033[K%s %s", bar(st.CanaryWeight), line)
			if finished {
				fmt.Fprintln(w)
			}
		case line != last:
			fmt.Fprintf(w, "%s  %s\n", time.Now().Format("15:04:05"), line)
		}
		last = line
		if finished {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// command is the plan command of a CLI action (promote, with full
// promote-full; abort, retry, pause, resume). The runtime refuses a
// command that would change nothing: an *adminapi.APIError with status
// 409 and the reason.
func command(action string, full bool) plan.Command {
	if action == "promote" && full {
		return plan.PromoteFull
	}
	return plan.Command(action)
}

// note prints what a command did: on stdout above the status in text
// output, else on notes (stdout stays JSON or YAML).
func note(stdout, notes io.Writer, output, msg string) {
	if msg == "" {
		return
	}
	if output == "" || output == "text" {
		fmt.Fprintln(stdout, msg)
		return
	}
	if notes != nil {
		fmt.Fprintln(notes, msg)
	}
}

func rolloutTable(w io.Writer, rs []adminapi.RolloutStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tPHASE\tSTEP\tWEIGHT\tSTABLE\tCANARY\tMESSAGE")
	for _, r := range rs {
		canary := "-"
		if r.CanaryHash != r.StableHash {
			canary = fmt.Sprintf("%s %d/%d", r.CanaryHash, r.Canary.Ready, r.Canary.Desired)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%s %d/%d\t%s\t%s\n", r.Namespace, r.Name, r.Phase, r.Step, r.Steps, r.CanaryWeight,
			r.StableHash, r.Stable.Ready, r.Stable.Desired, canary, strings.TrimSpace(r.Message))
	}
	return tw.Flush()
}

// canaryConfigLine says what became of the Rollout's canary-only
// properties: "canary config: Published - published to nacos order.yaml
// ... (feature.discount-rate)"; nothing without them.
func canaryConfigLine(w io.Writer, c *adminapi.CanaryConfigStatus) error {
	if c == nil {
		return nil
	}
	_, err := fmt.Fprintf(w, "canary config: %s - %s (%s)\n", c.State, c.Message, strings.Join(c.Properties, ", "))
	return err
}

// isTerminal reports whether w is a character device (a TTY).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// bar draws the canary weight: [#####.....] 50%.
func bar(weight int32) string {
	n := int(weight) / 10
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", 10-n) + fmt.Sprintf("] %3d%%", weight)
}

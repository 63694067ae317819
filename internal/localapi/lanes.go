package localapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/lane"
)

// LaneOptions are the options of `graylane lane ... --local`.
type LaneOptions struct {
	Action    string // list, get, promote, abort, retry, pause, resume
	Name      string
	Namespace string
	Full      bool // promote --full
	Wait      bool // block until Promoted or Aborted
	Timeout   time.Duration
	Admin     string
	Output    string
	// Notes receives what a command did when the output is JSON or YAML
	// (in text it goes to stdout, above the status); nil: dropped.
	Notes io.Writer
}

// ErrLaneAborted is returned by --wait when the lane was rolled back.
var ErrLaneAborted = errors.New("lane is Aborted")

// Lane lists, shows or commands the lanes of a running runtime.
func Lane(ctx context.Context, o LaneOptions, stdout io.Writer) error {
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
		ls, err := c.Lanes(ctx)
		if err != nil {
			return err
		}
		if only != "" {
			ls = slices.DeleteFunc(ls, func(x adminapi.LaneStatus) bool { return x.Namespace != only })
		}
		return cli.Write(stdout, o.Output, ls, func(w io.Writer) error { return laneTable(w, ls) })
	case "get":
	case "promote", "abort", "retry", "pause", "resume":
		res, err := c.LaneCommand(ctx, o.Namespace, o.Name, command(o.Action, o.Full))
		if err != nil {
			return err
		}
		note(stdout, o.Notes, o.Output, res.Message)
	default:
		return &cli.InputError{Err: fmt.Errorf("lane %q: want list, get, promote, abort, retry, pause or resume", o.Action)}
	}
	st, err := getLane(ctx, c, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	if o.Wait {
		if st, err = waitLane(ctx, c, o); err != nil {
			return err
		}
	}
	if err := cli.Write(stdout, o.Output, st, func(w io.Writer) error { return laneDetail(w, st) }); err != nil {
		return err
	}
	if o.Wait && st.Phase == lane.Aborted {
		msg := ""
		if st.Plan != nil {
			msg = st.Plan.Message
		}
		return fmt.Errorf("%s/%s: %w: %s", st.Namespace, st.Name, ErrLaneAborted, msg)
	}
	return nil
}

// getLane gets the lane ns/name.
func getLane(ctx context.Context, c *adminapi.Client, ns, name string) (adminapi.LaneStatus, error) {
	return find(ctx, c.Lanes, "lane", ns, name, func(l adminapi.LaneStatus) (string, string) { return l.Namespace, l.Name })
}

// waitLane polls until the lane is Promoted or Aborted.
func waitLane(ctx context.Context, c *adminapi.Client, o LaneOptions) (adminapi.LaneStatus, error) {
	return pollUntil(ctx, o.Timeout,
		func(ctx context.Context) (adminapi.LaneStatus, error) { return getLane(ctx, c, o.Namespace, o.Name) },
		func(st adminapi.LaneStatus) bool { return st.Phase != lane.Active },
		func(st adminapi.LaneStatus, timeout time.Duration) error {
			return fmt.Errorf("lane %s/%s still %s after %s", o.Namespace, o.Name, st.Phase, timeout)
		})
}

func laneTable(w io.Writer, ls []adminapi.LaneStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tPHASE\tWEIGHT\tSTEP\tMEMBERS\tFALLBACK\tMESSAGE")
	for _, l := range ls {
		step, msg := "-", ""
		if l.Plan != nil {
			step, msg = fmt.Sprintf("%d/%d", l.Plan.Step, l.Plan.Steps), l.Plan.Message
		}
		members := make([]string, len(l.Members))
		for i, m := range l.Members {
			members[i] = m.Service
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", l.Namespace, l.Name, l.Phase, l.Weight, step, strings.Join(members, ","), l.Fallback, msg)
	}
	return tw.Flush()
}

func laneDetail(w io.Writer, l adminapi.LaneStatus) error {
	if err := laneTable(w, []adminapi.LaneStatus{l}); err != nil {
		return err
	}
	fmt.Fprintf(w, "\npropagation: %s\n", strings.Join(l.Modes, ", "))
	for _, m := range l.Members {
		fmt.Fprintf(w, "  %-12s lane subset %s {%s}   stable subset %s {%s}\n", m.Service,
			m.LaneSubset, labels.Set(m.LaneLabels), m.StableSubset, labels.Set(m.StableLabels))
	}
	for _, a := range l.Analysis {
		fmt.Fprintln(w, strings.TrimSpace(fmt.Sprintf("analysis %s (%s): %s %s", a.Kind, a.Member, a.Phase, a.Message)))
	}
	for i := range l.CanaryConfig {
		fmt.Fprintf(w, "%s ", l.CanaryConfig[i].Service)
		if err := canaryConfigLine(w, &l.CanaryConfig[i]); err != nil {
			return err
		}
	}
	return nil
}

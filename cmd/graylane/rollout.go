package main

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/localapi"
)

func newRolloutCmd(stdout io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "rollout",
		Short: "Watch and drive Argo Rollouts run by `graylane up` (--local)",
		Long: `Argo Rollouts objects run in the embedded runtime as canaries: a new pod template
starts the steps (setWeight, pause, setCanaryScale, setHeaderRoute), and the
Istio VirtualService weights and DestinationRule subsets change as the Argo
Rollouts controller would change them. These commands are Argo's kubectl plugin
commands for that runtime, with its semantics: promote clears a user's pause and
leaves the current step together. Each says what it did; a command that would
change nothing is refused with the reason (the runtime answers 409 Conflict).`,
		Example: `  graylane rollout list --local
  graylane rollout promote order -n shop --local
  graylane rollout get order -n shop --local --wait   # exit 0 when Healthy, 1 when Degraded`,
	}
	for _, action := range []struct{ use, short string }{
		{"get NAME", "Show a Rollout (--wait blocks until Healthy or Degraded)"},
		{"promote NAME", "Leave the current pause or step (--full: skip every remaining step)"},
		{"abort NAME", "Send all traffic back to the stable version"},
		{"retry NAME", "Start an aborted Rollout again from its first step"},
		{"pause NAME", "Pause a Rollout"},
		{"resume NAME", "Resume a paused Rollout"},
	} {
		root.AddCommand(rolloutAction(stdout, action.use, action.short))
	}
	list := rolloutAction(stdout, "list", "List Rollouts")
	root.AddCommand(list)
	set := &cobra.Command{Use: "set", Short: "Change a Rollout"}
	set.AddCommand(setImageCmd(stdout))
	root.AddCommand(set)
	return root
}

func setImageCmd(stdout io.Writer) *cobra.Command {
	var o localapi.RolloutOptions
	var local bool
	c := &cobra.Command{
		Use:     "image NAME CONTAINER=IMAGE --local",
		Short:   "Change a container image of a Rollout: the new template starts a canary",
		Example: "  graylane rollout set image order order=graylane/sample:2.0 -n shop --local --watch",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, a []string) error {
			o.Action, o.Name, o.Image, o.Notes = "set-image", a[0], a[1], cmd.ErrOrStderr()
			return localapi.Rollout(cmd.Context(), o, stdout)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.Namespace, "namespace", "n", "default", "namespace of the Rollout")
	addWaitFlags(c, &o)
	addLocalFlags(c, &local, &o.Admin)
	addOutputFlag(c, &o.Output)
	return c
}

// actionCmd is a `--local` command "ACTION NAME" (or "list"): run gets
// the action and the name; the caller adds its flags.
func actionCmd(use, short string, run func(cmd *cobra.Command, action, name string) error) (*cobra.Command, string) {
	action, _, _ := strings.Cut(use, " ")
	args := cobra.ExactArgs(1)
	if action == "list" {
		args = cobra.NoArgs
	}
	return &cobra.Command{
		Use:   use + " --local",
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, a []string) error {
			name := ""
			if len(a) > 0 {
				name = a[0]
			}
			return run(cmd, action, name)
		},
	}, action
}

func rolloutAction(stdout io.Writer, use, short string) *cobra.Command {
	var o localapi.RolloutOptions
	var local bool
	c, action := actionCmd(use, short, func(cmd *cobra.Command, action, name string) error {
		o.Action, o.Name, o.Notes = action, name, cmd.ErrOrStderr()
		return localapi.Rollout(cmd.Context(), o, stdout)
	})
	f := c.Flags()
	f.StringVarP(&o.Namespace, "namespace", "n", "default", "namespace of the Rollout")
	if action == "promote" {
		f.BoolVar(&o.Full, "full", false, "skip every remaining step and analysis")
	}
	if action != "list" {
		addWaitFlags(c, &o)
	}
	addLocalFlags(c, &local, &o.Admin)
	addOutputFlag(c, &o.Output)
	return c
}

func addWaitFlags(c *cobra.Command, o *localapi.RolloutOptions) {
	f := c.Flags()
	f.BoolVar(&o.Wait, "wait", false, "block until the Rollout is Healthy (exit 0) or Degraded (exit 1)")
	f.BoolVar(&o.Watch, "watch", false, "print every change until the Rollout is Healthy or Degraded (exit 0 / 1)")
	f.DurationVar(&o.Timeout, "timeout", 0, "with --wait: give up after this long (default 30m)")
}

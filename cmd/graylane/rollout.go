package main

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/localapi"
)

// rolloutOnCluster is what a rollout command without --local suggests.
const rolloutOnCluster = "on a cluster, use the Argo Rollouts kubectl plugin (kubectl argo rollouts ...)"

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
change nothing is refused with the reason (the runtime answers 409 Conflict).

Exit codes: 0 success (with --wait or --watch: Healthy), 1 failure (with --wait
or --watch: Degraded), 2 bad input (an answer 4xx of the runtime included, such
as a refused command).`,
		Example: `  graylane rollout list --local
  graylane rollout promote order -n shop --local
  graylane rollout get order -n shop --local --wait   # exit 0 when Healthy, 1 when Degraded`,
	}
	for _, action := range []struct{ use, short, example string }{
		{"get NAME", "Show a Rollout (--wait blocks until Healthy or Degraded)",
			"  graylane rollout get order -n shop --local\n  graylane rollout get order -n shop --local --wait --timeout 10m   # exit 0 Healthy, 1 Degraded"},
		{"promote NAME", "Leave the current pause or step (--full: skip every remaining step)",
			"  graylane rollout promote order -n shop --local\n  graylane rollout promote order -n shop --local --full --wait"},
		{"abort NAME", "Send all traffic back to the stable version", "  graylane rollout abort order -n shop --local"},
		{"retry NAME", "Start an aborted Rollout again from its first step", "  graylane rollout retry order -n shop --local --watch"},
		{"pause NAME", "Pause a Rollout", "  graylane rollout pause order -n shop --local"},
		{"resume NAME", "Resume a paused Rollout", "  graylane rollout resume order -n shop --local"},
		{"list", "List Rollouts", "  graylane rollout list --local\n  graylane rollout list --local --admin 127.0.0.1:15000 -o json"},
	} {
		c := rolloutAction(stdout, action.use, action.short)
		c.Example = action.example
		root.AddCommand(c)
	}
	set := &cobra.Command{Use: "set", Short: "Change a Rollout",
		Example: "  graylane rollout set image order order=graylane/sample:2.0 -n shop --local"}
	set.AddCommand(setImageCmd(stdout))
	root.AddCommand(set)
	return root
}

func setImageCmd(stdout io.Writer) *cobra.Command {
	var o localapi.RolloutOptions
	var local bool
	c := &cobra.Command{
		Use:   "image NAME CONTAINER=IMAGE --local",
		Short: "Change a container image of a Rollout: the new template starts a canary",
		Long: `Changes the image of one container of a Rollout's pod template in the running
graylane up; the new template starts the canary steps. The image needs a command
(graylane up --image IMAGE=COMMAND, or an image of the built-in sample app).

Exit codes: 0 changed (with --wait or --watch: Healthy), 1 failure (with --wait
or --watch: Degraded), 2 bad input (an unknown Rollout or container: the
runtime answers 4xx).`,
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
	addLocalFlags(c, &local, &o.Admin, rolloutOnCluster)
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
	if action == "list" {
		f.StringVarP(&o.Namespace, "namespace", "n", "", "only the Rollouts of this namespace (default: every namespace)")
	} else {
		f.StringVarP(&o.Namespace, "namespace", "n", "default", "namespace of the Rollout")
	}
	if action == "promote" {
		f.BoolVar(&o.Full, "full", false, "skip every remaining step and analysis")
	}
	c.Long = short + ".\n\n" + rolloutExitCodes
	if action != "list" {
		addWaitFlags(c, &o)
	} else {
		c.Long = "Lists the Rollouts of a running graylane up with their phase, step, canary weight\nand stable and canary replicas.\n\n" + localExitCodes
	}
	addLocalFlags(c, &local, &o.Admin, rolloutOnCluster)
	addOutputFlag(c, &o.Output)
	return c
}

const (
	localExitCodes = `Exit codes: 0 success, 1 the runtime cannot be reached or failed, 2 bad input
(no --local, a bad --admin, an answer 4xx of the runtime, e.g. an unknown name).`
	rolloutExitCodes = `Exit codes: 0 success (with --wait or --watch: Healthy), 1 failure (with --wait
or --watch: the Rollout ended Degraded), 2 bad input (no --local, a bad --admin,
an answer 4xx of the runtime, e.g. an unknown Rollout).`
)

func addWaitFlags(c *cobra.Command, o *localapi.RolloutOptions) {
	f := c.Flags()
	f.BoolVar(&o.Wait, "wait", false, "block until the Rollout is Healthy (exit 0) or Degraded (exit 1)")
	f.BoolVar(&o.Watch, "watch", false, "print every change until the Rollout is Healthy or Degraded (exit 0 / 1)")
	f.DurationVar(&o.Timeout, "timeout", 0, "with --wait: give up after this long (default 30m)")
}

package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/embedded"
	"github.com/graylane/graylane/internal/localapi"
)

func newLogsCmd(stdout io.Writer) *cobra.Command {
	o := localapi.LogsOptions{Replica: -1, Tail: -1}
	var local bool
	c := &cobra.Command{
		Use:   "logs WORKLOAD [-n NS] [--replica N] [-f] [--tail N] --local",
		Short: "Print the output of a workload's replicas in a running graylane up",
		Long: `Prints what the replicas of a Deployment or Rollout (or one pod) wrote to standard
output and standard error, as kept by ` + "`graylane up`" + ` in its --state-dir. With several
replicas every line starts with [POD]; --replica N picks one (numbered as in
` + "`graylane get workloads --local`" + `). -f keeps printing new lines until the replicas
stop or Ctrl-C. WORKLOAD is a name, or deployment/NAME, rollout/NAME, pod/NAME.

Exit codes: 0 success, 1 the runtime cannot be reached, 2 bad input (an unknown
workload or replica included).`,
		Example: `  graylane logs order-v1 -n shop --local
  graylane logs order -n shop --replica 0 -f --local
  graylane logs payment-v2 --tail 20 --local`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Workload = args[0]
			return localapi.Logs(cmd.Context(), o, stdout)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.Namespace, "namespace", "n", "", "namespace of the workload (default: the one namespace that has it)")
	f.IntVar(&o.Replica, "replica", -1, "only this replica (0, 1, ...; default: every replica)")
	f.BoolVarP(&o.Follow, "follow", "f", false, "keep printing new lines")
	f.IntVar(&o.Tail, "tail", -1, "only the last N lines of each replica (default: all)")
	addLocalFlags(c, &local, &o.Admin, "on a cluster, use kubectl logs")
	return c
}

// newSuperviseCmd is the hidden command the embedded runtime runs an
// external command under (see embedded.Supervise).
func newSuperviseCmd() *cobra.Command {
	return &cobra.Command{
		Use:                embedded.SuperviseCommand + " -- COMMAND [ARG]...",
		Hidden:             true,
		DisableFlagParsing: true,
		Args:               cobra.ArbitraryArgs, // the supervised command's own

		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 && args[0] == "--" {
				args = args[1:]
			}
			os.Exit(embedded.Supervise(args))
			return nil
		},
	}
}

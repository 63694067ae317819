package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/kubeapply"
	"github.com/graylane/graylane/internal/localapi"
	"github.com/graylane/graylane/internal/nacosclient"
)

// clusterApplyFlags are the flags of `graylane apply` that only mean
// something for a cluster.
var clusterApplyFlags = append([]string{"kubeconfig", "context", "namespace", "wait", "timeout", "force-conflicts", "dry-run"},
	canaryNacosFlagNames...)

func newApplyCmd(stdout io.Writer) *cobra.Command {
	var lo localapi.ApplyOptions
	var ko kubeapply.Options
	var local bool
	var nacos canaryNacosFlags
	c := &cobra.Command{
		Use:   "apply -f PATH... [--wait] | apply -f PATH... --local",
		Short: "Apply manifests to a Kubernetes cluster (server-side apply) or to a running `graylane up`",
		Long: `Validates the manifests here (errors name file and line), then applies them.

To a cluster (the default): server-side apply with field manager "graylane",
namespaces and services first, Istio routing next, Argo Rollouts last; each
object is reported created, configured or unchanged, and objects the API server
rejects are reported at their file:line. --wait then blocks until every applied
Rollout is Healthy (exit 0) or Degraded (exit 1), as kubectl argo rollouts
status does. The kubeconfig is found as kubectl finds it. Once a Rollout made
from a Release service with canaryConfig is fully promoted, --wait publishes its
properties to the Nacos configuration it names (--nacos-server; compare-and-swap,
once per promoted template); an aborted one publishes nothing (docs/nacos.md).

With --local: sends them to the embedded runtime's admin API; the same object
applied again replaces the earlier one; routing changes take effect for new
requests at once, changed workloads are replaced once their new replicas are ready.

Exit codes: 0 applied (and Healthy with --wait), 1 failure or Degraded, 2 bad
input (flags, manifests, objects the API server finds invalid).`,
		Example: `  graylane apply -f examples/seed001/ --wait --timeout 10m
  graylane apply -f examples/seed004/ --context staging -n shop --dry-run=server -o json
  graylane apply -f examples/seed004-headers/ --local`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !local {
				if cmd.Flags().Changed("admin") {
					return &cli.InputError{Err: errors.New("--admin needs --local")}
				}
				for _, name := range canaryNacosFlagNames {
					if cmd.Flags().Changed(name) && !ko.Wait {
						return &cli.InputError{Err: fmt.Errorf("--%s needs --wait: canary configuration is published once a Rollout is fully promoted", name)}
					}
				}
				if ko.Wait { // only --wait publishes: without it the Nacos flags and variables mean nothing here
					if err := nacos.check(); err != nil {
						return err
					}
					ko.Nacos = nacos.options()
				}
				return kubeapply.Run(cmd.Context(), ko, stdout, cmd.ErrOrStderr())
			}
			for _, name := range clusterApplyFlags {
				if cmd.Flags().Changed(name) {
					return &cli.InputError{Err: fmt.Errorf("--%s is for a cluster; it cannot be used with --local", name)}
				}
			}
			if err := checkAdmin(lo.Admin); err != nil {
				return err
			}
			lo.Files, lo.Output = ko.Files, ko.Output
			return localapi.Apply(cmd.Context(), lo, stdout, cmd.ErrOrStderr())
		},
	}
	f := c.Flags()
	f.StringArrayVarP(&ko.Files, "filename", "f", nil, "manifest file or folder (repeatable)")
	f.StringVar(&ko.Kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&ko.Context, "context", "", "kubeconfig context (default: its current context)")
	f.StringVarP(&ko.Namespace, "namespace", "n", "", "namespace for objects that name none (default: the context's, else default)")
	f.BoolVar(&ko.Wait, "wait", false, "block until every applied Rollout is Healthy (exit 0) or Degraded (exit 1)")
	f.DurationVar(&ko.Timeout, "timeout", kubeapply.DefaultTimeout, "with --wait: give up after this long (exit 1)")
	f.BoolVar(&ko.ForceConflicts, "force-conflicts", false, "take over fields other field managers own instead of failing")
	f.StringVar(&ko.DryRun, "dry-run", "none", "server: the API server validates and defaults, nothing is stored")
	f.BoolVar(&local, "local", false, "apply to the embedded runtime (graylane up) instead of a cluster")
	f.StringVar(&lo.Admin, "admin", "", "with --local: admin address HOST:PORT of graylane up (default $GRAYLANE_ADMIN or "+adminapi.DefaultAdmin+")")
	nacos.add(f, nacosclient.DefaultServer)
	addOutputFlag(c, &ko.Output)
	return c
}

func newGetCmd(stdout io.Writer) *cobra.Command {
	var o localapi.GetOptions
	var local bool
	c := &cobra.Command{
		Use:   "get workloads|services|serviceentries|routes --local [--admin ADDR]",
		Short: "List what a running `graylane up` runs",
		Long: `Lists the workloads (one line per replica process), the Services with their
endpoints, the ServiceEntries (hosts, ports, resolution, endpoints; "se" for
short), or the compiled routes (per gateway and for the mesh) of a running
graylane up, reached at --admin, else $GRAYLANE_ADMIN, else ` + adminapi.DefaultAdmin + `.

Exit codes: 0 listed, 1 the runtime cannot be reached, 2 bad input (an unknown
kind, no --local, an answer 4xx of the runtime).`,
		Example:   "  graylane get workloads --local\n  graylane get routes --local --admin 127.0.0.1:15000 -o json",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"workloads", "services", "serviceentries", "routes"},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Kind = args[0]
			return localapi.Get(cmd.Context(), o, stdout)
		},
	}
	addLocalFlags(c, &local, &o.Admin, "on a cluster, use kubectl get pods,services,virtualservices")
	addOutputFlag(c, &o.Output)
	return c
}

// addLocalFlags adds --local and --admin. The command works on a running
// graylane up only: without --local it refuses, saying what to use on a
// cluster (onCluster); a bad --admin is refused before anything is sent.
func addLocalFlags(c *cobra.Command, local *bool, admin *string, onCluster string) {
	c.PreRunE = func(*cobra.Command, []string) error {
		if !*local {
			return &cli.InputError{Err: fmt.Errorf("%s works on a running graylane up only: add --local; %s", c.CommandPath(), onCluster)}
		}
		return checkAdmin(*admin)
	}
	c.Flags().BoolVar(local, "local", false, "talk to the embedded runtime (graylane up); required")
	c.Flags().StringVar(admin, "admin", "", "admin address HOST:PORT of graylane up (default $GRAYLANE_ADMIN or "+adminapi.DefaultAdmin+")")
}

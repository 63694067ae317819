package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/cli"
	routecmd "github.com/graylane/graylane/internal/route/command"
	simulatecmd "github.com/graylane/graylane/internal/simulate/command"
	"github.com/graylane/graylane/internal/version"
)

func newVersionCmd(stdout io.Writer) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:     "version",
		Short:   "Print the Graylane version",
		Example: "  graylane version\n  graylane version -o json",
		Args:    cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := cli.CheckFormat(output); err != nil {
				return err
			}
			info := version.Get()
			return cli.Write(stdout, output, info, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "graylane %s (commit %s, %s, %s)\n", info.Version, orNone(info.Commit), info.GoVersion, info.Platform)
				return err
			})
		},
	}
	addOutputFlag(c, &output)
	return c
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func newRouteCmd(stdout, stderr io.Writer) *cobra.Command {
	var o routecmd.RouteOptions
	c := &cobra.Command{
		Use:   "route -f PATH --url URL [flags]",
		Short: "Show where one request goes under the VirtualServices and DestinationRules",
		Long: `Evaluates one request against the Istio routing rules in the manifests, offline,
the way the proxy would: matched VirtualService (and delegate), route, weighted
destinations with subset labels, header changes, and findings.

Without --gateway the request comes from a sidecar in the mesh.

Exit codes: 0 the evaluation ran, whatever status it found; 2 bad input (flags,
URL, headers, manifests).`,
		Example: `  graylane route -f examples/seed004/ --url http://192.168.1.106/ --gateway istio-system/app-gw
  graylane route -f examples/seed004/ --url http://appb:8000/ --source-labels app=appa,version=v2 -o json
  graylane route -f examples/seed001/ --url http://shop.example.com/ --gateway shop-gateway --rollout-step order=2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return routecmd.Route(cmd.Context(), o, stdout, stderr)
		},
	}
	addRequestFlags(c, &o.Files, &o.Request)
	addRolloutStepFlag(c, &o.RolloutSteps)
	addOutputFlag(c, &o.Output)
	return c
}

// addRolloutStepFlag is --rollout-step of route and simulate.
func addRolloutStepFlag(c *cobra.Command, v *[]string) {
	c.Flags().StringArrayVar(v, "rollout-step", nil, "answer as the mesh is once Rollout [NAMESPACE/]NAME is at this status.currentStepIndex, e.g. order=2 (repeatable; the number of steps: fully promoted)")
}

func newSimulateCmd(stdout, stderr io.Writer) *cobra.Command {
	var o simulatecmd.SimulateOptions
	c := &cobra.Command{
		Use:   "simulate -f PATH --url URL --calls 'a->b,b->c' [flags]",
		Short: "Replay requests along a call graph and show the versions each one meets",
		Long: `Replays N requests: at each hop the route picks a destination, the subset picks a
workload (a Deployment or Rollout whose pod labels carry the subset labels), and
that workload's labels become the next hop's source labels. Headers listed in
--propagate are carried from hop to hop, others are not. Prints each distinct
path with its fraction; mixedFraction: paths that mix versions wrongly (hops on
different versions; for a lane request: hops off its lane, see offLaneFraction);
failedFraction: paths with a hop that is not 2xx. See docs/simulate.md.

Exit codes: 0 the replay ran, whatever it found; 2 bad input (flags, URL,
--calls, a call graph with a cycle, manifests).`,
		Example: `  graylane simulate -f examples/seed004/ --url http://192.168.1.106/ --gateway istio-system/app-gw --calls 'appa->appb'
  graylane simulate -f examples/seed001/ --url http://shop.example.com/ --gateway shop-gateway --calls '' --rollout-step order=2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return simulatecmd.Simulate(cmd.Context(), o, stdout, stderr)
		},
	}
	addRequestFlags(c, &o.Files, &o.Request)
	f := c.Flags()
	f.StringVar(&o.Calls, "calls", "", "call graph: CALLER->CALLEE pairs, comma-separated ('a->b->c' is a chain)")
	f.StringSliceVar(&o.Propagate, "propagate", nil, "headers a workload copies to its outbound calls (comma-separated; 'x-b3-*' allowed)")
	f.IntVar(&o.Requests, "requests", 1000, "number of requests to replay")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed (same seed, same result)")
	f.StringVar(&o.VersionLabel, "version-label", "version", "pod label that names a version")
	addRolloutStepFlag(c, &o.RolloutSteps)
	addOutputFlag(c, &o.Output)
	return c
}

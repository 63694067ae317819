package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/render/command"
)

func newLintCmd(stdout, stderr io.Writer) *cobra.Command {
	var o command.LintOptions
	c := &cobra.Command{
		Use:   "lint -f PATH... [--local] [-o text|json|yaml]",
		Short: "Find the mistakes that break canary releases in Rollout, Istio, Service and Argo CD manifests",
		Long: `Checks manifests for what breaks canaries in practice: routes to subsets no
DestinationRule defines, weights not adding up to 100, a route without conditions
above others, a canary header route below the weighted route, a Rollout naming a
VirtualService route, DestinationRule subset, Service or analysis template that
is missing or does not fit, Service selectors that match no pod template, and
Argo CD Applications without the ignoreDifferences for the fields Argo Rollouts
changes. Each finding has its file:line and a fix hint. A Rollout or analysis
template that Argo Rollouts finds invalid is refused when it is read (exit 2).

Rollout features that graylane up does not run (blueGreen, workloadRef,
experiment and setMirrorRoute steps, other traffic routers, ...) are listed as
information (check local): they work on a cluster, so they fail lint only with
--local.

Exit codes: 0 no errors or warnings (information may be printed), 1 errors or
warnings (or, with --local, features graylane up does not run), 2 bad input.`,
		Example: `  graylane lint -f rollout-istio-deploy.yaml
  graylane lint -f out/ -f argocd-app.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return command.Lint(cmd.Context(), o, stdout, stderr)
		},
	}
	c.Flags().StringArrayVarP(&o.Files, "filename", "f", nil, "manifest file or folder (repeatable)")
	c.Flags().BoolVar(&o.Local, "local", false, "also fail (exit 1) on Rollout features graylane up does not run")
	addOutputFlag(c, &o.Output)
	return c
}

package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/render/command"
)

func newLintCmd(stdout, stderr io.Writer) *cobra.Command {
	var o command.LintOptions
	c := &cobra.Command{
		Use:   "lint -f PATH... [-o text|json|yaml]",
		Short: "Find the mistakes that break canary releases in Rollout, Istio, Service and Argo CD manifests",
		Long: `Checks manifests for what breaks canaries in practice: routes to subsets no
DestinationRule defines, weights not adding up to 100, a route without conditions
above others, a canary header route below the weighted route, a Rollout naming a
VirtualService route, DestinationRule subset or Service that is missing, Service
or Rollout selectors that match no pod template, and Argo CD Applications without
the ignoreDifferences for the fields Argo Rollouts changes. Each finding has its
file:line and a fix hint.

Exit codes: 0 no findings, 1 findings, 2 bad input.`,
		Example: `  graylane lint -f rollout-istio-deploy.yaml
  graylane lint -f out/ -f argocd-app.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return command.Lint(cmd.Context(), o, stdout, stderr)
		},
	}
	c.Flags().StringArrayVarP(&o.Files, "filename", "f", nil, "manifest file or folder (repeatable)")
	addOutputFlag(c, &o.Output)
	return c
}

package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/render/command"
)

func newConvertCmd(stdout, stderr io.Writer) *cobra.Command {
	var o command.ConvertOptions
	c := &cobra.Command{
		Use:   "convert -f DEPLOYMENTS... [--output-dir DIR] [flags]",
		Short: "Turn existing Deployments (and their Services) into canary Rollouts with Istio routing",
		Long: `Reads Deployments and Services and prints, for every Deployment, the objects a
Release would have: a Rollout with exactly the Deployment's pod template,
selector, replicas, labels, annotations and namespace; the Service that selects
its pods (kept as it is, or generated from the container ports); DestinationRule,
VirtualService, PodDisruptionBudget, and AnalysisTemplates / Argo CD Application
when --release gives those settings.

Exit codes: 0 converted, 2 bad input.`,
		Example: `  graylane convert -f k8s/ --output-dir rollouts/
  graylane convert -f deploy.yaml --layout services --steps 10,pause,50,pause=5m
  graylane convert -f k8s/ --release settings.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return command.Convert(cmd.Context(), o, stdout, stderr)
		},
	}
	f := c.Flags()
	f.StringArrayVarP(&o.Files, "filename", "f", nil, "Deployment/Service file or folder (repeatable)")
	f.StringVar(&o.Release, "release", "", "a Release file whose spec gives the settings (analysis, gateways, argocd, ...); its services are ignored")
	f.StringVar(&o.Name, "name", "", "name of the AnalysisTemplates and Argo CD Application (default: the --release name, else graylane)")
	f.StringVar(&o.Layout, "layout", "", "subsets (default) or services")
	f.StringVar(&o.Header, "header", "", "header that sends a request to the canary (default x-canary)")
	f.StringVar(&o.HeaderValue, "header-value", "", "value of that header (default true)")
	f.StringVar(&o.Steps, "steps", "", "canary steps, e.g. 10,pause,30,pause=5m,50 (default 10,pause,30,pause=5m,50,pause=5m)")
	f.BoolVar(&o.WorkloadRef, "workload-ref", false, "reference each Deployment (workloadRef) instead of copying its pod template")
	addWriteFlags(c, &o.WriteOptions)
	return c
}

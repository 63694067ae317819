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
		Long: `Reads Deployments and Services and prints, for every service, the objects a
Release would have: a Rollout with exactly the Deployment's pod template,
selector, replicas, labels, annotations and namespace; the Service that selects
its pods (kept as it is, or generated from the container ports); DestinationRule,
VirtualService, PodDisruptionBudget; a background analysis of the success rate
(Istio's standard metrics) that aborts a failing canary; and the Argo CD
Application when --release gives those settings.

Deployments behind the same Service (or, without one, with the same app label
and distinct version labels) are the versions of one service: they
become one Rollout whose template is the canary version's (default: the highest
version, semver-aware) and whose stable is another (default: the next highest),
and the judge compares the two. A new Rollout takes its first template as stable
at once: apply the output of --first-apply first, then the output without it.

Exit codes: 0 converted, 2 bad input.`,
		Example: `  graylane convert -f k8s/ --output-dir rollouts/
  graylane convert -f deploy.yaml --layout services --steps 10,pause,50,pause=5m
  graylane convert -f k8s/ --release settings.yaml
  graylane convert -f v1.yaml -f v2.yaml --first-apply | kubectl apply -f -
  graylane convert -f v1.yaml -f v2.yaml --canary-version appa=v2 | kubectl apply -f -`,
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
	f.BoolVar(&o.NoAnalysis, "no-analysis", false, "no analysis: the canaries progress by their steps alone, without automatic rollback")
	f.BoolVar(&o.Judge, "judge", false, "add the judge (canary vs stable, graylane.io/judge) to the analysis of services with one Deployment per version; needs the judge metric plugin on a cluster (graylane up runs it)")
	f.StringVar(&o.Prometheus, "prometheus", "", "the Prometheus the analyses query (default: the --release one, else http://prometheus.istio-system.svc:9090)")
	f.StringArrayVar(&o.CanaryVersions, "canary-version", nil, "[SERVICE=]VERSION: the version that becomes the canary, the Rollout's template (default: the highest; repeatable)")
	f.StringArrayVar(&o.StableVersions, "stable-version", nil, "[SERVICE=]VERSION: the version that is the stable (default: the highest of the others; repeatable)")
	f.BoolVar(&o.FirstApply, "first-apply", false, "give the Rollouts of services with one Deployment per version their stable version's template, for the first apply")
	addWriteFlags(c, &o.WriteOptions)
	return c
}

package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/render/command"
)

// addWriteFlags adds the flags of commands that generate manifests. -o is
// the output format, as everywhere; the folder is --output-dir / -d.
func addWriteFlags(c *cobra.Command, o *command.WriteOptions) {
	f := c.Flags()
	f.StringVarP(&o.OutputDir, "output-dir", "d", "", "write one file per object into this folder instead of stdout")
	f.BoolVar(&o.Kustomization, "kustomization", false, "also write a kustomization.yaml listing the files (needs --output-dir)")
	c.Flags().StringVarP(&o.Output, "output", "o", "text", "text or yaml: multi-document YAML; json: a v1 List (with --output-dir: the list of written files)")
}

func newRenderCmd(stdout, stderr io.Writer) *cobra.Command {
	var o command.RenderOptions
	c := &cobra.Command{
		Use:   "render -f RELEASE... [--output-dir DIR] [--layout subsets|services]",
		Short: "Generate the Rollout, Services, Istio routing, analysis, PDB and Argo CD objects of Releases",
		Long: `Reads Release descriptions (apiVersion: graylane.io/v1alpha1) and prints the
Kubernetes objects of each service's canary release: AnalysisTemplates, Service(s),
DestinationRule, VirtualService, PodDisruptionBudget, Rollout and, when configured,
the Argo CD Application. Output is deterministic.

Exit codes: 0 rendered, 2 bad input (located errors: file:line: field.path: message).`,
		Example: `  graylane render -f examples/kubernetes/seed001.yaml
  graylane render -f examples/kubernetes/ --output-dir out/ --kustomization`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return command.Render(cmd.Context(), o, stdout, stderr)
		},
	}
	c.Flags().StringArrayVarP(&o.Files, "filename", "f", nil, "Release file or folder (repeatable)")
	c.Flags().StringVar(&o.Layout, "layout", "", "override spec.layout: subsets or services")
	addWriteFlags(c, &o.WriteOptions)
	return c
}

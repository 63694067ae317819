// Command graylane is the Graylane CLI. This package only turns flags into
// option structs; the work is done in internal/.
//
// Exit codes (docs/cli.md; exitCode is the one mapping): 0 success (for
// route/simulate: the evaluation ran, whatever status it found), 1 a
// failure while running, 2 bad input (arguments, flag values, manifests,
// a 4xx answer of the runtime or the gate).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/route"
	routecmd "github.com/graylane/graylane/internal/route/command"
)

func main() {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		// A closed terminal stops `graylane up` cleanly; under nohup it runs on.
		sigs = append(sigs, syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the CLI and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "graylane: %v\n", err)
	return exitCode(err)
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "graylane",
		Short: "Gray releases for Kubernetes + Istio + Argo Rollouts",
		Long: `Graylane compiles one lane model to Argo Rollouts and Istio objects, and answers
"where will this request go?" offline from the manifests you will apply.

` + exitCodesHelp,
		Example: `  graylane up
  graylane route -f examples/seed004/ --url http://appb:8000/ --source-labels app=appa,version=v2
  graylane lane --help`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cli.InputError{Err: err} })
	root.AddCommand(newVersionCmd(stdout), newRouteCmd(stdout, stderr), newSimulateCmd(stdout, stderr),
		newUpCmd(stdout, stderr), newSampleCmd(stdout, stderr), newApplyCmd(stdout), newGetCmd(stdout), newGateCmd(stdout), newRolloutCmd(stdout), newLaneCmd(stdout),
		newRenderCmd(stdout, stderr), newConvertCmd(stdout, stderr), newLintCmd(stdout, stderr))
	root.AddCommand(newNacosCmd(stdout, stderr))
	root.AddCommand(newLogsCmd(stdout), newSuperviseCmd(), newSampleHostCmd(stderr))
	finishTree(root)
	return root
}

// exitCodesHelp ends the root's help; docs/cli.md says the same.
const exitCodesHelp = `Exit codes: 0 success; 1 a failure while running (a runtime or gate that cannot
be reached or answers 5xx, and the documented "ended Degraded/Aborted" and
"lint findings" cases); 2 bad input: arguments, flag values (ports out of
range, addresses that do not parse), manifests, and a 4xx answer of the runtime
or the gate. Every command follows them. "go run" reports every non-zero exit
as 1: use the built binary (make build) in scripts.`

func addOutputFlag(c *cobra.Command, p *string) {
	c.Flags().StringVarP(p, "output", "o", "text", "output format: text, json or yaml")
}

func addRequestFlags(c *cobra.Command, files *[]string, o *routecmd.RequestOptions) {
	f := c.Flags()
	f.StringArrayVarP(files, "filename", "f", nil, "manifest file or folder (YAML or JSON, repeatable)")
	f.StringVar(&o.URL, "url", "", "request URL, http://HOST[:PORT]/PATH?QUERY (required)")
	f.StringVarP(&o.Method, "request", "X", "GET", "HTTP method")
	f.StringArrayVarP(&o.Headers, "header", "H", nil, "request header 'Name: value' (repeatable; 'Host: x' sets the authority)")
	f.StringVar(&o.Gateway, "gateway", "", "the request arrives at this ingress gateway, NAMESPACE/NAME, or NAME when one namespace has it (default: from a sidecar in the mesh)")
	f.StringVar(&o.SourceLabels, "source-labels", "", "pod labels of the sending workload, k=v,k=v")
	f.StringVar(&o.SourceNamespace, "source-namespace", "", "namespace of the sending workload (default: default, or the gateway's namespace)")
	f.StringVar(&o.Outbound, "outbound-traffic-policy", route.AllowAnyName, "the mesh's outboundTrafficPolicy for a host that is neither a Service nor a ServiceEntry host: allow-any (it goes to itself, PassthroughCluster) or registry-only (502), as graylane up's flag")
}

func writeAny(w io.Writer, format string, v any) error {
	return cli.Write(w, format, v, func(io.Writer) error { return nil })
}

// printListening is cli.PrintListening (graylane-gate shares it).
func printListening(w io.Writer, format, addr string) { cli.PrintListening(w, format, addr) }

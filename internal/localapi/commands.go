package localapi

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/embedded"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
)

// ApplyOptions are the options of `graylane apply --local`.
type ApplyOptions struct {
	Files  []string
	Admin  string
	Output string
}

// Apply validates the files locally (so errors name file and line),
// refusing the Rollout features the runtime does not run and warning on
// stderr about the documents it does not run, then sends each file to the
// runtime.
func Apply(ctx context.Context, o ApplyOptions, stdout, stderr io.Writer) error {
	if err := cli.CheckFormat(o.Output); err != nil {
		return err
	}
	set, err := cli.Load(o.Files, stderr, manifest.DoingUp, nil)
	if err != nil {
		return err
	}
	if err := embedded.CheckRollouts(set); err != nil {
		return &cli.InputError{Err: err}
	}
	files, err := manifest.Files(o.Files...)
	if err != nil {
		return &cli.InputError{Err: err}
	}
	c := New(Admin(o.Admin))
	total := &embedded.ApplyResult{}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			return &cli.InputError{Err: err}
		}
		var res embedded.ApplyResult
		if err := c.Apply(ctx, f, body, &res); err != nil {
			return fmt.Errorf("apply %s: %w", f, err)
		}
		total.Created = append(total.Created, res.Created...)
		total.Configured = append(total.Configured, res.Configured...)
		total.Unchanged = append(total.Unchanged, res.Unchanged...)
		total.Ignored = append(total.Ignored, res.Ignored...)
		total.Findings = append(total.Findings, res.Findings...)
	}
	return cli.Write(stdout, o.Output, total, func(w io.Writer) error {
		for _, group := range []struct {
			verb string
			refs []string
		}{{"created", total.Created}, {"configured", total.Configured}, {"unchanged", total.Unchanged}} {
			for _, ref := range group.refs {
				fmt.Fprintf(w, "%s %s\n", ref, group.verb)
			}
		}
		for _, f := range total.Findings {
			fmt.Fprintf(w, "finding: %s\n", f)
		}
		return nil
	})
}

// GetOptions are the options of `graylane get KIND --local`.
type GetOptions struct {
	Kind   string // workloads, services, routes
	Admin  string
	Output string
}

// Get lists what the runtime runs.
func Get(ctx context.Context, o GetOptions, stdout io.Writer) error {
	if err := cli.CheckFormat(o.Output); err != nil {
		return err
	}
	c := New(Admin(o.Admin))
	switch o.Kind {
	case "workloads", "workload", "pods":
		var ws []embedded.PodStatus
		if err := c.Get(ctx, "/v1/workloads", &ws); err != nil {
			return err
		}
		return cli.Write(stdout, o.Output, ws, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POD\tWORKLOAD\tREADY\tSTATE\tRESTARTS\tADDRESS\tSIDECAR\tLABELS")
			for _, p := range ws {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%d\t%s\t%s\t%s\n", p.Name, p.Workload, p.Ready, p.State, p.Restarts, p.Address, p.Sidecar, labels.Set(p.Labels).String())
			}
			return tw.Flush()
		})
	case "services", "service", "svc":
		var ss []embedded.ServiceStatus
		if err := c.Get(ctx, "/v1/services", &ss); err != nil {
			return err
		}
		return cli.Write(stdout, o.Output, ss, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "HOST\tPORTS\tENDPOINTS")
			for _, s := range ss {
				ports := make([]string, len(s.Ports))
				for i, p := range s.Ports {
					ports[i] = strconv.Itoa(int(p))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Host, strings.Join(ports, ","), strings.Join(s.Endpoints, ","))
			}
			return tw.Flush()
		})
	case "routes", "route":
		var hs []route.HostSummary
		if err := c.Get(ctx, "/v1/routes", &hs); err != nil {
			return err
		}
		return cli.Write(stdout, o.Output, hs, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SOURCE\tHOST\tVIRTUALSERVICES\tROUTES")
			for _, h := range hs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", h.Source, h.Host, strings.Join(h.VirtualServices, ","), h.Routes)
			}
			return tw.Flush()
		})
	}
	return &cli.InputError{Err: fmt.Errorf("get %q: want workloads, services or routes", o.Kind)}
}

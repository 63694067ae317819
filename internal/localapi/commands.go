// Package localapi holds the CLI commands that act on a running `graylane
// up` (`--local`): apply, get, logs, rollout and lane. It checks their
// options, talks to the runtime through the admin API client
// (internal/adminapi) and presents the answers as tables, text, JSON or
// YAML.
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

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/cli/load"
	"github.com/graylane/graylane/internal/manifest"
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
	set, err := load.Load(o.Files, stderr, manifest.DoingUp, nil)
	if err != nil {
		return err
	}
	if err := manifest.CheckRollouts(set); err != nil {
		return &cli.InputError{Err: err}
	}
	files, err := manifest.Files(o.Files...)
	if err != nil {
		return &cli.InputError{Err: err}
	}
	c := adminapi.New(adminapi.Admin(o.Admin))
	total := &adminapi.ApplyResult{}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			return &cli.InputError{Err: err}
		}
		res, err := c.Apply(ctx, f, body)
		if err != nil {
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
	c := adminapi.New(adminapi.Admin(o.Admin))
	switch o.Kind {
	case "workloads", "workload", "pods":
		ws, err := c.Workloads(ctx)
		if err != nil {
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
		ss, err := c.Services(ctx)
		if err != nil {
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
		hs, err := c.Routes(ctx)
		if err != nil {
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

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

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
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
	case "serviceentries", "serviceentry", "se":
		ses, err := c.ServiceEntries(ctx)
		if err != nil {
			return err
		}
		return cli.Write(stdout, o.Output, ses, func(w io.Writer) error { return writeServiceEntries(w, ses) })
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
	return &cli.InputError{Err: fmt.Errorf("get %q: want workloads, services, serviceentries or routes", o.Kind)}
}

// writeServiceEntries is the table of get serviceentries: one line per
// entry with its hosts, ports (number/protocol), resolution and endpoint
// addresses.
func writeServiceEntries(w io.Writer, ses []*networkingv1.ServiceEntry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHOSTS\tPORTS\tRESOLUTION\tENDPOINTS")
	for _, se := range ses {
		var ports, eps []string
		for _, p := range se.Spec.GetPorts() {
			ports = append(ports, strconv.Itoa(int(p.GetNumber()))+"/"+p.GetProtocol())
		}
		for _, e := range se.Spec.GetEndpoints() {
			eps = append(eps, e.GetAddress())
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\n", se.Namespace, se.Name, strings.Join(se.Spec.GetHosts(), ","), strings.Join(ports, ","),
			se.Spec.GetResolution().String(), strings.Join(eps, ","))
	}
	return tw.Flush()
}

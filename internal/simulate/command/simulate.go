package command

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/cli/load"
	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/rollouttraffic"
	"github.com/graylane/graylane/internal/route"
	routecmd "github.com/graylane/graylane/internal/route/command"
	"github.com/graylane/graylane/internal/simulate"
)

// SimulateOptions are the options of `graylane simulate`.
type SimulateOptions struct {
	Files        []string
	Request      routecmd.RequestOptions
	Calls        string
	Propagate    []string
	Requests     int
	Seed         uint64
	VersionLabel string
	Output       string
	// RolloutSteps are --rollout-step values (rollouttraffic.AtSteps).
	RolloutSteps []string
}

// SimulateReport is the result of `graylane simulate`.
type SimulateReport struct {
	URL     string `json:"url"`
	Gateway string `json:"gateway"`
	// RolloutSteps are the --rollout-step states applied.
	RolloutSteps []rollouttraffic.Step `json:"rolloutSteps,omitempty"`
	simulate.Report
}

// Simulate replays requests along the call graph and writes the report.
func Simulate(_ context.Context, o SimulateOptions, stdout, stderr io.Writer) error {
	if err := cli.CheckFormat(o.Output); err != nil {
		return err
	}
	if o.Requests < 1 || o.Requests > 10_000_000 {
		return cli.InputErrorf("--requests %d: want 1..10000000", o.Requests)
	}
	calls, err := simulate.ParseCalls(o.Calls)
	if err != nil {
		return cli.InputErrorf("--calls: %v", err)
	}
	req, explicit, err := routecmd.BuildRequest(o.Request)
	if err != nil {
		return err
	}
	set, err := load.Load(o.Files, stderr, manifest.DoingSimulate, nil)
	if err != nil {
		return err
	}
	lanes, err := expand.Manifests(set)
	if err != nil {
		return &cli.InputError{Err: err}
	}
	set = lanes.Set
	in := expand.RouteInput(set)
	if in.Outbound, err = o.Request.OutboundPolicy(); err != nil {
		return err
	}
	placed, err := expand.AtRolloutSteps(set, &in, o.RolloutSteps)
	if err != nil {
		return &cli.InputError{Err: err}
	}
	t := route.Compile(in)
	notes := rollouttraffic.Notes(placed)
	note, err := routecmd.ResolveGateway(t, req, o.Request)
	if err != nil {
		return err
	}
	if note != "" {
		notes = append(notes, note)
	}
	if note := routecmd.GatewayPort(t, req, explicit); note != "" {
		notes = append(notes, note)
	}
	svcs, workloads := expand.StepInventory(set, in, placed, o.VersionLabel)
	opts := simulate.Options{
		Entry: *req, Calls: calls, Propagate: o.Propagate, Requests: o.Requests, Seed: o.Seed, VersionLabel: o.VersionLabel,
	}
	lanes.SimulateOptions(&opts, time.Now())
	rep, err := simulate.Run(t, svcs, workloads, opts)
	if err != nil {
		return &cli.InputError{Err: fmt.Errorf("--calls: %w", err)}
	}
	for _, f := range t.Findings {
		if f.Severity >= route.Warning {
			notes = append(notes, f.String())
		}
	}
	rep.Findings = append(notes, rep.Findings...)
	gw := req.Source.Gateway
	if gw == "" {
		gw = route.MeshSource
	}
	out := &SimulateReport{URL: o.Request.URL, Gateway: gw, RolloutSteps: rollouttraffic.Steps(placed), Report: *rep}
	return cli.Write(stdout, o.Output, out, out.text)
}

func (r *SimulateReport) text(w io.Writer) error {
	var b strings.Builder
	from := "the mesh"
	if r.Gateway != route.MeshSource {
		from = "gateway " + r.Gateway
	}
	fmt.Fprintf(&b, "%d requests to %s from %s\n\n", r.Requests, r.URL, from)
	width := 0
	for _, p := range r.Paths {
		width = max(width, len(p.Path))
	}
	for _, p := range r.Paths {
		mark := ""
		switch {
		case p.Failed:
			mark = "  FAILED"
		case p.OffLane != "":
			mark = "  OFF-LANE " + p.Lane + ": " + p.OffLane
		case p.Mixed:
			mark = "  MIXED"
		case p.Lane != "":
			mark = "  lane " + p.Lane
		}
		fmt.Fprintf(&b, "  %-*s  %.4f%s\n", width, p.Path, p.Fraction, mark)
	}
	fmt.Fprintf(&b, "\nmixedFraction: %.4f\nfailedFraction: %.4f\n", r.MixedFraction, r.FailedFraction)
	if r.OffLaneFraction > 0 || hasLanes(r.Paths) {
		fmt.Fprintf(&b, "offLaneFraction: %.4f\n", r.OffLaneFraction)
	}
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "finding: %s\n", f)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func hasLanes(ps []simulate.PathStat) bool {
	for _, p := range ps {
		if p.Lane != "" {
			return true
		}
	}
	return false
}

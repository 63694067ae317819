// Package command is the shell of `graylane render`, `convert` and `lint`:
// it loads manifests, calls the pure cores (internal/render,
// internal/lint) and writes manifests, files or findings.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/cli/load"
	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/lint"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/render"
	"github.com/graylane/graylane/internal/route"
)

// WriteOptions say where generated objects go.
type WriteOptions struct {
	// OutputDir, when set, gets one file per object instead of stdout.
	OutputDir string
	// Kustomization adds a kustomization.yaml to OutputDir.
	Kustomization bool
	// Output is text or yaml (multi-document YAML on stdout) or json (a v1
	// List); with OutputDir it is the format of the list of written files.
	Output string
}

// RenderOptions are the flags of `graylane render`.
type RenderOptions struct {
	Files  []string
	Layout string // overrides spec.layout of every Release when set
	WriteOptions
}

// ConvertOptions are the flags of `graylane convert`.
type ConvertOptions struct {
	Files       []string
	Release     string // a Release file whose spec gives the settings
	Name        string
	Layout      string
	Header      string
	HeaderValue string
	Steps       string // "10,pause,30,pause=5m,50"
	WorkloadRef bool
	// NoAnalysis leaves the default analysis (and the --release one) out;
	// Judge adds the judge where versions are labelled.
	NoAnalysis bool
	Judge      bool
	// Prometheus is the address the analyses query ("" = the default).
	Prometheus string
	// CanaryVersions and StableVersions are [SERVICE=]VERSION choices for
	// services with one Deployment per version.
	CanaryVersions, StableVersions []string
	// FirstApply prints those services' Rollouts at their stable version.
	FirstApply bool
	WriteOptions
}

// LintOptions are the flags of `graylane lint`.
type LintOptions struct {
	Files  []string
	Output string
	// Local counts the Rollout features `graylane up` does not run (check
	// local, severity info) as findings that fail (exit code 1).
	Local bool
}

// FindingsError is returned by Lint when it found errors or warnings (exit
// code 1); N counts them.
type FindingsError = cli.FindingsError

func checkLayout(l string) error {
	if l != "" && l != v1alpha1.LayoutSubsets && l != v1alpha1.LayoutServices {
		return &cli.InputError{Err: fmt.Errorf("--layout %q: want subsets or services", l)}
	}
	return nil
}

// Render renders every Release of the input.
func Render(_ context.Context, o RenderOptions, stdout, stderr io.Writer) error {
	if err := cli.CheckFormat(o.Output); err != nil {
		return err
	}
	if err := checkLayout(o.Layout); err != nil {
		return err
	}
	set, err := load.Load(o.Files, stderr, manifest.DoingRender, nil)
	if err != nil {
		return err
	}
	rels := render.Releases(set)
	hasLanes := len(set.Of("Lane")) > 0
	if len(rels) == 0 && !hasLanes {
		return &cli.InputError{Err: errors.New("no Release or Lane (apiVersion: graylane.io/v1alpha1) in the input; for Deployments use graylane convert")}
	}
	for _, r := range rels {
		if o.Layout != "" {
			r.Spec.Layout = o.Layout
		}
	}
	objs, err := render.Render(rels...)
	if err != nil {
		return &cli.InputError{Err: err}
	}
	if hasLanes {
		// A Lane's output is the objects it adds or changes: apply them
		// beside (after) the input manifests.
		ex, err := expand.Manifests(set)
		if err != nil {
			return &cli.InputError{Err: err}
		}
		for _, c := range ex.Output.Changed {
			objs = append(objs, render.Object{APIVersion: c.APIVersion, Kind: c.Kind, Namespace: c.Namespace, Name: c.Name, Value: c.Typed})
		}
	}
	return write(objs, nil, o.WriteOptions, stdout)
}

// Convert converts the Deployments of the input (with their Services).
func Convert(_ context.Context, o ConvertOptions, stdout, stderr io.Writer) error {
	if err := cli.CheckFormat(o.Output); err != nil {
		return err
	}
	if err := checkLayout(o.Layout); err != nil {
		return err
	}
	opts, err := convertSettings(o, stderr)
	if err != nil {
		return err
	}
	set, err := load.Load(o.Files, stderr, manifest.DoingConvert, nil)
	if err != nil {
		return err
	}
	if len(set.Of("Deployment")) == 0 {
		return &cli.InputError{Err: errors.New("no Deployment (apiVersion: apps/v1) in the input")}
	}
	conv, err := render.Convert(set, opts)
	if err != nil {
		return &cli.InputError{Err: err}
	}
	if err := convertNotes(stderr, conv, opts); err != nil {
		return err
	}
	return write(conv.Objects, conv.Services, o.WriteOptions, stdout)
}

// convertSettings builds the conversion settings from --release and the flags.
func convertSettings(o ConvertOptions, stderr io.Writer) (render.ConvertOptions, error) {
	opts := render.ConvertOptions{Name: o.Name, WorkloadRef: o.WorkloadRef, NoAnalysis: o.NoAnalysis, Judge: o.Judge, Prometheus: o.Prometheus, FirstApply: o.FirstApply}
	if o.NoAnalysis && o.Prometheus != "" {
		return opts, &cli.InputError{Err: errors.New("--prometheus: there is no analysis with --no-analysis")}
	}
	for _, f := range []struct {
		flag string
		in   []string
		out  *[]render.VersionChoice
	}{{"--canary-version", o.CanaryVersions, &opts.Canary}, {"--stable-version", o.StableVersions, &opts.Stable}} {
		for _, v := range f.in {
			c, err := parseVersionChoice(v)
			if err != nil {
				return opts, &cli.InputError{Err: fmt.Errorf("%s %q: %w", f.flag, v, err)}
			}
			*f.out = append(*f.out, c)
		}
	}
	if o.Release != "" {
		set, err := load.Load([]string{o.Release}, stderr, manifest.DoingConvert, nil)
		if err != nil {
			return opts, err
		}
		rs := set.Of("Release")
		if len(rs) != 1 {
			return opts, &cli.InputError{Err: fmt.Errorf("--release %s: want exactly one Release, found %d", o.Release, len(rs))}
		}
		r := rs[0].Typed.(*v1alpha1.Release)
		opts.Spec = r.DeepCopy().Spec
		if opts.Name == "" {
			opts.Name = r.Name
		}
	}
	s := &opts.Spec
	if o.Layout != "" {
		s.Layout = o.Layout
	}
	if o.Header != "" || o.HeaderValue != "" {
		if s.HeaderRoute == nil {
			s.HeaderRoute = &v1alpha1.HeaderRoute{}
		}
		s.HeaderRoute.Header = cmpOr(o.Header, s.HeaderRoute.Header)
		s.HeaderRoute.Value = cmpOr(o.HeaderValue, s.HeaderRoute.Value)
	}
	if o.Steps != "" {
		steps, err := ParseSteps(o.Steps)
		if err != nil {
			return opts, &cli.InputError{Err: fmt.Errorf("--steps: %w", err)}
		}
		s.Steps = steps
	}
	return opts, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var weightStep = regexp.MustCompile(`^[0-9]+$`)

// ParseSteps reads "10,pause,30,pause=5m,50,analysis": a number is
// setWeight, pause waits for promotion, pause=DURATION waits that long,
// analysis runs every configured analysis.
func ParseSteps(s string) ([]v1alpha1.Step, error) {
	var out []v1alpha1.Step
	for _, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		switch {
		case weightStep.MatchString(tok):
			n, err := strconv.ParseInt(tok, 10, 32)
			if err != nil || n > 100 {
				return nil, fmt.Errorf("weight %s: want 0 to 100", tok)
			}
			w := int32(n)
			out = append(out, v1alpha1.Step{SetWeight: &w})
		case tok == "pause":
			out = append(out, v1alpha1.Step{Pause: &v1alpha1.Pause{}})
		case strings.HasPrefix(tok, "pause="):
			out = append(out, v1alpha1.Step{Pause: &v1alpha1.Pause{Duration: strings.TrimPrefix(tok, "pause=")}})
		case tok == "analysis":
			out = append(out, v1alpha1.Step{Analysis: &v1alpha1.StepAnalysis{}})
		default:
			return nil, fmt.Errorf("step %q: want a weight (10), pause, pause=5m or analysis", tok)
		}
	}
	return out, nil
}

// Lint prints the findings about the input. Errors and warnings are a
// FindingsError (exit code 1); information (the Rollout features `graylane
// up` does not run) is printed but fails only with o.Local.
func Lint(_ context.Context, o LintOptions, stdout, stderr io.Writer) error {
	if err := cli.CheckFormat(o.Output); err != nil {
		return err
	}
	set, err := load.Load(o.Files, stderr, manifest.DoingLint, lint.Reads)
	if err != nil {
		return err
	}
	fs := lint.Lint(set)
	failing := 0
	for _, f := range fs {
		if f.Severity >= route.Warning || (o.Local && f.Check == lint.CheckLocal) {
			failing++
		}
	}
	err = cli.WriteFindings(stdout, o.Output, fs, func(f lint.Finding) string { return fmt.Sprintf("%s: %s", f.Severity, f) })
	if err != nil {
		return err
	}
	if failing > 0 {
		return &FindingsError{N: failing}
	}
	return nil
}

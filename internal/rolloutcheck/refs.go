package rolloutcheck

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// AnalysisUse is one place where a Rollout starts analysis runs, as the
// controller's getReferencedRolloutAnalyses lists them.
type AnalysisUse struct {
	// Path is the analysis field, e.g. spec.strategy.canary.steps[2].analysis.
	Path string
	// Background: the run goes on alongside the steps (canary.analysis),
	// so its metrics may measure indefinitely.
	Background bool
	Analysis   *rollouts.RolloutAnalysis
}

// Analyses lists the analysis runs a Rollout starts: each analysis step,
// the background analysis, blue-green's pre- and post-promotion analyses.
func Analyses(ro *rollouts.Rollout) []AnalysisUse {
	var out []AnalysisUse
	sp := field.NewPath("spec", "strategy")
	if c := ro.Spec.Strategy.Canary; c != nil {
		for i, s := range c.Steps {
			if s.Analysis != nil {
				out = append(out, AnalysisUse{Path: sp.Child("canary", "steps").Index(i).Child("analysis").String(), Analysis: s.Analysis})
			}
		}
		if c.Analysis != nil {
			out = append(out, AnalysisUse{Path: sp.Child("canary", "analysis").String(), Background: true, Analysis: &c.Analysis.RolloutAnalysis})
		}
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		for _, a := range []struct {
			name string
			a    *rollouts.RolloutAnalysis
		}{{"prePromotionAnalysis", bg.PrePromotionAnalysis}, {"postPromotionAnalysis", bg.PostPromotionAnalysis}} {
			if a.a != nil {
				out = append(out, AnalysisUse{Path: sp.Child("blueGreen", a.name).String(), Analysis: a.a})
			}
		}
	}
	return out
}

// Template is an analysis template a use resolved to (nested templates
// included).
type Template struct {
	// Ref is "AnalysisTemplate NAME" or "ClusterAnalysisTemplate NAME".
	Ref  string
	Spec *rollouts.AnalysisTemplateSpec
}

// Run returns what is wrong with the run a use would start from its
// resolved templates, as ValidateAnalysisTemplatesWithType and the analysis
// controller find it (NewAnalysisRunFromTemplates, ValidateMetrics after
// the arguments are substituted): metric names unique over the templates,
// one value per argument, every argument resolved, and, except in the
// background, no metric that measures forever.
func Run(use AnalysisUse, templates []Template) []string {
	var out []string
	owner := map[string]string{}
	for _, t := range templates {
		for _, m := range t.Spec.Metrics {
			if o, ok := owner[m.Name]; ok {
				out = append(out, fmt.Sprintf("%s and %s both have a metric named %q: one run cannot hold both", o, t.Ref, m.Name))
			}
			owner[m.Name] = t.Ref
		}
	}
	values, msgs := runArgs(use, templates)
	out = append(out, msgs...)
	for _, t := range templates {
		for i := range t.Spec.Metrics {
			for _, tag := range unknownTags(&t.Spec.Metrics[i], values) {
				out = append(out, fmt.Sprintf("%s: metric %q uses {{%s}}, which no argument of the templates provides: the run ends in Error", t.Ref, t.Spec.Metrics[i].Name, tag))
			}
			m := resolve(&t.Spec.Metrics[i], values)
			mp := field.NewPath("metrics").Index(i)
			for _, e := range Metric(m, mp) {
				out = append(out, fmt.Sprintf("%s: %s with the Rollout's arguments: %s", t.Ref, e.Field, e.ErrorBody()))
			}
			if use.Background || !known(m) {
				continue
			}
			if m.EffectiveCount() == nil {
				out = append(out, fmt.Sprintf("%s: metric %q has an interval and no count: it measures forever, so this analysis never completes (only a background analysis may)", t.Ref, m.Name))
			}
		}
	}
	return out
}

// runArgs merges the templates' arguments with the ones the use passes
// (flattenArgs, MergeArgs, ResolveArgs). It returns every declared
// argument with its literal value, or nil when the value is not known here
// (valueFrom: a pod template hash, a field, a Secret).
func runArgs(use AnalysisUse, templates []Template) (map[string]*string, []string) {
	var out []string
	values := map[string]*string{}
	resolved := map[string]bool{}
	var order []string
	for _, t := range templates {
		for _, a := range t.Spec.Args {
			if !slices.Contains(order, a.Name) {
				order = append(order, a.Name)
			}
			if a.Value != nil {
				if v := values[a.Name]; v != nil && *v != *a.Value {
					out = append(out, fmt.Sprintf("argument %q has two values in the templates: %q and %q (%s)", a.Name, *v, *a.Value, t.Ref))
				}
				values[a.Name] = a.Value
			} else if _, ok := values[a.Name]; !ok {
				values[a.Name] = nil // declared, value not known here
			}
			resolved[a.Name] = resolved[a.Name] || a.Value != nil || a.ValueFrom != nil
		}
	}
	for _, a := range use.Analysis.Args {
		if !slices.Contains(order, a.Name) {
			continue // an argument no template declares is dropped, as Argo does
		}
		resolved[a.Name] = true
		if a.ValueFrom == nil {
			v := a.Value
			values[a.Name] = &v
		} else {
			values[a.Name] = nil
		}
	}
	for _, n := range order {
		if !resolved[n] {
			out = append(out, fmt.Sprintf("argument %q has no value: give it in %s.args", n, use.Path))
		}
	}
	return values, out
}

// resolve returns a copy of m with the known argument values put into the
// fields ValidateMetric reads.
func resolve(m *rollouts.Metric, values map[string]*string) *rollouts.Metric {
	c := m.DeepCopy()
	sub := func(s string) string {
		for name, v := range values {
			if v == nil {
				continue
			}
			s = strings.ReplaceAll(s, "{{args."+name+"}}", *v)
			s = strings.ReplaceAll(s, "{{ args."+name+" }}", *v)
		}
		return s
	}
	for _, p := range []**intstr.IntOrString{&c.Count, &c.FailureLimit, &c.InconclusiveLimit, &c.ConsecutiveErrorLimit, &c.ConsecutiveSuccessLimit} {
		if *p != nil && (*p).Type == intstr.String {
			v := intstr.Parse(sub((*p).StrVal))
			*p = &v
		}
	}
	c.Interval = rollouts.DurationString(sub(string(c.Interval)))
	c.InitialDelay = rollouts.DurationString(sub(string(c.InitialDelay)))
	return c
}

// unknownTags lists the {{...}} tags of a metric that are not arguments of
// the run: Argo substitutes every tag of the metric's JSON and fails on the
// others (templateutil.ResolveQuotedArgs).
func unknownTags(m *rollouts.Metric, values map[string]*string) []string {
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	var out []string
	rest := string(b)
	for {
		_, after, ok := strings.Cut(rest, "{{")
		if !ok {
			return out
		}
		tag, tail, ok := strings.Cut(after, "}}")
		if !ok {
			return out
		}
		rest = tail
		name, isArg := strings.CutPrefix(strings.TrimSpace(tag), "args.")
		if _, declared := values[name]; !isArg || !declared {
			out = append(out, tag)
		}
	}
}

// known reports whether the count and interval of m no longer depend on
// arguments.
func known(m *rollouts.Metric) bool {
	return !hasArgs(string(m.Interval)) && (m.Count == nil || m.Count.Type == intstr.Int || !hasArgs(m.Count.StrVal))
}

package lint

import (
	"fmt"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"

	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/rolloutcheck"
	"github.com/graylane/graylane/internal/route"
)

// analyses checks the analysis runs a Rollout starts: every template it
// names (and every template those include) is in the input, and the run
// made of them is one Argo Rollouts can start and finish (rolloutcheck.Run).
func (l *linter) analyses(o *manifest.Object, ro *rollouts.Rollout) {
	for _, use := range rolloutcheck.Analyses(ro) {
		var found []rolloutcheck.Template
		missing := false
		seen := map[string]bool{}
		for i, ref := range use.Analysis.Templates {
			path := fmt.Sprintf("%s.templates[%d]", use.Path, i)
			ts, err := l.templates(ref, o.Namespace, seen)
			if err != "" {
				l.add(CheckAnalysisRef, route.Error, o, path+".templateName", err,
					"add the template to the input, or fix templateName (clusterScope: true names a ClusterAnalysisTemplate)")
				missing = true
				continue
			}
			found = append(found, ts...)
		}
		if missing {
			continue
		}
		for _, msg := range rolloutcheck.Run(use, found) {
			l.add(CheckAnalysisRef, route.Error, o, use.Path, msg,
				"Argo Rollouts ends this analysis in Error (or marks the Rollout InvalidSpec): fix the templates or the Rollout's analysis args")
		}
	}
}

// templates resolves one template reference and the templates it includes
// (spec.templates), as the controller's getReferencedAnalysisTemplatesFromRef
// does. A template already in seen is left out, as FilterUniqueTemplates
// does (and a template including itself ends).
func (l *linter) templates(ref rollouts.AnalysisTemplateRef, ns string, seen map[string]bool) ([]rolloutcheck.Template, string) {
	var t rolloutcheck.Template
	if ref.ClusterScope {
		o := l.cat[ref.TemplateName]
		if o == nil {
			return nil, fmt.Sprintf("ClusterAnalysisTemplate %s is not in the input", ref.TemplateName)
		}
		t = rolloutcheck.Template{Ref: o.Ref(), Spec: &o.Typed.(*rollouts.ClusterAnalysisTemplate).Spec}
	} else {
		o := l.at[key(ns, ref.TemplateName)]
		if o == nil {
			return nil, fmt.Sprintf("AnalysisTemplate %s/%s is not in the input", ns, ref.TemplateName)
		}
		t = rolloutcheck.Template{Ref: o.Ref(), Spec: &o.Typed.(*rollouts.AnalysisTemplate).Spec}
	}
	if seen[t.Ref] {
		return nil, ""
	}
	seen[t.Ref] = true
	out := []rolloutcheck.Template{t}
	for _, inner := range t.Spec.Templates {
		ts, err := l.templates(inner, ns, seen)
		if err != "" {
			return nil, err + " (included by " + t.Ref + ")"
		}
		out = append(out, ts...)
	}
	return out, ""
}

// local reports the features of a Rollout that `graylane up` does not run,
// as information: they work on a cluster.
func (l *linter) local(o *manifest.Object, ro *rollouts.Rollout) {
	for _, g := range rolloutcheck.NotRunLocally(ro) {
		l.add(CheckLocal, route.Info, o, g.Path, g.Message(), g.Hint+" to run it with graylane up")
	}
}

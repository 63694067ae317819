// Package lint finds, in a set of loaded manifests, the mistakes that break
// canary releases with Argo Rollouts and Istio in practice: routes to
// subsets that do not exist, negative or all-zero weights, routes that can
// never match, a Rollout pointing at routes, subsets, Services or analysis
// templates that are missing, Services selecting no pods, and Argo CD
// Applications that would undo what Argo Rollouts changes. It also lists,
// as information, the Rollout features `graylane up` does not run. Every
// finding has its file:line and a fix hint.
//
// It is pure: a manifest.Set in, findings out.
package lint

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/render"
	"github.com/graylane/graylane/internal/route"
)

// Checks, the names findings carry in Check.
const (
	CheckRouting     = "routing"      // from the routing engine: unknown subsets, weights, rejected objects
	CheckRolloutRef  = "rollout-ref"  // Rollout names a VirtualService route, DestinationRule, subset or Service that is missing or does not fit
	CheckAnalysisRef = "analysis-ref" // Rollout names an analysis template that is missing, or whose run Argo Rollouts cannot start or finish
	CheckCatchAll    = "catch-all"    // a route without conditions above other routes
	CheckHeaderOrder = "header-order" // a canary header route below the weighted route
	CheckSelector    = "selector"     // a Service selector that matches no pod template
	CheckArgoCD      = "argocd"       // an Application lacks ignoreDifferences for fields Argo Rollouts changes
	// CheckLocal findings (severity info) are Argo Rollouts features that
	// `graylane up` does not run; they work on a cluster.
	CheckLocal = "local"
)

// Finding is one problem.
type Finding struct {
	Check    string         `json:"check"`
	Severity route.Severity `json:"severity"`
	// Object is "Kind namespace/name".
	Object string `json:"object"`
	// Path is the field path inside Object.
	Path string `json:"path,omitempty"`
	// Where is "file:line".
	Where   string `json:"where"`
	Message string `json:"message"`
	Hint    string `json:"hint"`
}

// String renders "file:line: Kind ns/name: path: message (hint: ...)".
func (f Finding) String() string {
	s := route.Finding{Object: f.Object, Path: f.Path, Where: f.Where, Message: f.Message}.String()
	return s + "\n    hint: " + f.Hint
}

// linter holds the set and its objects by kind and namespace/name.
type linter struct {
	set   *manifest.Set
	vs    map[string]*manifest.Object
	dr    map[string]*manifest.Object
	svc   map[string]*manifest.Object
	at    map[string]*manifest.Object // AnalysisTemplates by namespace/name
	cat   map[string]*manifest.Object // ClusterAnalysisTemplates by name
	out   []Finding
	apps  []app
	pods  map[string][]podLabels // namespace -> pod templates of workloads
	table *route.Table
}

type app struct {
	obj *manifest.Object
	app *render.Application
}

type podLabels struct {
	ref    string
	labels map[string]string
}

// experimentPods are the pod templates of a canary Rollout's experiment
// steps whose templates relabel their pods, as Argo Rollouts builds them
// (rollout/experiment.go GetExperimentFromTemplate): the Rollout's pod
// template (specRef canary or stable; the manifests hold one) with the
// step template's metadata.labels set over its labels. A preview Service
// selects those pods (argo-rollouts examples/rollout-canary-preview.yaml).
func experimentPods(o *manifest.Object, r *rollouts.Rollout) []podLabels {
	if r.Spec.Strategy.Canary == nil {
		return nil
	}
	var out []podLabels
	for i, step := range r.Spec.Strategy.Canary.Steps {
		if step.Experiment == nil {
			continue
		}
		for _, tmpl := range step.Experiment.Templates {
			if len(tmpl.Metadata.Labels) == 0 {
				continue // the Rollout's own labels, already listed
			}
			pl := maps.Clone(r.Spec.Template.Labels)
			if pl == nil {
				pl = map[string]string{}
			}
			maps.Copy(pl, tmpl.Metadata.Labels)
			out = append(out, podLabels{fmt.Sprintf("%s experiment template %s (spec.strategy.canary.steps[%d])", o.Ref(), tmpl.Name, i), pl})
		}
	}
	return out
}

// Lint returns every finding about the set, ordered by file and line.
func Lint(set *manifest.Set) []Finding {
	l := &linter{set: set, vs: map[string]*manifest.Object{}, dr: map[string]*manifest.Object{}, svc: map[string]*manifest.Object{},
		at: map[string]*manifest.Object{}, cat: map[string]*manifest.Object{}, pods: map[string][]podLabels{}}
	l.index()
	l.routing()
	for _, o := range set.Of("VirtualService") {
		l.catchAll(o, o.Typed.(*networkingv1.VirtualService))
	}
	for _, o := range set.Of("Rollout") {
		ro := o.Typed.(*rollouts.Rollout)
		l.rollout(o, ro)
		l.analyses(o, ro)
		l.local(o, ro)
	}
	for _, o := range set.Of("Service") {
		l.serviceSelector(o, o.Typed.(*corev1.Service))
	}
	l.argoCD()
	slices.SortStableFunc(l.out, func(a, b Finding) int {
		af, al := splitWhere(a.Where)
		bf, bl := splitWhere(b.Where)
		return cmp.Or(cmp.Compare(af, bf), cmp.Compare(al, bl), cmp.Compare(a.Path, b.Path), cmp.Compare(a.Message, b.Message))
	})
	return l.out
}

func splitWhere(w string) (string, int) {
	i := strings.LastIndexByte(w, ':')
	if i < 0 {
		return w, 0
	}
	n := 0
	fmt.Sscanf(w[i+1:], "%d", &n)
	return w[:i], n
}

func key(ns, name string) string { return ns + "/" + name }

// Reads reports whether lint reads an object the manifest loader leaves
// undecoded: Argo CD Applications.
func Reads(o *manifest.Object) bool {
	return o.Kind == "Application" && strings.HasPrefix(o.APIVersion, "argoproj.io/")
}

func (l *linter) index() {
	for _, o := range l.set.Objects {
		switch t := o.Typed.(type) {
		case *networkingv1.VirtualService:
			l.vs[key(o.Namespace, o.Name)] = o
		case *networkingv1.DestinationRule:
			l.dr[key(o.Namespace, o.Name)] = o
		case *corev1.Service:
			l.svc[key(o.Namespace, o.Name)] = o
		case *rollouts.AnalysisTemplate:
			l.at[key(o.Namespace, o.Name)] = o
		case *rollouts.ClusterAnalysisTemplate:
			l.cat[o.Name] = o
		case *appsv1.Deployment:
			l.pods[o.Namespace] = append(l.pods[o.Namespace], podLabels{o.Ref(), t.Spec.Template.Labels})
		case *rollouts.Rollout:
			if t.Spec.WorkloadRef == nil {
				l.pods[o.Namespace] = append(l.pods[o.Namespace], podLabels{o.Ref(), t.Spec.Template.Labels})
				l.pods[o.Namespace] = append(l.pods[o.Namespace], experimentPods(o, t)...)
			}
		}
	}
	for _, o := range l.set.Ignored {
		if !Reads(o) {
			continue
		}
		data, err := json.Marshal(o.Raw)
		if err != nil {
			continue
		}
		a := &render.Application{}
		if err := json.Unmarshal(data, a); err != nil {
			l.add(CheckArgoCD, route.Error, o, "", "not an Argo CD Application: "+err.Error(), "fix the Application so that Argo CD accepts it")
			continue
		}
		l.apps = append(l.apps, app{o, a})
	}
}

func (l *linter) add(check string, sev route.Severity, o *manifest.Object, path, msg, hint string) {
	l.out = append(l.out, Finding{Check: check, Severity: sev, Object: o.Ref(), Path: path, Where: o.PathPos(path).String(), Message: msg, Hint: hint})
}

// routing reports the routing engine's warnings and errors: subsets no
// DestinationRule defines, negative or all-zero weights, VirtualServices
// istiod would reject, conflicts.
func (l *linter) routing() {
	l.table = route.Compile(expand.RouteInput(l.set))
	for _, f := range l.table.Findings {
		if f.Severity == route.Info {
			continue
		}
		l.out = append(l.out, Finding{Check: CheckRouting, Severity: f.Severity, Object: f.Object, Path: f.Path, Where: f.Where, Message: f.Message, Hint: routingHint(f)})
	}
}

func routingHint(f route.Finding) string {
	switch {
	case strings.HasSuffix(f.Path, ".subset"):
		return "define the subset in the DestinationRule of that host (spec.subsets[].name), or route to a subset it has"
	case strings.Contains(f.Message, "weights"), strings.Contains(f.Message, "weight -"):
		return "weights are relative (each destination gets weight/sum of the requests): none may be negative and at least one must be above 0"
	case strings.HasPrefix(f.Message, "rejected"):
		return "the API server's Istio webhook would refuse this object: fix the field named"
	}
	return "see docs/route.md for what Istio does here"
}

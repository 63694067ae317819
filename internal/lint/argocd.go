package lint

import (
	"fmt"
	"slices"
	"strings"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/graylane/graylane/internal/render"
	"github.com/graylane/graylane/internal/route"
)

// rolloutsManager is the field manager of the Argo Rollouts controller;
// managedFieldsManagers naming it covers every field it writes.
const rolloutsManager = "rollouts-controller"

// argoCD reports, for each Application of the input, the VirtualServices
// and DestinationRules of its destination namespace that a Rollout manages
// and whose Rollout-written fields it does not ignore: Argo CD would show
// them OutOfSync and, with self-heal, put the weights back.
func (l *linter) argoCD() {
	if len(l.apps) == 0 {
		return
	}
	for _, ro := range l.set.Of("Rollout") {
		for _, need := range render.IgnoreDifferences(ro.Typed.(*rollouts.Rollout), ro.Namespace) {
			if need.Kind != "VirtualService" && need.Kind != "DestinationRule" {
				continue
			}
			pointers := l.concretePointers(need)
			for _, a := range l.apps {
				ns := a.app.Spec.Destination.Namespace
				if ns != "" && ns != need.Namespace {
					continue
				}
				if covered(a.app.Spec.IgnoreDifferences, need, pointers) {
					continue
				}
				entry, _ := yaml.Marshal([]render.ResourceIgnoreDifferences{need})
				l.add(CheckArgoCD, route.Error, a.obj, "spec.ignoreDifferences",
					fmt.Sprintf("does not ignore the fields of %s %s/%s that %s changes: Argo CD shows it OutOfSync and a sync or self-heal undoes the canary's traffic split", need.Kind, need.Namespace, need.Name, ro.Ref()),
					"add to spec.ignoreDifferences (and syncOptions RespectIgnoreDifferences=true):\n"+indent(string(entry), "      "))
			}
		}
	}
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return pre + strings.Join(lines, "\n"+pre)
}

// concretePointers are JSON pointers of the fields Argo Rollouts writes in
// the object as it is in the input (route and subset indexes resolved), so
// that an entry such as jsonPointers: [/spec/http/1] is recognised.
func (l *linter) concretePointers(need render.ResourceIgnoreDifferences) []string {
	var out []string
	switch need.Kind {
	case "VirtualService":
		vo := l.vs[key(need.Namespace, need.Name)]
		if vo == nil {
			return nil
		}
		for i, h := range vo.Typed.(*networkingv1.VirtualService).Spec.GetHttp() {
			for _, jq := range need.JQPathExpressions {
				if jq == render.UnnamedRouteWeights && h.GetName() != "" {
					continue
				}
				if jq == render.UnnamedRouteWeights || strings.Contains(jq, `"`+h.GetName()+`"`) || (i == 0 && strings.HasPrefix(jq, ".spec.http[0]")) {
					for j := range h.GetRoute() {
						out = append(out, fmt.Sprintf("/spec/http/%d/route/%d/weight", i, j))
					}
				}
			}
		}
	case "DestinationRule":
		do := l.dr[key(need.Namespace, need.Name)]
		if do == nil {
			return nil
		}
		for i := range do.Typed.(*networkingv1.DestinationRule).Spec.GetSubsets() {
			out = append(out, fmt.Sprintf("/spec/subsets/%d/labels/%s", i, rollouts.DefaultRolloutUniqueLabelKey))
		}
	}
	return out
}

// covered reports whether some entry ignores what need ignores: the same
// jq expressions, the Argo Rollouts field manager, or JSON pointers that
// contain every concrete pointer.
func covered(entries []render.ResourceIgnoreDifferences, need render.ResourceIgnoreDifferences, pointers []string) bool {
	for _, e := range entries {
		if e.Kind != need.Kind || e.Group != need.Group || (e.Name != "" && e.Name != need.Name) || (e.Namespace != "" && e.Namespace != need.Namespace) {
			continue
		}
		if slices.Contains(e.ManagedFieldsManagers, rolloutsManager) {
			return true
		}
		jqOK := true
		for _, jq := range need.JQPathExpressions {
			jqOK = jqOK && slices.Contains(e.JQPathExpressions, jq)
		}
		if jqOK {
			return true
		}
		if len(pointers) > 0 && allUnder(pointers, e.JSONPointers) {
			return true
		}
	}
	return false
}

// allUnder reports whether every pointer is at or below one of prefixes.
func allUnder(pointers, prefixes []string) bool {
	for _, p := range pointers {
		if !slices.ContainsFunc(prefixes, func(pre string) bool {
			return p == pre || strings.HasPrefix(p, strings.TrimSuffix(pre, "/")+"/")
		}) {
			return false
		}
	}
	return true
}

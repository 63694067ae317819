package lane

import (
	"encoding/json"
	"fmt"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"

	"github.com/graylane/graylane/api/v1alpha1"
)

// JudgeTemplateName names the built-in analysis of a lane: the Graylane
// judge (docs/judge.md) comparing each member's lane version with its
// stable version. A plan without analysis runs it in the background; a
// plan may also name it like any AnalysisTemplate.
const JudgeTemplateName = "graylane-judge"

// JudgeTemplate is the built-in judge analysis for one member: Istio's
// standard metrics of the member's Service, the lane version's pods
// (destination_version) against the stable's. It takes the arguments a
// lane analysis is given: service, namespace, lane-version and
// stable-version.
func JudgeTemplate() *rolloutsv1alpha1.AnalysisTemplateSpec {
	sel := `destination_service_name="{{args.service}}",destination_service_namespace="{{args.namespace}}",destination_version="%s"`
	cfg, _ := json.Marshal(map[string]any{
		"canary": fmt.Sprintf(sel, "{{args.lane-version}}"),
		"stable": fmt.Sprintf(sel, "{{args.stable-version}}"),
	})
	interval := rolloutsv1alpha1.DurationString("1s")
	return &rolloutsv1alpha1.AnalysisTemplateSpec{
		Args: []rolloutsv1alpha1.Argument{{Name: "service"}, {Name: "namespace"}, {Name: "lane-version"}, {Name: "stable-version"}},
		Metrics: []rolloutsv1alpha1.Metric{{
			Name:     "judge",
			Interval: interval,
			// No count: it judges all along the plan. An Inconclusive
			// verdict (too little traffic for inconclusiveAfter) pauses the
			// lane, as in Argo, instead of failing it.
			Provider: rolloutsv1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"graylane.io/judge": cfg}},
		}},
	}
}

// DefaultAnalysis is the background analysis a lane plan runs: the plan's
// own, or the judge when the plan names none and does not turn it off.
func DefaultAnalysis(p *v1alpha1.LanePlan) *rolloutsv1alpha1.RolloutAnalysisBackground {
	if p == nil {
		return nil
	}
	if p.Analysis != nil || (p.Judge != nil && !*p.Judge) {
		return p.Analysis
	}
	return &rolloutsv1alpha1.RolloutAnalysisBackground{RolloutAnalysis: rolloutsv1alpha1.RolloutAnalysis{
		Templates: []rolloutsv1alpha1.AnalysisTemplateRef{{TemplateName: JudgeTemplateName}},
	}}
}

// JudgeArgsMissing says why the built-in judge cannot judge a member: it
// tells versions apart by the pods' version label.
func (m *Member) JudgeArgsMissing() string {
	if m.LaneLabels["version"] == "" || m.StableLabels["version"] == "" {
		return fmt.Sprintf("the built-in judge tells versions apart by the pod label \"version\", which %s's lane or stable version lacks: name an AnalysisTemplate in plan.analysis", m.Service)
	}
	return ""
}

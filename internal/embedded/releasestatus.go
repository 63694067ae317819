package embedded

import (
	"sort"

	"github.com/graylane/graylane/internal/analysis"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/plan"
	"github.com/graylane/graylane/internal/release"
)

// RolloutStatus is what `graylane rollout get` shows, in Argo's terms.
type RolloutStatus struct {
	Name          string           `json:"name"`
	Namespace     string           `json:"namespace"`
	Phase         plan.Phase       `json:"phase"`
	Message       string           `json:"message,omitempty"`
	Step          int              `json:"currentStepIndex"`
	Steps         int              `json:"steps"`
	CanaryWeight  int32            `json:"canaryWeight"`
	SetWeight     int32            `json:"setWeight"`
	StableHash    string           `json:"stableHash"`
	CanaryHash    string           `json:"canaryHash"`
	Stable        Replicas         `json:"stable"`
	Canary        Replicas         `json:"canary"`
	Aborted       bool             `json:"aborted"`
	Paused        bool             `json:"paused"`
	HeaderRoutes  []string         `json:"headerRoutes,omitempty"`
	TrafficRouted bool             `json:"trafficRouting"`
	Analysis      []AnalysisStatus `json:"analysis,omitempty"`
}

// Replicas counts desired and ready pods.
type Replicas struct {
	Desired int32 `json:"desired"`
	Ready   int32 `json:"ready"`
}

// LaneStatus is what `graylane lane get` shows.
type LaneStatus struct {
	Name      string           `json:"name"`
	Namespace string           `json:"namespace"`
	Phase     lane.Phase       `json:"phase"`
	Weight    int32            `json:"weight"`
	Plan      *LanePlanStatus  `json:"plan,omitempty"`
	Members   []lane.Member    `json:"members"`
	Analysis  []AnalysisStatus `json:"analysis,omitempty"`
	Fallback  string           `json:"fallback"`
	Modes     []string         `json:"propagation"`
}

// LanePlanStatus is the step machine's view of a lane with a plan.
type LanePlanStatus struct {
	Phase   plan.Phase `json:"phase"`
	Message string     `json:"message,omitempty"`
	Step    int        `json:"currentStepIndex"`
	Steps   int        `json:"steps"`
	Aborted bool       `json:"aborted"`
}

// AnalysisStatus is a run as `graylane rollout get` shows it.
type AnalysisStatus struct {
	Kind    string                  `json:"kind"` // step or background
	Step    int                     `json:"step,omitempty"`
	Member  string                  `json:"member,omitempty"` // lanes: the member service judged
	Phase   analysis.Phase          `json:"phase"`
	Message string                  `json:"message,omitempty"`
	Metrics []analysis.MetricStatus `json:"metrics,omitempty"`
}

func analysisStatuses(in []release.AnalysisReport) []AnalysisStatus {
	var out []AnalysisStatus
	for _, a := range in {
		out = append(out, AnalysisStatus{Kind: a.Kind, Step: a.Step, Member: a.Member, Phase: a.Phase, Message: a.Message, Metrics: a.Metrics})
	}
	return out
}

// Rollouts reports every Rollout.
func (r *Runtime) Rollouts() []RolloutStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	shell := releaseShell{r: r}
	ready := func(ro release.Ref, hash string) int32 {
		_, n := shell.Replicas(ro, hash)
		return n
	}
	out := []RolloutStatus{}
	for _, ro := range r.release.Rollouts() {
		st, desired := ro.Status, ro.Desired
		rs := RolloutStatus{Name: ro.Name, Namespace: ro.Namespace, Phase: st.Phase, Message: st.Message, Step: st.StepIndex,
			CanaryWeight: st.CanaryWeight, SetWeight: desired.SetWeight, StableHash: st.StableHash, CanaryHash: st.CanaryHash, Aborted: st.Aborted,
			Paused: st.Phase == plan.Paused, TrafficRouted: ro.Object.Spec.Strategy.Canary != nil && ro.Object.Spec.Strategy.Canary.TrafficRouting != nil,
			Stable: Replicas{Desired: desired.StableReplicas, Ready: ready(ro.Ref, st.StableHash)}}
		if c := ro.Object.Spec.Strategy.Canary; c != nil {
			rs.Steps = len(c.Steps)
		}
		if st.CanaryHash != st.StableHash {
			rs.Canary = Replicas{Desired: desired.CanaryReplicas, Ready: ready(ro.Ref, st.CanaryHash)}
		}
		for _, h := range desired.HeaderRoutes {
			rs.HeaderRoutes = append(rs.HeaderRoutes, h.Name)
		}
		rs.Analysis = analysisStatuses(ro.Analysis)
		out = append(out, rs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

// Lanes reports every lane.
func (r *Runtime) Lanes() []LaneStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []LaneStatus{}
	for _, l := range r.release.Lanes() {
		res := l.Lane
		ls := LaneStatus{Name: res.Name, Namespace: res.Namespace, Phase: l.State.Phase, Weight: l.State.Weight,
			Members: res.Members, Fallback: string(res.Spec.Fallback), Modes: res.Spec.Propagation.Modes}
		if p := res.Spec.Plan; p != nil {
			ls.Plan = &LanePlanStatus{Phase: l.Plan.Phase, Message: l.Plan.Message, Step: l.Plan.StepIndex, Steps: len(p.Steps), Aborted: l.Plan.Aborted}
		}
		ls.Analysis = analysisStatuses(l.Analysis)
		out = append(out, ls)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

package embedded

import (
	"sort"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/plan"
	"github.com/graylane/graylane/internal/release"
)

func analysisStatuses(in []release.AnalysisReport) []adminapi.AnalysisStatus {
	var out []adminapi.AnalysisStatus
	for _, a := range in {
		out = append(out, adminapi.AnalysisStatus{Kind: a.Kind, Step: a.Step, Member: a.Member, Phase: a.Phase, Message: a.Message, Metrics: a.Metrics})
	}
	return out
}

// Rollouts reports every Rollout.
func (r *Runtime) Rollouts() []adminapi.RolloutStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	shell := releaseShell{r: r}
	ready := func(ro release.Ref, hash string) int32 {
		_, n := shell.Replicas(ro, hash)
		return n
	}
	out := []adminapi.RolloutStatus{}
	for _, ro := range r.release.Rollouts() {
		st, desired := ro.Status, ro.Desired
		rs := adminapi.RolloutStatus{Name: ro.Name, Namespace: ro.Namespace, Phase: st.Phase, Message: st.Message, Step: st.StepIndex,
			CanaryWeight: st.CanaryWeight, SetWeight: desired.SetWeight, StableHash: st.StableHash, CanaryHash: st.CanaryHash, Aborted: st.Aborted,
			Paused: st.Phase == plan.Paused, TrafficRouted: ro.Object.Spec.Strategy.Canary != nil && ro.Object.Spec.Strategy.Canary.TrafficRouting != nil,
			Stable: adminapi.Replicas{Desired: desired.StableReplicas, Ready: ready(ro.Ref, st.StableHash)}}
		if c := ro.Object.Spec.Strategy.Canary; c != nil {
			rs.Steps = len(c.Steps)
		}
		if st.CanaryHash != st.StableHash {
			rs.Canary = adminapi.Replicas{Desired: desired.CanaryReplicas, Ready: ready(ro.Ref, st.CanaryHash)}
		}
		for _, h := range desired.HeaderRoutes {
			rs.HeaderRoutes = append(rs.HeaderRoutes, h.Name)
		}
		rs.Analysis = analysisStatuses(ro.Analysis)
		rs.CanaryConfig = r.canaryStatus(ro)
		out = append(out, rs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

// Lanes reports every lane.
func (r *Runtime) Lanes() []adminapi.LaneStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []adminapi.LaneStatus{}
	for _, l := range r.release.Lanes() {
		res := l.Lane
		ls := adminapi.LaneStatus{Name: res.Name, Namespace: res.Namespace, Phase: l.State.Phase, Weight: l.State.Weight,
			Members: res.Members, Fallback: string(res.Spec.Fallback), Modes: res.Spec.Propagation.Modes}
		if p := res.Spec.Plan; p != nil {
			ls.Plan = &adminapi.LanePlanStatus{Phase: l.Plan.Phase, Message: l.Plan.Message, Step: l.Plan.StepIndex, Steps: len(p.Steps), Aborted: l.Plan.Aborted}
		}
		ls.Analysis = analysisStatuses(l.Analysis)
		ls.CanaryConfig = r.laneCanaryStatus(l)
		out = append(out, ls)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

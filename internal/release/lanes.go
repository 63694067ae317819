package embedded

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"

	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/plan"
	"github.com/graylane/graylane/internal/render"
)

// laneRun is one Lane run by the embedded runtime: its resolved members
// and, when it has a plan, the step machine that moves its weight and
// judges its members together.
type laneRun struct {
	key     string
	res     *lane.Resolved
	spec    rolloutsv1alpha1.RolloutSpec // the lane plan as a canary strategy
	hash    string                       // of the lane spec: a new spec restarts the plan
	status  plan.Status
	desired plan.Desired
	stepRun *analysisSet
	bgRun   *analysisSet
	// resume are the analyses in progress when the state was saved
	// (state.go), taken by the first reconcile after a restart.
	resume []*savedAnalysis
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

// compileLanes renders the Releases of objs, then compiles the lanes with
// their current states. Called with r.mu held.
func (r *Runtime) compileLanes(objs []*manifest.Object) (*lane.Output, error) {
	objs, err := render.Expand(objs)
	if err != nil {
		return nil, err
	}
	return lane.Compile(lane.Input{Objects: objs, States: r.laneStates()})
}

func (r *Runtime) laneStates() map[string]lane.State {
	out := map[string]lane.State{}
	for k, lr := range r.lanes {
		if lr.res.Spec.Plan != nil {
			out[k] = laneState(lr.status)
		}
	}
	if s := r.state.saved; s != nil {
		// Lanes resumed after a restart: their routing is compiled before
		// they are created.
		for k, sl := range s.Lanes {
			if _, ok := out[k]; !ok {
				out[k] = laneState(sl.Status)
			}
		}
	}
	return out
}

// laneState maps the step machine onto the lane: promoted once every step
// is done, aborted when aborted, else active at the step's weight.
func laneState(st plan.Status) lane.State {
	switch {
	case st.Aborted:
		return lane.State{Phase: lane.Aborted}
	case st.CanaryHash != "" && st.CanaryHash == st.StableHash:
		return lane.State{Phase: lane.Promoted, Weight: 100}
	}
	return lane.State{Phase: lane.Active, Weight: st.CanaryWeight}
}

// syncLanes starts, refreshes and drops lane runs after a compile. Called
// with r.mu held.
func (r *Runtime) syncLanes(out *lane.Output) {
	seen := map[string]bool{}
	for _, res := range out.Lanes {
		key := res.Key()
		seen[key] = true
		lr := r.lanes[key]
		if lr == nil {
			// The lane version is the "canary" of a plan whose "stable" is
			// the world without the lane.
			lr = &laneRun{key: key, status: plan.Status{StableHash: "base"}}
			if saved := r.state.takeLane(key); saved != nil {
				lr.status, lr.resume = saved.Status, saved.Analysis
				r.log.Info("lane resumed", "lane", key, "phase", lr.status.Phase, "step", lr.status.StepIndex)
			}
			r.lanes[key] = lr
		}
		lr.res = res
		lr.hash = specHash(res.Spec)
		lr.spec = rolloutsv1alpha1.RolloutSpec{Strategy: rolloutsv1alpha1.RolloutStrategy{Canary: &rolloutsv1alpha1.CanaryStrategy{}}}
		if p := res.Spec.Plan; p != nil {
			lr.spec.Strategy.Canary.Steps, lr.spec.Strategy.Canary.Analysis = p.Steps, lane.DefaultAnalysis(p)
		}
	}
	for k, lr := range r.lanes {
		if !seen[k] {
			lr.stepRun.stop()
			lr.bgRun.stop()
			delete(r.lanes, k)
		}
	}
}

func specHash(s any) string {
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:5])
}

// reconcileLanes advances every lane plan one observation; it reports
// whether a lane's routing changed. Called with r.mu held.
func (r *Runtime) reconcileLanes(now time.Time) bool {
	changed := false
	for _, k := range slices.Sorted(maps.Keys(r.lanes)) {
		if r.reconcileLane(r.lanes[k], now) {
			changed = true
		}
	}
	return changed
}

// reconcileLane advances one lane plan one observation; it reports whether
// the lane's routing changed. Called with r.mu held.
func (r *Runtime) reconcileLane(lr *laneRun, now time.Time) bool {
	if lr.res.Spec.Plan == nil {
		return false
	}
	in := plan.Input{Now: now, TemplateHash: lr.hash, CanaryAvailable: r.laneReady(lr)}
	analysisInputs(&in, lr.status, lr.stepRun, lr.bgRun)
	st, d := plan.Reconcile(&lr.spec, lr.status, in)
	changed := laneState(st) != laneState(lr.status)
	if st.Phase != lr.status.Phase || st.StepIndex != lr.status.StepIndex || st.Message != lr.status.Message || st.CanaryWeight != lr.status.CanaryWeight {
		r.log.Info("lane", "lane", lr.key, "phase", st.Phase, "step", st.StepIndex, "weight", st.CanaryWeight, "message", st.Message)
	}
	lr.status, lr.desired = st, d
	syncRuns(d, st, &lr.stepRun, &lr.bgRun, func(spec *rolloutsv1alpha1.RolloutAnalysis, step int) *analysisSet {
		return r.startLaneAnalysis(lr, spec, step)
	})
	lr.resume = nil
	return changed
}

// laneReady is 1 when every member has a ready lane pod, else 0 (the
// plan's setWeight waits for it).
func (r *Runtime) laneReady(lr *laneRun) int32 {
	cfg := r.cfg.Load()
	if cfg == nil {
		return 0
	}
	for _, m := range lr.res.Members {
		if cfg.endpoints(m.Host, m.LaneSubset, m.LaneLabels).pick(nil) == nil {
			return 0
		}
	}
	return 1
}

// startLaneAnalysis runs the analysis once per member, each with the
// arguments service, namespace, lane, lane-version and stable-version
// (the members' "version" labels) beside the ones the plan gives.
func (r *Runtime) startLaneAnalysis(lr *laneRun, spec *rolloutsv1alpha1.RolloutAnalysis, step int) *analysisSet {
	la := &analysisSet{step: step, hash: lr.status.CanaryHash}
	for _, m := range lr.res.Members {
		args := map[string]string{"service": m.Service, "namespace": m.Namespace, "lane": lr.res.Name,
			"lane-version": m.LaneLabels["version"], "stable-version": m.StableLabels["version"]}
		for _, a := range spec.Args {
			args[a.Name] = a.Value
		}
		la.members = append(la.members, m.Service)
		specs, err := r.laneTemplates(lr.res.Namespace, &m, spec.Templates)
		saved := takeAnalysis(lr.resume, step, la.hash, len(la.runs))
		la.runs = append(la.runs, r.startRun(lr.res.Namespace, la.hash, step, specs, err, args, saved))
	}
	return la
}

// laneTemplates resolves a lane analysis' templates: graylane-judge is the
// built-in judge unless the namespace has its own template of that name.
func (r *Runtime) laneTemplates(ns string, m *lane.Member, refs []rolloutsv1alpha1.AnalysisTemplateRef) ([]*rolloutsv1alpha1.AnalysisTemplateSpec, error) {
	var specs []*rolloutsv1alpha1.AnalysisTemplateSpec
	for _, ref := range refs {
		if ref.TemplateName == lane.JudgeTemplateName && !ref.ClusterScope {
			if own, err := r.analysisTemplates(ns, []rolloutsv1alpha1.AnalysisTemplateRef{ref}); err == nil {
				specs = append(specs, own...)
				continue
			}
			if why := m.JudgeArgsMissing(); why != "" {
				return nil, errors.New(why)
			}
			specs = append(specs, lane.JudgeTemplate())
			continue
		}
		own, err := r.analysisTemplates(ns, []rolloutsv1alpha1.AnalysisTemplateRef{ref})
		if err != nil {
			return nil, err
		}
		specs = append(specs, own...)
	}
	return specs, nil
}

// LaneCommand carries out a promote/abort/retry/pause/resume on a lane's
// plan now and says what it did. A command that would change nothing - on
// a Promoted lane, a lane without a plan, or one the plan refuses (see
// plan.Apply) - is a *RefusedError saying why.
func (r *Runtime) LaneCommand(ns, name string, cmd plan.Command) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ref := "lane " + ns + "/" + name
	lr := r.lanes[ns+"/"+name]
	switch {
	case lr == nil:
		return "", &NotFoundError{Object: ref}
	case lr.res.Spec.Plan == nil:
		return "", &RefusedError{Object: ref, Err: errors.New("the lane has no plan: change its spec.entry.percentage.weight instead")}
	}
	now := time.Now()
	before := laneState(lr.status)
	r.reconcileLane(lr, now)
	msg, err := r.laneCommand(lr, cmd, now)
	if laneState(lr.status) != before {
		if err := r.recompileLanes(); err != nil {
			r.log.Error("lane", "err", err)
		}
		r.recompile(r.routeInput())
	}
	r.saveState()
	if err != nil {
		return "", &RefusedError{Object: ref, Err: err}
	}
	r.log.Info("lane command", "lane", lr.key, "command", cmd, "result", msg)
	return ref + " " + msg, nil
}

// laneCommand applies a command to an observed lane plan and runs it.
func (r *Runtime) laneCommand(lr *laneRun, cmd plan.Command, now time.Time) (string, error) {
	if laneState(lr.status).Phase == lane.Promoted {
		what := "nothing to " + string(cmd)
		switch cmd {
		case plan.Abort:
			what = "nothing to abort; to go back, change the Lane (a changed Lane starts its plan again) or delete it"
		case plan.PromoteFull:
			what = "nothing to promote"
		}
		return "", fmt.Errorf("the lane is Promoted (every member's lane version serves all traffic): %s", what)
	}
	st, msg, err := plan.Apply(&lr.spec, lr.status, cmd, now)
	if err != nil {
		return "", err
	}
	lr.status = st
	r.reconcileLane(lr, now)
	switch cmd {
	case plan.Abort:
		msg = "aborted: every member goes back to its stable version"
	case plan.PromoteFull:
		msg = "fully promoting: skipped every remaining step; every member's lane version takes all traffic once each has a ready replica"
	}
	return msg, nil
}

// Lanes reports every lane.
func (r *Runtime) Lanes() []LaneStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	states := r.laneStates()
	out := []LaneStatus{}
	for k, lr := range r.lanes {
		st, ok := states[k]
		if !ok {
			st = lane.State{Phase: lane.Active}
			if p := lr.res.Spec.Entry.Percentage; p != nil {
				st.Weight = p.Weight
			}
		}
		ls := LaneStatus{Name: lr.res.Name, Namespace: lr.res.Namespace, Phase: st.Phase, Weight: st.Weight,
			Members: lr.res.Members, Fallback: string(lr.res.Spec.Fallback), Modes: lr.res.Spec.Propagation.Modes}
		if p := lr.res.Spec.Plan; p != nil {
			ls.Plan = &LanePlanStatus{Phase: lr.status.Phase, Message: lr.status.Message, Step: lr.status.StepIndex, Steps: len(p.Steps), Aborted: lr.status.Aborted}
		}
		ls.Analysis = append(lr.stepRun.reports(), lr.bgRun.reports()...)
		out = append(out, ls)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

// enterLane runs the lane entry on a request arriving at a gateway; a new
// anonymous client's bucket cookie goes into the response header. Gate
// whitelists come from the followers' in-memory snapshots (gates.go).
func (r *Runtime) enterLane(cfg *config, h, resp http.Header) {
	if cfg.entry.Empty() {
		return
	}
	if d := cfg.entry.Apply(h, rand.Float64(), r.gateWhitelist, time.Now()); d.SetCookie != "" {
		resp.Add("Set-Cookie", d.SetCookie)
	}
}

package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"

	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/plan"
)

// laneRun is one Lane the Controller runs: its resolved members and, when
// it has a plan, the step machine that moves its weight and judges its
// members together.
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
	resume []*SavedAnalysis
}

// LaneStates are the states of the lanes with a plan, by "ns/name" -
// those restored and not created yet too (their routing is compiled
// before they are created) - for lane.Compile and lane.NewEntry.
func (c *Controller) LaneStates() map[string]lane.State {
	out := map[string]lane.State{}
	for k, lr := range c.lanes {
		if lr.res.Spec.Plan != nil {
			out[k] = laneState(lr.status)
		}
	}
	if s := c.restored; s != nil {
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

// SyncLanes starts, refreshes and drops lane runs after a compile: lanes
// are the compiled lanes (lane.Output.Lanes).
func (c *Controller) SyncLanes(lanes []*lane.Resolved) {
	seen := map[string]bool{}
	for _, res := range lanes {
		key := res.Key()
		seen[key] = true
		lr := c.lanes[key]
		if lr == nil {
			// The lane version is the "canary" of a plan whose "stable" is
			// the world without the lane.
			lr = &laneRun{key: key, status: plan.Status{StableHash: "base"}}
			if saved := c.takeLane(key); saved != nil {
				lr.status, lr.resume = saved.Status, saved.Analysis
				c.log.Info("lane resumed", "lane", key, "phase", lr.status.Phase, "step", lr.status.StepIndex)
			}
			c.lanes[key] = lr
		}
		lr.res = res
		lr.hash = specHash(res.Spec)
		lr.spec = rolloutsv1alpha1.RolloutSpec{Strategy: rolloutsv1alpha1.RolloutStrategy{Canary: &rolloutsv1alpha1.CanaryStrategy{}}}
		if p := res.Spec.Plan; p != nil {
			lr.spec.Strategy.Canary.Steps, lr.spec.Strategy.Canary.Analysis = p.Steps, lane.DefaultAnalysis(p)
		}
	}
	for k, lr := range c.lanes {
		if !seen[k] {
			lr.stepRun.stop()
			lr.bgRun.stop()
			delete(c.lanes, k)
		}
	}
}

func specHash(s any) string {
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:5])
}

// ReconcileLanes advances every lane plan one observation; it reports
// whether a lane's state changed (compile the lanes again). ctx bounds
// the analysis runs it starts.
func (c *Controller) ReconcileLanes(ctx context.Context) bool {
	return c.reconcileLanes(ctx, c.clock.Now())
}

func (c *Controller) reconcileLanes(ctx context.Context, now time.Time) bool {
	changed := false
	for _, k := range slices.Sorted(maps.Keys(c.lanes)) {
		if c.reconcileLane(ctx, c.lanes[k], now) {
			changed = true
		}
	}
	return changed
}

// reconcileLane advances one lane plan one observation; it reports whether
// the lane's state changed.
func (c *Controller) reconcileLane(ctx context.Context, lr *laneRun, now time.Time) bool {
	if lr.res.Spec.Plan == nil {
		return false
	}
	in := plan.Input{Now: now, TemplateHash: lr.hash}
	if c.pods.LaneReady(lr.res) {
		in.CanaryAvailable = 1
	}
	analysisInputs(&in, lr.status, lr.stepRun, lr.bgRun)
	st, d := plan.Reconcile(&lr.spec, lr.status, in)
	changed := laneState(st) != laneState(lr.status)
	if st.Phase != lr.status.Phase || st.StepIndex != lr.status.StepIndex || st.Message != lr.status.Message || st.CanaryWeight != lr.status.CanaryWeight {
		c.log.Info("lane", "lane", lr.key, "phase", st.Phase, "step", st.StepIndex, "weight", st.CanaryWeight, "message", st.Message)
	}
	lr.status, lr.desired = st, d
	syncRuns(d, st, &lr.stepRun, &lr.bgRun, func(spec *rolloutsv1alpha1.RolloutAnalysis, step int) *analysisSet {
		return c.startLaneAnalysis(ctx, lr, spec, step)
	})
	lr.resume = nil
	return changed
}

// startLaneAnalysis runs the analysis once per member, each with the
// arguments service, namespace, lane, lane-version and stable-version
// (the members' "version" labels) beside the ones the plan gives.
func (c *Controller) startLaneAnalysis(ctx context.Context, lr *laneRun, spec *rolloutsv1alpha1.RolloutAnalysis, step int) *analysisSet {
	la := &analysisSet{step: step, hash: lr.status.CanaryHash}
	for _, m := range lr.res.Members {
		args := map[string]string{"service": m.Service, "namespace": m.Namespace, "lane": lr.res.Name,
			"lane-version": m.LaneLabels["version"], "stable-version": m.StableLabels["version"]}
		for _, a := range spec.Args {
			args[a.Name] = a.Value
		}
		la.members = append(la.members, m.Service)
		specs, err := c.laneTemplates(lr.res.Namespace, &m, spec.Templates)
		saved := takeAnalysis(lr.resume, step, la.hash, len(la.runs))
		la.runs = append(la.runs, c.startRun(ctx, lr.res.Namespace, la.hash, step, specs, err, args, saved))
	}
	return la
}

// laneTemplates resolves a lane analysis' templates: graylane-judge is the
// built-in judge unless the namespace has its own template of that name.
func (c *Controller) laneTemplates(ns string, m *lane.Member, refs []rolloutsv1alpha1.AnalysisTemplateRef) ([]*rolloutsv1alpha1.AnalysisTemplateSpec, error) {
	var specs []*rolloutsv1alpha1.AnalysisTemplateSpec
	for _, ref := range refs {
		if ref.TemplateName == lane.JudgeTemplateName && !ref.ClusterScope {
			if own, err := c.analysisTemplates(ns, []rolloutsv1alpha1.AnalysisTemplateRef{ref}); err == nil {
				specs = append(specs, own...)
				continue
			}
			if why := m.JudgeArgsMissing(); why != "" {
				return nil, errors.New(why)
			}
			specs = append(specs, lane.JudgeTemplate())
			continue
		}
		own, err := c.analysisTemplates(ns, []rolloutsv1alpha1.AnalysisTemplateRef{ref})
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
// plan.Apply) - is a *RefusedError saying why. changed: the lane's state
// changed (compile the lanes again), even when it failed.
func (c *Controller) LaneCommand(ctx context.Context, ns, name string, cmd plan.Command) (msg string, changed bool, err error) {
	ref := "lane " + ns + "/" + name
	lr := c.lanes[ns+"/"+name]
	switch {
	case lr == nil:
		return "", false, &NotFoundError{Object: ref}
	case lr.res.Spec.Plan == nil:
		return "", false, &RefusedError{Object: ref, Err: errors.New("the lane has no plan: change its spec.entry.percentage.weight instead")}
	}
	now := c.clock.Now()
	before := laneState(lr.status)
	c.reconcileLane(ctx, lr, now)
	msg, err = c.laneCommand(ctx, lr, cmd, now)
	changed = laneState(lr.status) != before
	if err != nil {
		return "", changed, &RefusedError{Object: ref, Err: err}
	}
	c.log.Info("lane command", "lane", lr.key, "command", cmd, "result", msg)
	return ref + " " + msg, changed, nil
}

// laneCommand applies a command to an observed lane plan and runs it.
func (c *Controller) laneCommand(ctx context.Context, lr *laneRun, cmd plan.Command, now time.Time) (string, error) {
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
	c.reconcileLane(ctx, lr, now)
	switch cmd {
	case plan.Abort:
		msg = "aborted: every member goes back to its stable version"
	case plan.PromoteFull:
		msg = "fully promoting: skipped every remaining step; every member's lane version takes all traffic once each has a ready replica"
	}
	return msg, nil
}

// LaneView is a lane as the Controller runs it.
type LaneView struct {
	Key  string // "ns/name"
	Lane *lane.Resolved
	// State is the lane's state: its plan's (LaneStates), or active at its
	// entry's percentage without a plan.
	State lane.State
	// Plan is the step machine of a lane with a plan (zero without).
	Plan     plan.Status
	Analysis []AnalysisReport
}

// Lanes are the lanes the Controller runs, by key.
func (c *Controller) Lanes() []LaneView {
	states := c.LaneStates()
	out := make([]LaneView, 0, len(c.lanes))
	for _, k := range slices.Sorted(maps.Keys(c.lanes)) {
		lr := c.lanes[k]
		st, ok := states[k]
		if !ok {
			st = lane.State{Phase: lane.Active}
			if p := lr.res.Spec.Entry.Percentage; p != nil {
				st.Weight = p.Weight
			}
		}
		v := LaneView{Key: k, Lane: lr.res, State: st, Analysis: append(lr.stepRun.reports(), lr.bgRun.reports()...)}
		if lr.res.Spec.Plan != nil {
			v.Plan = lr.status
		}
		out = append(out, v)
	}
	return out
}

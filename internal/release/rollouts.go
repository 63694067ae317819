package release

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/plan"
	"github.com/graylane/graylane/internal/rollouttraffic"
)

// rollout is one Argo Rollout the Controller runs: its step machine
// status, the pod templates of its stable and canary, its analyses.
type rollout struct {
	key       string // "Rollout ns/name"
	ref       Ref
	obj       *rolloutsv1alpha1.Rollout
	hash      string // of obj's pod template, computed once per sync
	status    plan.Status
	desired   plan.Desired
	templates map[string]*corev1.PodTemplateSpec // by hash: to scale the stable up again
	// keepUntil: the previous stable keeps its pods until then after a
	// promotion (scaleDownDelaySeconds), by hash.
	keepUntil map[string]time.Time
	// canarySvc is the pod template hash the canaryService selects: the
	// canary's once one of its replicas is available, as Argo switches it.
	canarySvc string
	stepRun   *analysisSet
	bgRun     *analysisSet
	// resume are the analyses in progress when the state was saved, taken
	// by the first reconcile after a restart (state.go).
	resume []*SavedAnalysis
}

// DefaultScaleDownDelay is Argo's scaleDownDelaySeconds default: how long
// the previous stable keeps its pods after a promotion with traffic
// routing, so that no request routed just before the switch finds them
// gone.
const DefaultScaleDownDelay = 30 * time.Second

// RolloutObject is a Rollout and the namespace it is in.
type RolloutObject struct {
	Namespace string
	Rollout   *rolloutsv1alpha1.Rollout
}

// SyncRollouts adds the Rollouts it has not seen (resuming a restored
// one where the state left it) and takes the spec of the others. A
// Rollout no longer given keeps running.
func (c *Controller) SyncRollouts(objs []RolloutObject) {
	for _, o := range objs {
		ro := o.Rollout
		ref := Ref{Namespace: o.Namespace, Name: ro.Name}
		key := ref.Key()
		st := c.rollouts[key]
		if st == nil {
			st = &rollout{key: key, ref: ref, templates: map[string]*corev1.PodTemplateSpec{}, keepUntil: map[string]time.Time{}}
			if saved := c.takeRollout(key); saved != nil {
				// Resumed where the last run left it (state.go).
				st.status, st.canarySvc, st.resume = saved.Status, saved.CanaryService, saved.Analysis
				for h, t := range saved.Templates {
					st.templates[h] = t
				}
				c.log.Info("rollout resumed", "rollout", key, "phase", st.status.Phase, "step", st.status.StepIndex, "stable", st.status.StableHash, "canary", st.status.CanaryHash)
			}
			c.rollouts[key] = st
		}
		st.obj, st.hash = ro, rollouttraffic.TemplateHash(&ro.Spec.Template)
		st.templates[st.hash] = &ro.Spec.Template
	}
}

// HasRollout reports whether the Controller runs the Rollout.
func (c *Controller) HasRollout(ref Ref) bool { return c.rollouts[ref.Key()] != nil }

// ReconcileRollouts advances every Rollout one observation and scales its
// pods; it reports whether routing must be recompiled. ctx bounds the
// analysis runs it starts.
func (c *Controller) ReconcileRollouts(ctx context.Context) (bool, error) {
	return c.reconcileRollouts(ctx, c.clock.Now())
}

func (c *Controller) reconcileRollouts(ctx context.Context, now time.Time) (bool, error) {
	changed := false
	for _, k := range slices.Sorted(maps.Keys(c.rollouts)) {
		ch, err := c.reconcileRollout(ctx, c.rollouts[k], now)
		changed = changed || ch
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// ReconcileRollout advances one Rollout one observation and scales its
// pods; it reports whether its routing or its pods changed.
func (c *Controller) ReconcileRollout(ctx context.Context, ref Ref) (bool, error) {
	ro := c.rollouts[ref.Key()]
	if ro == nil {
		return false, &NotFoundError{Object: "rollout " + ref.Namespace + "/" + ref.Name}
	}
	return c.reconcileRollout(ctx, ro, c.clock.Now())
}

// reconcileRollout advances one Rollout one observation and scales its
// pods; it reports whether its routing or its pods changed.
func (c *Controller) reconcileRollout(ctx context.Context, ro *rollout, now time.Time) (bool, error) {
	before := ro.traffic()
	in := plan.Input{Now: now, TemplateHash: ro.hash, CanaryAvailable: c.ready(ro, ro.hash)}
	analysisInputs(&in, ro.status, ro.stepRun, ro.bgRun)
	st, d := plan.Reconcile(&ro.obj.Spec, ro.status, in)
	if st.Phase != ro.status.Phase || st.StepIndex != ro.status.StepIndex || st.Message != ro.status.Message || st.CanaryWeight != ro.status.CanaryWeight {
		c.log.Info("rollout", "rollout", ro.key, "phase", st.Phase, "step", st.StepIndex, "weight", st.CanaryWeight, "setWeight", d.SetWeight, "message", st.Message)
	}
	if prev := ro.status.StableHash; st.StableHash != prev && st.CanaryHash == st.StableHash && slices.Contains(c.pods.Hashes(ro.ref), prev) {
		ro.keepUntil[prev] = now.Add(scaleDownDelay(ro.obj))
	}
	ro.status, ro.desired = st, d
	ro.canarySvc = c.canaryServiceHash(ro)
	syncRuns(ro.desired, ro.status, &ro.stepRun, &ro.bgRun, func(spec *rolloutsv1alpha1.RolloutAnalysis, step int) *analysisSet {
		return c.startAnalysis(ctx, ro, spec, step)
	})
	ro.resume = nil // the runs the status asks for were resumed, the others are over
	scaled, err := c.scaleRollout(ctx, ro, now)
	return scaled || ro.traffic() != before, err
}

// scaleDownDelay is the Rollout's scaleDownDelaySeconds: only with traffic
// routing (a basic canary scales the old pods down as it goes).
func scaleDownDelay(ro *rolloutsv1alpha1.Rollout) time.Duration {
	c := ro.Spec.Strategy.Canary
	switch {
	case c == nil || c.TrafficRouting == nil:
		return 0
	case c.ScaleDownDelaySeconds != nil:
		return time.Duration(*c.ScaleDownDelaySeconds) * time.Second
	}
	return DefaultScaleDownDelay
}

// trafficKey is what a Rollout's routing is built from.
type trafficKey struct {
	stable, canary, canarySvc string
	weight                    int32
	routes                    string
}

func (ro *rollout) traffic() trafficKey {
	k := trafficKey{stable: ro.status.StableHash, canary: ro.status.CanaryHash, canarySvc: ro.canarySvc, weight: ro.desired.CanaryWeight}
	for _, h := range ro.desired.HeaderRoutes {
		k.routes += h.Name + "\x00"
	}
	return k
}

// canaryServiceHash is the pod template hash the canaryService selects,
// as Argo's reconcileStableAndCanaryService: the canary's once one of its
// replicas has been available (Argo does not switch the Service to a
// ReplicaSet without availability), the stable's before that, when there
// is no update and after an abort.
func (c *Controller) canaryServiceHash(ro *rollout) string {
	st := ro.status
	switch {
	case st.CanaryHash == st.StableHash || st.Aborted:
		return st.StableHash
	case ro.canarySvc == st.CanaryHash || c.ready(ro, st.CanaryHash) > 0:
		return st.CanaryHash
	}
	return st.StableHash
}

func (c *Controller) ready(ro *rollout, hash string) int32 {
	_, n := c.pods.Replicas(ro.ref, hash)
	return n
}

// scaleRollout brings each template hash's pod count to the desired one;
// the previous stable keeps its pods until its scale-down delay is over.
func (c *Controller) scaleRollout(ctx context.Context, ro *rollout, now time.Time) (bool, error) {
	want := map[string]int32{ro.status.StableHash: ro.desired.StableReplicas}
	if ro.status.CanaryHash != ro.status.StableHash {
		want[ro.status.CanaryHash] = ro.desired.CanaryReplicas
	}
	held := c.pods.Hashes(ro.ref)
	for h := range ro.keepUntil {
		if !slices.Contains(held, h) {
			delete(ro.keepUntil, h)
		}
	}
	for _, hash := range held {
		switch _, ok := want[hash]; {
		case ok:
			delete(ro.keepUntil, hash)
		case now.Before(ro.keepUntil[hash]):
			want[hash], _ = c.pods.Replicas(ro.ref, hash)
		default:
			want[hash] = 0
		}
	}
	changed := false
	for hash, n := range want {
		rs := ReplicaSet{Hash: hash, Template: ro.templates[hash], Replicas: n, Active: hash == ro.status.StableHash || hash == ro.status.CanaryHash}
		if total, _ := c.pods.Replicas(ro.ref, hash); rs.Template == nil && n > total {
			return changed, fmt.Errorf("%s: no pod template known for hash %s", ro.key, hash)
		}
		ch, err := c.pods.Scale(ctx, ro.ref, rs)
		changed = changed || ch
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// Command carries out a promote/abort/retry/pause/resume on a Rollout now,
// as Argo Rollouts' kubectl plugin and controller would, and says what it
// did; a command that would change nothing is a *RefusedError saying why.
// changed: the Rollout's routing or pods changed (even when it failed).
func (c *Controller) Command(ctx context.Context, ref Ref, cmd plan.Command) (msg string, changed bool, err error) {
	name := "rollout " + ref.Namespace + "/" + ref.Name
	ro := c.rollouts[ref.Key()]
	if ro == nil {
		return "", false, &NotFoundError{Object: name}
	}
	before := ro.traffic()
	msg, changed, err = c.commandRollout(ctx, ro, cmd, c.clock.Now())
	changed = changed || before != ro.traffic()
	var refused *plan.RefusedError
	switch {
	case errors.As(err, &refused):
		return "", changed, &RefusedError{Object: name, Err: err}
	case err != nil:
		return "", changed, err
	}
	c.log.Info("rollout command", "rollout", ro.key, "command", cmd, "result", msg)
	return name + " " + msg, changed, nil
}

// commandRollout observes the Rollout (the command acts on it as it is
// now), applies the command and runs the step machine; changed: pods were
// started or stopped.
func (c *Controller) commandRollout(ctx context.Context, ro *rollout, cmd plan.Command, now time.Time) (msg string, changed bool, err error) {
	if changed, err = c.reconcileRollout(ctx, ro, now); err != nil {
		return "", changed, err
	}
	st, msg, err := plan.Apply(&ro.obj.Spec, ro.status, cmd, now)
	if err != nil {
		return "", changed, err
	}
	ro.status = st
	ch, err := c.reconcileRollout(ctx, ro, now)
	return msg, changed || ch, err
}

// RolloutView is a Rollout as the Controller runs it.
type RolloutView struct {
	Ref
	Object  *rolloutsv1alpha1.Rollout
	Status  plan.Status
	Desired plan.Desired
	// CanaryService is the pod template hash the canaryService selects.
	CanaryService string
	Analysis      []AnalysisReport
}

func (ro *rollout) view() RolloutView {
	return RolloutView{Ref: ro.ref, Object: ro.obj, Status: ro.status, Desired: ro.desired, CanaryService: ro.canarySvc,
		Analysis: append(ro.stepRun.reports(), ro.bgRun.reports()...)}
}

// Rollouts are the Rollouts the Controller runs, by key.
func (c *Controller) Rollouts() []RolloutView {
	out := make([]RolloutView, 0, len(c.rollouts))
	for _, k := range slices.Sorted(maps.Keys(c.rollouts)) {
		out = append(out, c.rollouts[k].view())
	}
	return out
}

// Rollout is one Rollout the Controller runs.
func (c *Controller) Rollout(ref Ref) (RolloutView, bool) {
	ro := c.rollouts[ref.Key()]
	if ro == nil {
		return RolloutView{}, false
	}
	return ro.view(), true
}

package embedded

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/plan"
	"github.com/graylane/graylane/internal/rollouttraffic"
)

// PodTemplateHashLabel is the label Argo Rollouts puts on every pod and on
// the DestinationRule subsets it manages.
const PodTemplateHashLabel = rollouttraffic.PodTemplateHashLabel

// rollout is one Argo Rollout run by the embedded runtime: its step
// machine status and its pods, grouped by pod template hash (the stable
// and the canary ReplicaSet).
type rollout struct {
	key       string // "Rollout ns/name"
	ns, name  string
	obj       *rolloutsv1alpha1.Rollout
	hash      string // of obj's pod template, computed once per apply
	status    plan.Status
	desired   plan.Desired
	groups    map[string]*podGroup
	templates map[string]*corev1.PodTemplateSpec // by hash: to scale the stable up again
	// canarySvc is the pod template hash the canaryService selects: the
	// canary's once one of its replicas is available, as Argo switches it.
	canarySvc string
	stepRun   *analysisSet
	bgRun     *analysisSet
	// resume are the analyses in progress when the state was saved, taken
	// by the first reconcile after a restart (state.go).
	resume []*savedAnalysis
}

type podGroup struct {
	hash string
	pods []*pod
	next int // index of the next pod name
	// keepUntil: the previous stable keeps its pods until then after a
	// promotion (scaleDownDelaySeconds).
	keepUntil time.Time
}

// DefaultScaleDownDelay is Argo's scaleDownDelaySeconds default: how long
// the previous stable keeps its pods after a promotion with traffic
// routing, so that no request routed just before the switch finds them
// gone.
const DefaultScaleDownDelay = 30 * time.Second

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

// syncRollouts adds new Rollouts from the store and refreshes changed ones.
// Called with r.mu held.
func (r *Runtime) syncRollouts() {
	for _, o := range r.compiled {
		ro, ok := o.Typed.(*rolloutsv1alpha1.Rollout)
		if !ok {
			continue
		}
		key := "Rollout " + o.Namespace + "/" + ro.Name
		st := r.rollouts[key]
		if st == nil {
			st = &rollout{key: key, ns: o.Namespace, name: ro.Name, groups: map[string]*podGroup{}, templates: map[string]*corev1.PodTemplateSpec{}}
			if saved := r.state.takeRollout(key, r.log.Warn); saved != nil {
				// Resumed where the last run left it (state.go).
				st.status, st.canarySvc, st.resume = saved.Status, saved.CanaryService, saved.Analysis
				for h, t := range saved.Templates {
					st.templates[h] = t
				}
				r.log.Info("rollout resumed", "rollout", key, "phase", st.status.Phase, "step", st.status.StepIndex, "stable", st.status.StableHash, "canary", st.status.CanaryHash)
			}
			r.rollouts[key] = st
		}
		st.obj, st.hash = ro, templateHash(&ro.Spec.Template)
		st.templates[st.hash] = &ro.Spec.Template
	}
}

// reconcileRollouts advances every Rollout one observation and scales its
// pods; it reports whether routing must be recompiled. Called with r.mu held.
func (r *Runtime) reconcileRollouts(now time.Time) (bool, error) {
	changed := false
	for _, k := range slices.Sorted(maps.Keys(r.rollouts)) {
		c, err := r.reconcileRollout(r.rollouts[k], now)
		changed = changed || c
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// reconcileRollout advances one Rollout one observation and scales its
// pods; it reports whether its routing or its pods changed. Called with
// r.mu held.
func (r *Runtime) reconcileRollout(ro *rollout, now time.Time) (bool, error) {
	before := ro.traffic()
	in := plan.Input{Now: now, TemplateHash: ro.hash, CanaryAvailable: ro.ready(ro.hash)}
	analysisInputs(&in, ro.status, ro.stepRun, ro.bgRun)
	st, d := plan.Reconcile(&ro.obj.Spec, ro.status, in)
	if st.Phase != ro.status.Phase || st.StepIndex != ro.status.StepIndex || st.Message != ro.status.Message || st.CanaryWeight != ro.status.CanaryWeight {
		r.log.Info("rollout", "rollout", ro.key, "phase", st.Phase, "step", st.StepIndex, "weight", st.CanaryWeight, "setWeight", d.SetWeight, "message", st.Message)
	}
	if prev := ro.groups[ro.status.StableHash]; prev != nil && st.StableHash != ro.status.StableHash && st.CanaryHash == st.StableHash {
		prev.keepUntil = now.Add(scaleDownDelay(ro.obj))
	}
	ro.status, ro.desired = st, d
	ro.canarySvc = canaryServiceHash(ro)
	syncRuns(ro.desired, ro.status, &ro.stepRun, &ro.bgRun, func(spec *rolloutsv1alpha1.RolloutAnalysis, step int) *analysisSet {
		return r.startAnalysis(ro, spec, step)
	})
	ro.resume = nil // the runs the status asks for were resumed, the others are over
	scaled, err := r.scaleRollout(ro, now)
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

// trafficKey is what a Rollout's routing is built from (applyTraffic).
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
func canaryServiceHash(ro *rollout) string {
	st := ro.status
	switch {
	case st.CanaryHash == st.StableHash || st.Aborted:
		return st.StableHash
	case ro.canarySvc == st.CanaryHash || ro.ready(st.CanaryHash) > 0:
		return st.CanaryHash
	}
	return st.StableHash
}

func (ro *rollout) ready(hash string) int32 {
	g := ro.groups[hash]
	if g == nil {
		return 0
	}
	n := int32(0)
	for _, p := range g.pods {
		if p.ready.Load() {
			n++
		}
	}
	return n
}

// scaleRollout brings each template hash's pod count to the desired one;
// the previous stable keeps its pods until its scale-down delay is over.
func (r *Runtime) scaleRollout(ro *rollout, now time.Time) (bool, error) {
	want := map[string]int32{ro.status.StableHash: ro.desired.StableReplicas}
	if ro.status.CanaryHash != ro.status.StableHash {
		want[ro.status.CanaryHash] = ro.desired.CanaryReplicas
	}
	changed := false
	for hash, g := range ro.groups {
		switch _, ok := want[hash]; {
		case ok:
			g.keepUntil = time.Time{}
		case now.Before(g.keepUntil):
			want[hash] = int32(len(g.pods))
		default:
			want[hash] = 0
		}
	}
	for hash, n := range want {
		g := ro.groups[hash]
		if g == nil {
			g = &podGroup{hash: hash}
			ro.groups[hash] = g
		}
		for int32(len(g.pods)) < n {
			p, err := r.rolloutPod(ro, g)
			if err != nil {
				return changed, err
			}
			g.pods = append(g.pods, p)
			r.startPod(r.ctx, p)
			changed = true
		}
		for int32(len(g.pods)) > n {
			p := g.pods[len(g.pods)-1]
			g.pods = g.pods[:len(g.pods)-1]
			go r.stopPod(p)
			changed = true
		}
		if len(g.pods) == 0 && hash != ro.status.StableHash && hash != ro.status.CanaryHash {
			delete(ro.groups, hash)
		}
	}
	return changed, nil
}

func (r *Runtime) rolloutPod(ro *rollout, g *podGroup) (*pod, error) {
	tpl := ro.templates[g.hash]
	if tpl == nil {
		return nil, fmt.Errorf("%s: no pod template known for hash %s", ro.key, g.hash)
	}
	spec, err := r.templateSpec(ro.key, ro.ns, tpl)
	if err != nil {
		return nil, err
	}
	labels := make(map[string]string, len(spec.labels)+1)
	for k, v := range spec.labels {
		labels[k] = v
	}
	labels[PodTemplateHashLabel] = g.hash
	spec.labels = labels
	spec.name = fmt.Sprintf("%s-%s-%d", ro.name, g.hash, g.next)
	g.next++
	return r.newPod(spec)
}

// rolloutLoop runs the step machines: every 200 ms, and at once when an
// analysis decides or an apply asks.
func (r *Runtime) rolloutLoop(ctx context.Context) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-r.rolloutWake:
		}
		r.mu.Lock()
		changed, err := r.reconcileRollouts(time.Now())
		if err != nil {
			r.log.Error("rollout", "err", err)
		}
		if r.reconcileLanes(time.Now()) {
			if err := r.recompileLanes(); err != nil {
				r.log.Error("lane", "err", err)
			}
			changed = true
		}
		if changed {
			r.recompile(r.routeInput())
		}
		r.saveState()
		r.mu.Unlock()
	}
}

// NotFoundError: a command names a Rollout or lane the runtime does not run.
type NotFoundError struct{ Object string }

func (e *NotFoundError) Error() string { return e.Object + " not found" }

// RefusedError is a command the runtime refuses: it would change nothing,
// or cannot act on the object as it is now. Err says why (often a
// *plan.RefusedError).
type RefusedError struct {
	Object string // "rollout shop/order", "lane shop/gray"
	Err    error
}

func (e *RefusedError) Error() string { return e.Object + ": " + e.Err.Error() }

func (e *RefusedError) Unwrap() error { return e.Err }

// Command carries out a promote/abort/retry/pause/resume on a Rollout now,
// as Argo Rollouts' kubectl plugin and controller would, and says what it
// did; a command that would change nothing is a *RefusedError saying why.
func (r *Runtime) Command(ns, name string, cmd plan.Command) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ref := "rollout " + ns + "/" + name
	ro := r.rollouts["Rollout "+ns+"/"+name]
	if ro == nil {
		return "", &NotFoundError{Object: ref}
	}
	before := ro.traffic()
	msg, changed, err := r.commandRollout(ro, cmd, time.Now())
	r.recompileIf(changed || before != ro.traffic())
	r.saveState()
	var refused *plan.RefusedError
	switch {
	case errors.As(err, &refused):
		return "", &RefusedError{Object: ref, Err: err}
	case err != nil:
		return "", err
	}
	r.log.Info("rollout command", "rollout", ro.key, "command", cmd, "result", msg)
	return ref + " " + msg, nil
}

// commandRollout observes the Rollout (the command acts on it as it is
// now), applies the command and runs the step machine; changed: pods were
// started or stopped.
func (r *Runtime) commandRollout(ro *rollout, cmd plan.Command, now time.Time) (msg string, changed bool, err error) {
	if changed, err = r.reconcileRollout(ro, now); err != nil {
		return "", changed, err
	}
	st, msg, err := plan.Apply(&ro.obj.Spec, ro.status, cmd, now)
	if err != nil {
		return "", changed, err
	}
	ro.status = st
	c, err := r.reconcileRollout(ro, now)
	return msg, changed || c, err
}

// recompileIf publishes the routing again when a Rollout's traffic changed.
// Called with r.mu held.
func (r *Runtime) recompileIf(changed bool) {
	if changed {
		r.recompile(r.routeInput())
	}
}

// Rollouts reports every Rollout.
func (r *Runtime) Rollouts() []RolloutStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []RolloutStatus{}
	for _, ro := range r.rollouts {
		st := ro.status
		rs := RolloutStatus{Name: ro.name, Namespace: ro.ns, Phase: st.Phase, Message: st.Message, Step: st.StepIndex,
			CanaryWeight: st.CanaryWeight, SetWeight: ro.desired.SetWeight, StableHash: st.StableHash, CanaryHash: st.CanaryHash, Aborted: st.Aborted,
			Paused: st.Phase == plan.Paused, TrafficRouted: ro.obj.Spec.Strategy.Canary != nil && ro.obj.Spec.Strategy.Canary.TrafficRouting != nil,
			Stable: Replicas{Desired: ro.desired.StableReplicas, Ready: ro.ready(st.StableHash)}}
		if c := ro.obj.Spec.Strategy.Canary; c != nil {
			rs.Steps = len(c.Steps)
		}
		if st.CanaryHash != st.StableHash {
			rs.Canary = Replicas{Desired: ro.desired.CanaryReplicas, Ready: ro.ready(st.CanaryHash)}
		}
		for _, h := range ro.desired.HeaderRoutes {
			rs.HeaderRoutes = append(rs.HeaderRoutes, h.Name)
		}
		rs.Analysis = append(ro.stepRun.reports(), ro.bgRun.reports()...)
		out = append(out, rs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

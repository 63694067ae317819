package embedded

import (
	"context"
	"fmt"
	"sort"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/plan"
)

// PodTemplateHashLabel is the label Argo Rollouts puts on every pod and on
// the DestinationRule subsets it manages.
const PodTemplateHashLabel = "rollouts-pod-template-hash"

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
	pending   []plan.Command
	stepRun   *analysisSet
	bgRun     *analysisSet
}

type podGroup struct {
	hash string
	pods []*pod
	next int // index of the next pod name
}

// RolloutStatus is what `graylane rollout get` shows, in Argo's terms.
type RolloutStatus struct {
	Name          string           `json:"name"`
	Namespace     string           `json:"namespace"`
	Phase         plan.Phase       `json:"phase"`
	Message       string           `json:"message,omitempty"`
	Step          int              `json:"currentStepIndex"`
	Steps         int              `json:"steps"`
	CanaryWeight  int32            `json:"canaryWeight"`
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
	keys := make([]string, 0, len(r.rollouts))
	for k := range r.rollouts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ro := r.rollouts[k]
		hash := ro.hash
		cmd := plan.NoCommand
		if len(ro.pending) > 0 {
			cmd, ro.pending = ro.pending[0], ro.pending[1:]
		}
		in := plan.Input{Now: now, TemplateHash: hash, CanaryAvailable: ro.ready(hash), Command: cmd}
		analysisInputs(&in, ro.status, ro.stepRun, ro.bgRun)
		st, d := plan.Reconcile(&ro.obj.Spec, ro.status, in)
		if trafficChanged(ro.status, st) {
			changed = true
		}
		if st.Phase != ro.status.Phase || st.StepIndex != ro.status.StepIndex || st.Message != ro.status.Message {
			r.log.Info("rollout", "rollout", ro.key, "phase", st.Phase, "step", st.StepIndex, "weight", st.CanaryWeight, "message", st.Message)
		}
		ro.status, ro.desired = st, d
		syncRuns(ro.desired, ro.status, &ro.stepRun, &ro.bgRun, func(spec *rolloutsv1alpha1.RolloutAnalysis, step int) *analysisSet {
			return r.startAnalysis(ro, spec, step)
		})
		scaled, err := r.scaleRollout(ro)
		if err != nil {
			return changed, err
		}
		changed = changed || scaled
	}
	return changed, nil
}

func trafficChanged(a, b plan.Status) bool {
	if a.CanaryWeight != b.CanaryWeight || a.StableHash != b.StableHash || a.CanaryHash != b.CanaryHash || len(a.HeaderRoutes) != len(b.HeaderRoutes) {
		return true
	}
	for i := range a.HeaderRoutes {
		if a.HeaderRoutes[i].Name != b.HeaderRoutes[i].Name {
			return true
		}
	}
	return false
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

// scaleRollout brings each template hash's pod count to the desired one.
func (r *Runtime) scaleRollout(ro *rollout) (bool, error) {
	want := map[string]int32{ro.status.StableHash: ro.desired.StableReplicas}
	if ro.status.CanaryHash != ro.status.StableHash {
		want[ro.status.CanaryHash] = ro.desired.CanaryReplicas
	}
	changed := false
	for hash := range ro.groups {
		if _, ok := want[hash]; !ok {
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

// rolloutLoop runs the step machines: every 200 ms, and at once on a
// command or an apply.
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
		r.mu.Unlock()
	}
}

// Command queues a promote/abort/... for a Rollout ("ns/name").
func (r *Runtime) Command(ns, name string, cmd plan.Command) error {
	r.mu.Lock()
	ro := r.rollouts["Rollout "+ns+"/"+name]
	if ro != nil {
		ro.pending = append(ro.pending, cmd)
	}
	r.mu.Unlock()
	if ro == nil {
		return fmt.Errorf("rollout %s/%s not found", ns, name)
	}
	select {
	case r.rolloutWake <- struct{}{}:
	default:
	}
	return nil
}

// Rollouts reports every Rollout.
func (r *Runtime) Rollouts() []RolloutStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []RolloutStatus{}
	for _, ro := range r.rollouts {
		st := ro.status
		rs := RolloutStatus{Name: ro.name, Namespace: ro.ns, Phase: st.Phase, Message: st.Message, Step: st.StepIndex,
			CanaryWeight: st.CanaryWeight, StableHash: st.StableHash, CanaryHash: st.CanaryHash, Aborted: st.Aborted,
			Paused: st.Phase == plan.Paused, TrafficRouted: ro.obj.Spec.Strategy.Canary != nil && ro.obj.Spec.Strategy.Canary.TrafficRouting != nil,
			Stable: Replicas{Desired: ro.desired.StableReplicas, Ready: ro.ready(st.StableHash)}}
		if c := ro.obj.Spec.Strategy.Canary; c != nil {
			rs.Steps = len(c.Steps)
		}
		if st.CanaryHash != st.StableHash {
			rs.Canary = Replicas{Desired: ro.desired.CanaryReplicas, Ready: ro.ready(st.CanaryHash)}
		}
		for _, h := range st.HeaderRoutes {
			rs.HeaderRoutes = append(rs.HeaderRoutes, h.Name)
		}
		rs.Analysis = append(ro.stepRun.reports(), ro.bgRun.reports()...)
		out = append(out, rs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

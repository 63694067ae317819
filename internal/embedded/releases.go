package embedded

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/measure"
	"github.com/graylane/graylane/internal/plan"
	"github.com/graylane/graylane/internal/release"
	"github.com/graylane/graylane/internal/render"
	"github.com/graylane/graylane/internal/rollouttraffic"
)

// The releases - Rollouts, lane plans, their analyses - are run by
// internal/release; this file is the runtime's side of it: the Rollouts'
// pods as processes, the AnalysisTemplates from the applied objects, the
// analysis queries through the runtime's routing and Prometheus.

// PodTemplateHashLabel is the label Argo Rollouts puts on every pod and on
// the DestinationRule subsets it manages.
const PodTemplateHashLabel = rollouttraffic.PodTemplateHashLabel

// NotFoundError: a command names a Rollout or lane the runtime does not run.
type NotFoundError = release.NotFoundError

// RefusedError is a command the runtime refuses: it would change nothing,
// or cannot act on the object as it is now.
type RefusedError = release.RefusedError

// rollout is what the routing of a Rollout is built from (traffic.go).
type rollout struct {
	ns        string
	obj       *rolloutsv1alpha1.Rollout
	status    plan.Status
	desired   plan.Desired
	canarySvc string
}

func rolloutOf(v release.RolloutView) *rollout {
	return &rollout{ns: v.Namespace, obj: v.Object, status: v.Status, desired: v.Desired, canarySvc: v.CanaryService}
}

// rolloutPods are a Rollout's pods, grouped by pod template hash (the
// stable and the canary ReplicaSet, and a previous stable for its
// scale-down delay).
type rolloutPods struct {
	groups map[string]*podGroup
}

type podGroup struct {
	hash string
	pods []*pod
	next int // index of the next pod name
}

// releaseShell is what the release controller works with (release.Pods,
// release.Objects, release.Metrics, release.Events). Its methods but
// Measurer and the Events are called with r.mu held.
type releaseShell struct{ r *Runtime }

func newReleases(r *Runtime) *release.Controller {
	s := releaseShell{r: r}
	return release.New(release.Config{Objects: s, Pods: s, Metrics: s, Events: s, Log: r.log})
}

func (s releaseShell) group(ro release.Ref, hash string) *podGroup {
	if rp := s.r.rolloutPods[ro.Key()]; rp != nil {
		return rp.groups[hash]
	}
	return nil
}

// Replicas counts the Rollout's pods of hash and the ready ones.
func (s releaseShell) Replicas(ro release.Ref, hash string) (total, ready int32) {
	g := s.group(ro, hash)
	if g == nil {
		return 0, 0
	}
	for _, p := range g.pods {
		if p.ready.Load() {
			ready++
		}
	}
	return int32(len(g.pods)), ready
}

// Hashes are the hashes the Rollout has a pod group of.
func (s releaseShell) Hashes(ro release.Ref) []string {
	rp := s.r.rolloutPods[ro.Key()]
	if rp == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(rp.groups))
}

// Scale starts or stops the Rollout's pods of rs.Hash.
func (s releaseShell) Scale(ctx context.Context, ro release.Ref, rs release.ReplicaSet) (bool, error) {
	r := s.r
	rp := r.rolloutPods[ro.Key()]
	if rp == nil {
		rp = &rolloutPods{groups: map[string]*podGroup{}}
		r.rolloutPods[ro.Key()] = rp
	}
	g := rp.groups[rs.Hash]
	if g == nil {
		g = &podGroup{hash: rs.Hash}
		rp.groups[rs.Hash] = g
	}
	changed := false
	for int32(len(g.pods)) < rs.Replicas {
		p, err := r.rolloutPod(ro, rs.Template, g)
		if err != nil {
			return changed, err
		}
		g.pods = append(g.pods, p)
		r.startPod(ctx, p)
		changed = true
	}
	for int32(len(g.pods)) > rs.Replicas {
		p := g.pods[len(g.pods)-1]
		g.pods = g.pods[:len(g.pods)-1]
		go r.stopPod(p)
		changed = true
	}
	if len(g.pods) == 0 && !rs.Active {
		delete(rp.groups, rs.Hash)
	}
	return changed, nil
}

func (r *Runtime) rolloutPod(ro release.Ref, tpl *corev1.PodTemplateSpec, g *podGroup) (*pod, error) {
	key := ro.Key()
	if tpl == nil {
		return nil, fmt.Errorf("%s: no pod template known for hash %s", key, g.hash)
	}
	spec, err := r.templateSpec(key, ro.Namespace, tpl)
	if err != nil {
		return nil, err
	}
	labels := make(map[string]string, len(spec.labels)+1)
	for k, v := range spec.labels {
		labels[k] = v
	}
	labels[PodTemplateHashLabel] = g.hash
	spec.labels = labels
	spec.name = fmt.Sprintf("%s-%s-%d", ro.Name, g.hash, g.next)
	g.next++
	return r.newPod(spec)
}

// rolloutPodList is every Rollout's pods, in a stable order.
func (r *Runtime) rolloutPodList() []*pod {
	var out []*pod
	for _, k := range slices.Sorted(maps.Keys(r.rolloutPods)) {
		rp := r.rolloutPods[k]
		for _, h := range slices.Sorted(maps.Keys(rp.groups)) {
			out = append(out, rp.groups[h].pods...)
		}
	}
	return out
}

// LaneReady: every member has a ready lane pod.
func (s releaseShell) LaneReady(l *lane.Resolved) bool {
	cfg := s.r.cfg.Load()
	if cfg == nil {
		return false
	}
	for _, m := range l.Members {
		if cfg.endpoints(m.Host, m.LaneSubset, m.LaneLabels).pick(nil) == nil {
			return false
		}
	}
	return true
}

// AnalysisTemplate finds a template among the objects the runtime runs:
// the applied ones with Releases rendered (a Release's AnalysisTemplates
// are found like applied ones).
func (s releaseShell) AnalysisTemplate(ns string, ref rolloutsv1alpha1.AnalysisTemplateRef) *rolloutsv1alpha1.AnalysisTemplateSpec {
	var found *rolloutsv1alpha1.AnalysisTemplateSpec
	for _, o := range s.r.compiled {
		switch t := o.Typed.(type) {
		case *rolloutsv1alpha1.AnalysisTemplate:
			if !ref.ClusterScope && t.Name == ref.TemplateName && o.Namespace == ns {
				found = &t.Spec
			}
		case *rolloutsv1alpha1.ClusterAnalysisTemplate:
			if ref.ClusterScope && t.Name == ref.TemplateName {
				found = &t.Spec
			}
		}
	}
	return found
}

// Measurer measures a run as the runtime can: Prometheus addresses that
// name an in-cluster Prometheus this runtime does not run are sent to its
// own first (localizeMetrics); web and Prometheus URLs that name a
// Service of the runtime reach its pods (analysisClient).
func (s releaseShell) Measurer(ctx context.Context, ns string, metrics []rolloutsv1alpha1.Metric) (release.Measurer, func()) {
	r := s.r
	// The run was started under r.mu by a reconcile that publishes its
	// routing before it lets go (a canaryService switched to the canary):
	// measure what it published. (An empty critical section: a barrier.)
	r.mu.Lock()
	r.mu.Unlock()
	client := r.analysisClient(ns)
	r.localizeMetrics(ctx, ns, metrics)
	return &measure.Measurer{PrometheusAddress: r.prometheusAddress(), Client: client}, client.CloseIdleConnections
}

// Measured keeps the measurements at once: a restart resumes with them.
func (s releaseShell) Measured() { s.r.saveStateLocked() }

// Decided runs the step machines now.
func (s releaseShell) Decided() { s.r.wakeRollouts() }

// prometheusAddress is where prometheus metrics without an address are
// queried: the runtime's own admin address (its embedded Prometheus API).
func (r *Runtime) prometheusAddress() string {
	if r.opts.Prometheus != "" {
		return r.opts.Prometheus
	}
	if r.admin == nil || r.prom == nil {
		return ""
	}
	return "http://" + r.admin.addr
}

func (r *Runtime) wakeRollouts() {
	select {
	case r.rolloutWake <- struct{}{}:
	default:
	}
}

// syncRollouts gives the release controller the Rollouts among the
// compiled objects. Called with r.mu held.
func (r *Runtime) syncRollouts() {
	var ros []release.RolloutObject
	for _, o := range r.compiled {
		if ro, ok := o.Typed.(*rolloutsv1alpha1.Rollout); ok {
			ros = append(ros, release.RolloutObject{Namespace: o.Namespace, Rollout: ro})
		}
	}
	r.release.SyncRollouts(ros)
}

// compileLanes renders the Releases of objs, then compiles the lanes with
// their current states. Called with r.mu held.
func (r *Runtime) compileLanes(objs []*manifest.Object) (*lane.Output, error) {
	objs, err := render.Expand(objs)
	if err != nil {
		return nil, err
	}
	return lane.Compile(lane.Input{Objects: objs, States: r.release.LaneStates()})
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
		changed, lanes, err := r.release.Reconcile(r.ctx)
		if err != nil {
			r.log.Error("rollout", "err", err)
		}
		if lanes {
			if err := r.recompileLanes(); err != nil {
				r.log.Error("lane", "err", err)
			}
			changed = true
		}
		if changed {
			r.recompile(r.routeInput())
		}
		r.reconcileCanaryConfigs(r.ctx)
		r.saveState()
		r.mu.Unlock()
	}
}

// Command carries out a promote/abort/retry/pause/resume on a Rollout now,
// as Argo Rollouts' kubectl plugin and controller would, and says what it
// did; a command that would change nothing is a *RefusedError saying why.
func (r *Runtime) Command(ns, name string, cmd plan.Command) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg, changed, err := r.release.Command(r.ctx, release.Ref{Namespace: ns, Name: name}, cmd)
	r.recompileIf(changed)
	r.saveState()
	return msg, err
}

// recompileIf publishes the routing again when a Rollout's traffic changed.
// Called with r.mu held.
func (r *Runtime) recompileIf(changed bool) {
	if changed {
		r.recompile(r.routeInput())
	}
}

// LaneCommand carries out a promote/abort/retry/pause/resume on a lane's
// plan now and says what it did (see release.Controller.LaneCommand).
func (r *Runtime) LaneCommand(ns, name string, cmd plan.Command) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg, changed, err := r.release.LaneCommand(r.ctx, ns, name, cmd)
	if changed {
		if err := r.recompileLanes(); err != nil {
			r.log.Error("lane", "err", err)
		}
		r.recompile(r.routeInput())
	}
	r.saveState()
	return msg, err
}

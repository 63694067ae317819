// Package release runs releases: it drives each Argo Rollout's step
// machine (internal/plan) and each Graylane lane plan, starts, stops and
// resumes their analysis runs (internal/analysis, measured by
// internal/measure, the judge among them), holds the previous stable's
// pods for the scale-down delay, carries out the user's commands
// (promote, abort, retry, pause, resume) and keeps the serialisable state
// a restart resumes from.
//
// It runs nothing itself: what it observes and what it changes go through
// the small interfaces below, which the shell that runs it implements -
// the local runtime (internal/embedded) over its object store, processes
// and routing, a Kubernetes controller over the API server. The
// Controller is not safe for concurrent use: the shell calls it under its
// own lock (the analysis runs measure in their own goroutines and call
// Events without it).
package release

import (
	"context"
	"log/slog"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/lane"
)

// Clock tells the time; the analysis runs wait on it between measurements.
type Clock interface {
	Now() time.Time
	// After is closed (receives) once d has passed.
	After(d time.Duration) <-chan time.Time
}

// Objects finds the objects releases refer to.
type Objects interface {
	// AnalysisTemplate is the spec of the AnalysisTemplate ref names in
	// namespace ns (a ClusterAnalysisTemplate when ref.ClusterScope); nil
	// when there is none.
	AnalysisTemplate(ns string, ref rolloutsv1alpha1.AnalysisTemplateRef) *rolloutsv1alpha1.AnalysisTemplateSpec
}

// Ref names a Rollout.
type Ref struct {
	Namespace, Name string
}

// Key is how the Controller and its state know the Rollout: "Rollout ns/name".
func (r Ref) Key() string { return "Rollout " + r.Namespace + "/" + r.Name }

// ReplicaSet is what a Rollout asks to run of one pod template hash.
type ReplicaSet struct {
	Hash string
	// Template is the pod template of Hash (nil when it is not known; only
	// scaling down is asked then).
	Template *corev1.PodTemplateSpec
	Replicas int32
	// Active: Hash is the Rollout's stable or canary. A set that is
	// neither and scaled to zero is not asked about again: the shell may
	// forget it.
	Active bool
}

// Pods runs the replicas of Rollouts and tells which are ready.
type Pods interface {
	// Replicas counts the Rollout's replicas of a pod template hash and the
	// ready ones among them.
	Replicas(ro Ref, hash string) (total, ready int32)
	// Hashes lists the pod template hashes the Rollout has replicas (or a
	// replica set) of.
	Hashes(ro Ref) []string
	// Scale brings the Rollout's replicas of rs.Hash to rs.Replicas; it
	// reports whether it started or stopped any.
	Scale(ctx context.Context, ro Ref, rs ReplicaSet) (bool, error)
	// LaneReady reports whether every member of the lane has a ready
	// replica of its lane version (a lane plan's setWeight waits for it).
	LaneReady(l *lane.Resolved) bool
}

// Measurer takes one measurement of a metric (a *measure.Measurer).
type Measurer interface {
	Measure(ctx context.Context, metric *rolloutsv1alpha1.Metric) (any, error)
}

// Metrics provides the measurers of analysis runs: the Prometheus (and
// web, and judge) queries.
type Metrics interface {
	// Measurer is called once when a run in namespace ns begins to measure,
	// in the run's goroutine; it may change metrics (the run's own copies,
	// e.g. to point a Prometheus address at one reachable from here). done
	// is called when the run stops measuring.
	Measurer(ctx context.Context, ns string, metrics []rolloutsv1alpha1.Metric) (m Measurer, done func())
}

// Events tell the shell what happened in the analysis runs' goroutines;
// they are called without the shell's lock and must not block long.
type Events interface {
	// Measured: a run recorded measurements; the state to keep changed.
	Measured()
	// Decided: a run was decided; reconcile now rather than at the next tick.
	Decided()
}

// Config is what a Controller works with. Objects, Pods and Metrics are
// required; a nil Events is not told anything, a nil Clock is the system
// clock, a nil Log discards.
type Config struct {
	Objects Objects
	Pods    Pods
	Metrics Metrics
	Events  Events
	Clock   Clock
	Log     *slog.Logger
}

// Controller reconciles Rollouts and lane plans (see the package doc).
type Controller struct {
	objects Objects
	pods    Pods
	metrics Metrics
	events  Events
	clock   Clock
	log     *slog.Logger

	rollouts map[string]*rollout // by Ref.Key
	lanes    map[string]*laneRun // by "ns/name"
	// restored is the state a previous run left, its entries taken as the
	// Rollouts and lanes they belong to are created (state.go).
	restored *State
}

// New returns a Controller with no Rollouts and no lanes.
func New(cfg Config) *Controller {
	c := &Controller{objects: cfg.Objects, pods: cfg.Pods, metrics: cfg.Metrics, events: cfg.Events, clock: cfg.Clock, log: cfg.Log,
		rollouts: map[string]*rollout{}, lanes: map[string]*laneRun{}}
	if c.clock == nil {
		c.clock = systemClock{}
	}
	if c.events == nil {
		c.events = noEvents{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

type noEvents struct{}

func (noEvents) Measured() {}
func (noEvents) Decided()  {}

// Now is the Controller's clock's time.
func (c *Controller) Now() time.Time { return c.clock.Now() }

// Reconcile advances every Rollout and lane plan one observation.
// rollouts: a Rollout's routing or pods changed (publish the routing
// again); lanes: a lane's state changed (compile the lanes again). ctx
// bounds the analysis runs it starts.
func (c *Controller) Reconcile(ctx context.Context) (rollouts, lanes bool, err error) {
	now := c.clock.Now()
	rollouts, err = c.reconcileRollouts(ctx, now)
	lanes = c.reconcileLanes(ctx, now)
	return rollouts, lanes, err
}

// NotFoundError: a command names a Rollout or lane the Controller does not run.
type NotFoundError struct{ Object string }

func (e *NotFoundError) Error() string { return e.Object + " not found" }

// RefusedError is a command the Controller refuses: it would change
// nothing, or cannot act on the object as it is now. Err says why (often
// a *plan.RefusedError).
type RefusedError struct {
	Object string // "rollout shop/order", "lane shop/gray"
	Err    error
}

func (e *RefusedError) Error() string { return e.Object + ": " + e.Err.Error() }

func (e *RefusedError) Unwrap() error { return e.Err }

package embedded

import (
	"context"
	"fmt"
	"sync"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"

	"github.com/graylane/graylane/internal/analysis"
	"github.com/graylane/graylane/internal/measure"
	"github.com/graylane/graylane/internal/plan"
)

// analysisRunner runs one AnalysisRun in the background: it takes the due
// measurements, records them, and stops when the run is decided.
type analysisRunner struct {
	step   int    // the step it belongs to (-1: background)
	canary string // the canary hash it judges
	cancel context.CancelFunc
	mu     sync.Mutex
	run    *analysis.Run
	phase  analysis.Phase
	msg    string
	// stopped: the step machine no longer asks for this run. A run that
	// failed is kept, stopped, so status still shows its measurements
	// (the judge's evidence) until the next run replaces it.
	stopped bool
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

func (a *analysisRunner) status() (plan.AnalysisPhase, string) {
	if a == nil {
		return plan.AnalysisNone, ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return plan.AnalysisNone, ""
	}
	return plan.AnalysisPhase(a.phase), a.msg
}

func (a *analysisRunner) report() AnalysisStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := AnalysisStatus{Kind: "step", Step: a.step, Phase: a.phase, Message: a.msg}
	if a.step < 0 {
		st.Kind, st.Step = "background", 0
	}
	if a.run != nil {
		st.Metrics = append(st.Metrics, a.run.Status...)
	}
	return st
}

func (a *analysisRunner) stop() {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.stopped = true
	a.mu.Unlock()
	if a.cancel != nil {
		a.cancel()
	}
}

// keep is the run to show once stopped: a failed, errored or inconclusive
// run stays (with its evidence), others go.
func (a *analysisRunner) keep() *analysisRunner {
	a.stop()
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.phase == analysis.Running || a.phase == analysis.Successful {
		return nil
	}
	return a
}

func (a *analysisRunner) isStopped() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopped
}

// startAnalysis resolves the templates and arguments of a Rollout analysis
// and starts measuring. A template that cannot be found fails the run at
// once, with a message that says why.
func (r *Runtime) startAnalysis(ro *rollout, spec *rolloutsv1alpha1.RolloutAnalysis, step int) *analysisRunner {
	ctx, cancel := context.WithCancel(r.ctx)
	a := &analysisRunner{step: step, canary: ro.status.CanaryHash, cancel: cancel, phase: analysis.Running}
	specs, err := r.analysisTemplates(ro.ns, spec.Templates)
	if err == nil {
		var run *analysis.Run
		if run, err = analysis.New(specs, rolloutArgs(ro, spec.Args), time.Now()); err == nil {
			a.run = run
			go r.measureLoop(ctx, a)
			return a
		}
	}
	a.phase, a.msg = analysis.Error, err.Error()
	cancel()
	return a
}

func (r *Runtime) analysisTemplates(ns string, refs []rolloutsv1alpha1.AnalysisTemplateRef) ([]*rolloutsv1alpha1.AnalysisTemplateSpec, error) {
	var out []*rolloutsv1alpha1.AnalysisTemplateSpec
	for _, ref := range refs {
		var found *rolloutsv1alpha1.AnalysisTemplateSpec
		for _, o := range r.store.list() {
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
		if found == nil {
			kind := "AnalysisTemplate " + ns + "/"
			if ref.ClusterScope {
				kind = "ClusterAnalysisTemplate "
			}
			return nil, fmt.Errorf("%s%s not found", kind, ref.TemplateName)
		}
		out = append(out, found)
	}
	return out, nil
}

// rolloutArgs resolves a Rollout's analysis arguments: literal values, the
// stable or latest pod template hash, and metadata fields.
func rolloutArgs(ro *rollout, args []rolloutsv1alpha1.AnalysisRunArgument) map[string]string {
	out := map[string]string{}
	for _, a := range args {
		switch {
		case a.ValueFrom != nil && a.ValueFrom.PodTemplateHashValue != nil:
			out[a.Name] = ro.status.CanaryHash
			if *a.ValueFrom.PodTemplateHashValue == rolloutsv1alpha1.Stable {
				out[a.Name] = ro.status.StableHash
			}
		case a.ValueFrom != nil && a.ValueFrom.FieldRef != nil:
			switch a.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				out[a.Name] = ro.name
			case "metadata.namespace":
				out[a.Name] = ro.ns
			}
		default:
			out[a.Name] = a.Value
		}
	}
	return out
}

// measureLoop takes measurements when they are due until the run is decided.
func (r *Runtime) measureLoop(ctx context.Context, a *analysisRunner) {
	m := &measure.Measurer{PrometheusAddress: r.prometheusAddress()}
	for {
		a.mu.Lock()
		due, wake := a.run.Due(time.Now())
		a.mu.Unlock()
		for _, i := range due {
			v, err := m.Measure(ctx, &a.run.Metrics[i])
			if ctx.Err() != nil {
				return
			}
			a.mu.Lock()
			a.run.Record(i, time.Now(), v, err)
			a.phase, a.msg = a.run.Phase, a.run.Message
			a.mu.Unlock()
		}
		a.mu.Lock()
		decided := a.run.Phase != analysis.Running
		a.mu.Unlock()
		if decided {
			r.wakeRollouts()
			return
		}
		if len(due) > 0 {
			continue
		}
		wait := time.Until(wake)
		if wake.IsZero() || wait < 0 {
			wait = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

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

// syncAnalysis starts, keeps or stops the step and background runs the
// step machine asks for. Called with r.mu held, after Reconcile.
func (r *Runtime) syncAnalysis(ro *rollout) {
	d, st := ro.desired, ro.status
	if d.StepAnalysis == nil {
		ro.stepRun = ro.stepRun.keep()
	} else if ro.stepRun == nil || ro.stepRun.step != st.StepIndex || ro.stepRun.canary != st.CanaryHash || ro.stepRun.isStopped() {
		ro.stepRun.stop()
		ro.stepRun = r.startAnalysis(ro, d.StepAnalysis, st.StepIndex)
	}
	if d.BackgroundAnalysis == nil {
		ro.bgRun = ro.bgRun.keep()
	} else if ro.bgRun == nil || ro.bgRun.canary != st.CanaryHash || ro.bgRun.isStopped() {
		ro.bgRun.stop()
		ro.bgRun = r.startAnalysis(ro, &d.BackgroundAnalysis.RolloutAnalysis, -1)
	}
}

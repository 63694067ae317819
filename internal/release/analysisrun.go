package release

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"

	"github.com/graylane/graylane/internal/analysis"
	"github.com/graylane/graylane/internal/plan"
)

// analysisRunner runs one AnalysisRun in the background: it takes the due
// measurements, records them, and stops when the run is decided.
type analysisRunner struct {
	step   int    // the step it belongs to (-1: background)
	canary string // the canary hash it judges
	ns     string // the namespace short Service names resolve in
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

// AnalysisReport is a run as `graylane rollout get` shows it.
type AnalysisReport struct {
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

func (a *analysisRunner) report() AnalysisReport {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := AnalysisReport{Kind: "step", Step: a.step, Phase: a.phase, Message: a.msg}
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

// savedRun is the run as the state file keeps it (null: none started).
func (a *analysisRunner) savedRun() json.RawMessage {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.run == nil {
		return nil
	}
	b, err := json.Marshal(a.run)
	if err != nil {
		return nil
	}
	return b
}

// resumeRun continues run from its saved copy, when there is one that
// fits the templates (otherwise the run starts afresh, said in the log).
func (c *Controller) resumeRun(run *analysis.Run, saved json.RawMessage, hash string, step int) {
	if len(saved) == 0 || string(saved) == "null" {
		return
	}
	var s analysis.Run
	err := json.Unmarshal(saved, &s)
	if err == nil {
		err = run.Resume(&s)
	}
	if err != nil {
		c.log.Warn("state: the saved analysis run cannot be resumed; it starts afresh", "canary", hash, "step", step, "err", err)
		return
	}
	c.log.Info("analysis resumed", "canary", hash, "step", step, "phase", run.Phase)
}

func (a *analysisRunner) isStopped() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopped
}

// analysisSet is one analysis a step machine asks for: one run for a
// Rollout, one run per member for a lane.
type analysisSet struct {
	step    int    // the step it belongs to (-1: background)
	hash    string // the canary hash it judges
	members []string
	runs    []*analysisRunner
}

// phase is the worst phase of the runs, and why.
func (a *analysisSet) phase() (plan.AnalysisPhase, string) {
	if a == nil {
		return plan.AnalysisNone, ""
	}
	rank := map[plan.AnalysisPhase]int{plan.AnalysisSuccessful: 0, plan.AnalysisRunning: 1, plan.AnalysisPending: 1,
		plan.AnalysisInconclusive: 2, plan.AnalysisError: 3, plan.AnalysisFailed: 4}
	worst := plan.AnalysisSuccessful
	var msgs []string
	for i, r := range a.runs {
		p, m := r.status()
		if a.members[i] != "" {
			m = a.members[i] + ": " + m
		}
		switch {
		case len(a.runs) == 1 || rank[p] > rank[worst]:
			worst, msgs = p, []string{m}
		case rank[p] == rank[worst] && rank[p] >= rank[plan.AnalysisInconclusive]:
			// Every member that failed is named: in a call chain the
			// callers of a failing member fail with it, and which of them
			// finished first says nothing about the cause.
			msgs = append(msgs, m)
		}
	}
	return worst, strings.Join(msgs, "; ")
}

func (a *analysisSet) stop() {
	if a != nil {
		for _, r := range a.runs {
			r.stop()
		}
	}
}

// keep stops the runs and returns the set when one of them failed, errored
// or was inconclusive, so status still shows why (nil otherwise).
func (a *analysisSet) keep() *analysisSet {
	if a == nil {
		return nil
	}
	kept := false
	for _, r := range a.runs {
		if r.keep() != nil {
			kept = true
		}
	}
	if kept {
		return a
	}
	return nil
}

// current reports whether the set is the running one for step and hash.
func (a *analysisSet) current(step int, hash string) bool {
	return a != nil && a.step == step && a.hash == hash && (len(a.runs) == 0 || !a.runs[0].isStopped())
}

// reports is the status of every run.
func (a *analysisSet) reports() []AnalysisReport {
	var out []AnalysisReport
	if a != nil {
		for i, run := range a.runs {
			s := run.report()
			s.Member = a.members[i]
			out = append(out, s)
		}
	}
	return out
}

// startAnalysis resolves the templates and arguments of a Rollout analysis
// and starts measuring.
func (c *Controller) startAnalysis(ctx context.Context, ro *rollout, spec *rolloutsv1alpha1.RolloutAnalysis, step int) *analysisSet {
	specs, err := c.analysisTemplates(ro.ref.Namespace, spec.Templates)
	saved := takeAnalysis(ro.resume, step, ro.status.CanaryHash, 0)
	run := c.startRun(ctx, ro.ref.Namespace, ro.status.CanaryHash, step, specs, err, rolloutArgs(ro, spec.Args), saved)
	return &analysisSet{step: step, hash: ro.status.CanaryHash, members: []string{""}, runs: []*analysisRunner{run}}
}

// startRun starts measuring one AnalysisRun in the background, until ctx
// ends or the run is stopped. A template that could not be resolved (err)
// fails the run at once, saying why. A run saved before a restart (saved,
// see state.go) continues with its measurements.
func (c *Controller) startRun(ctx context.Context, ns, hash string, step int, specs []*rolloutsv1alpha1.AnalysisTemplateSpec, err error, args map[string]string, saved json.RawMessage) *analysisRunner {
	ctx, cancel := context.WithCancel(ctx)
	a := &analysisRunner{step: step, canary: hash, ns: ns, cancel: cancel, phase: analysis.Running}
	if err == nil {
		var run *analysis.Run
		if run, err = analysis.New(specs, args, c.clock.Now()); err == nil {
			c.resumeRun(run, saved, hash, step)
			a.run, a.phase, a.msg = run, run.Phase, run.Message
			go c.measureLoop(ctx, a)
			return a
		}
	}
	a.phase, a.msg = analysis.Error, err.Error()
	cancel()
	return a
}

// analysisTemplates finds the templates an analysis names (Objects).
func (c *Controller) analysisTemplates(ns string, refs []rolloutsv1alpha1.AnalysisTemplateRef) ([]*rolloutsv1alpha1.AnalysisTemplateSpec, error) {
	var out []*rolloutsv1alpha1.AnalysisTemplateSpec
	for _, ref := range refs {
		found := c.objects.AnalysisTemplate(ns, ref)
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
// stable or latest pod template hash, metadata fields and fields of the
// spec (rolloutField).
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
				out[a.Name] = ro.ref.Name
			case "metadata.namespace":
				out[a.Name] = ro.ref.Namespace
			default:
				if v, ok := rolloutField(ro.obj, a.ValueFrom.FieldRef.FieldPath); ok {
					out[a.Name] = v
				}
			}
		default:
			out[a.Name] = a.Value
		}
	}
	return out
}

// measureLoop takes measurements when they are due until the run is
// decided, with the measurer Metrics gives the run.
func (c *Controller) measureLoop(ctx context.Context, a *analysisRunner) {
	// Only this goroutine reads the run's metrics: they are its own copies.
	m, done := c.metrics.Measurer(ctx, a.ns, a.run.Metrics)
	if done != nil {
		defer done()
	}
	for {
		a.mu.Lock()
		due, wake := a.run.Due(c.clock.Now())
		a.mu.Unlock()
		for _, i := range due {
			v, err := m.Measure(ctx, &a.run.Metrics[i])
			if ctx.Err() != nil {
				return
			}
			a.mu.Lock()
			a.run.Record(i, c.clock.Now(), v, err)
			a.phase, a.msg = a.run.Phase, a.run.Message
			a.mu.Unlock()
		}
		if len(due) > 0 {
			// Kept at once: a restart resumes with these measurements.
			c.events.Measured()
		}
		a.mu.Lock()
		decided := a.run.Phase != analysis.Running
		a.mu.Unlock()
		if decided {
			c.events.Decided()
			return
		}
		if len(due) > 0 {
			continue
		}
		wait := wake.Sub(c.clock.Now())
		if wake.IsZero() || wait < 0 {
			wait = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-c.clock.After(wait):
		}
	}
}

// syncRuns starts, keeps or stops the step and background analyses a step
// machine asks for (after Reconcile); start begins one.
func syncRuns(d plan.Desired, st plan.Status, stepRun, bgRun **analysisSet, start func(*rolloutsv1alpha1.RolloutAnalysis, int) *analysisSet) {
	if d.StepAnalysis == nil {
		*stepRun = (*stepRun).keep()
	} else if !(*stepRun).current(st.StepIndex, st.CanaryHash) {
		(*stepRun).stop()
		*stepRun = start(d.StepAnalysis, st.StepIndex)
	}
	if d.BackgroundAnalysis == nil {
		*bgRun = (*bgRun).keep()
	} else if !(*bgRun).current(-1, st.CanaryHash) {
		(*bgRun).stop()
		*bgRun = start(&d.BackgroundAnalysis.RolloutAnalysis, -1)
	}
}

// inputs feeds the analyses' phases to the step machine's input: the step
// analysis when it belongs to the current step and canary, the background
// one when it judges the current canary.
func analysisInputs(in *plan.Input, st plan.Status, stepRun, bgRun *analysisSet) {
	if stepRun != nil && stepRun.step == st.StepIndex && stepRun.hash == st.CanaryHash {
		in.StepAnalysis, in.AnalysisMessage = stepRun.phase()
	}
	if bgRun != nil && bgRun.hash == st.CanaryHash {
		p, msg := bgRun.phase()
		in.BackgroundAnalysis = p
		if in.AnalysisMessage == "" {
			in.AnalysisMessage = msg
		}
	}
}

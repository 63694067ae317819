// Package plan is the step machine of a canary release, as Argo Rollouts
// runs it: a pure function from (Rollout spec, last status, what is observed
// now) to (next status, what should be running). No I/O, no clock: the
// caller passes the time. The embedded runtime drives it; the Kubernetes
// controller leaves Rollouts to the real Argo Rollouts controller and uses
// this package only to predict what it will do.
package plan

import (
	"fmt"
	"math"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
)

// Phase is the Rollout phase as Argo reports it.
type Phase string

// Phases.
const (
	Progressing Phase = "Progressing"
	Paused      Phase = "Paused"
	Healthy     Phase = "Healthy"
	Degraded    Phase = "Degraded"
)

// AnalysisPhase is the phase of an AnalysisRun.
type AnalysisPhase string

// Analysis phases, as Argo's AnalysisRun reports them.
const (
	AnalysisNone         AnalysisPhase = ""
	AnalysisPending      AnalysisPhase = "Pending"
	AnalysisRunning      AnalysisPhase = "Running"
	AnalysisSuccessful   AnalysisPhase = "Successful"
	AnalysisFailed       AnalysisPhase = "Failed"
	AnalysisError        AnalysisPhase = "Error"
	AnalysisInconclusive AnalysisPhase = "Inconclusive"
)

// Command is what a user asks (kubectl argo rollouts promote|abort|...).
type Command string

// Commands.
const (
	NoCommand   Command = ""
	Promote     Command = "promote"
	PromoteFull Command = "promote-full"
	Abort       Command = "abort"
	Retry       Command = "retry"
	Pause       Command = "pause"
	Resume      Command = "resume"
)

// HeaderRoute is a managed route set by a setHeaderRoute step.
type HeaderRoute struct {
	Name  string
	Match []rolloutsv1alpha1.HeaderRoutingMatch
}

// Status is what the machine remembers between calls (the Rollout status).
type Status struct {
	StableHash, CanaryHash string
	// StepIndex is currentStepIndex: the step being run; len(steps) once
	// every step is done.
	StepIndex int
	Phase     Phase
	Message   string
	Aborted   bool
	AbortedAt time.Time
	// AbortedCanaryReplicas is the canary's size when it was aborted: it
	// keeps it until the scale-down delay has passed.
	AbortedCanaryReplicas int32
	// PausedAt is when the current pause began (zero when not paused).
	PausedAt time.Time
	// UserPaused is a pause asked by the user (spec.paused).
	UserPaused bool
	// InconclusivePause: a step analysis was inconclusive; promote resumes.
	InconclusivePause bool
	CanaryWeight      int32
	HeaderRoutes      []HeaderRoute
	CanaryScale       *rolloutsv1alpha1.SetCanaryScale
}

// Input is what is observed now.
type Input struct {
	Now time.Time
	// TemplateHash identifies the current spec.template.
	TemplateHash string
	// CanaryAvailable is the number of ready replicas of the canary hash.
	CanaryAvailable int32
	// StepAnalysis is the phase of the current step's analysis run;
	// BackgroundAnalysis that of the background analysis.
	StepAnalysis       AnalysisPhase
	BackgroundAnalysis AnalysisPhase
	// AnalysisMessage explains a failed analysis (shown in the message).
	AnalysisMessage string
	Command         Command
}

// Desired is what should be running after this call.
type Desired struct {
	StableReplicas, CanaryReplicas int32
	// CanaryWeight is the traffic weight of the canary subset (0-100).
	CanaryWeight int32
	HeaderRoutes []HeaderRoute
	// StepAnalysis is the analysis the current step runs (nil: none);
	// BackgroundAnalysis runs alongside the steps from its startingStep.
	StepAnalysis       *rolloutsv1alpha1.RolloutAnalysis
	BackgroundAnalysis *rolloutsv1alpha1.RolloutAnalysisBackground
	// RequeueAfter asks to be called again after this long (0: on change).
	RequeueAfter time.Duration
}

// DefaultAbortScaleDownDelay is Argo's abortScaleDownDelaySeconds default.
const DefaultAbortScaleDownDelay = 30 * time.Second

// Reconcile advances a canary Rollout by one observation.
func Reconcile(spec *rolloutsv1alpha1.RolloutSpec, st Status, in Input) (Status, Desired) {
	replicas := int32(1)
	if spec.Replicas != nil {
		replicas = *spec.Replicas
	}
	canary := spec.Strategy.Canary
	if canary == nil {
		canary = &rolloutsv1alpha1.CanaryStrategy{}
	}
	m := &machine{spec: spec, canary: canary, replicas: replicas, st: st, in: in}
	m.observeTemplate()
	m.command()
	m.run()
	return m.st, m.desired()
}

type machine struct {
	spec     *rolloutsv1alpha1.RolloutSpec
	canary   *rolloutsv1alpha1.CanaryStrategy
	replicas int32
	st       Status
	in       Input
	requeue  time.Duration
	stepRun  *rolloutsv1alpha1.RolloutAnalysis
}

func (m *machine) steps() []rolloutsv1alpha1.CanaryStep { return m.canary.Steps }

// observeTemplate starts a canary when the template changed.
func (m *machine) observeTemplate() {
	h := m.in.TemplateHash
	switch {
	case m.st.StableHash == "":
		// First deployment: no canary, straight to stable (as Argo).
		m.st = Status{StableHash: h, CanaryHash: h, StepIndex: len(m.steps()), Phase: Healthy}
	case h == m.st.CanaryHash:
	case h == m.st.StableHash:
		// Back to the stable template: the canary is dropped, no steps.
		m.st = Status{StableHash: h, CanaryHash: h, StepIndex: len(m.steps()), Phase: Healthy, UserPaused: m.st.UserPaused}
	default:
		m.st = Status{StableHash: m.st.StableHash, CanaryHash: h, Phase: Progressing, UserPaused: m.st.UserPaused}
	}
}

func (m *machine) command() {
	switch m.in.Command {
	case Abort:
		if m.st.CanaryHash != m.st.StableHash && !m.st.Aborted {
			m.abort("aborted by the user")
		}
	case Retry:
		if m.st.Aborted {
			m.st.Aborted, m.st.AbortedAt, m.st.AbortedCanaryReplicas, m.st.StepIndex, m.st.Message = false, time.Time{}, 0, 0, ""
			m.st.Phase = Progressing
		}
	case Promote:
		switch {
		case m.st.UserPaused:
			m.st.UserPaused = false
		case m.st.InconclusivePause || !m.st.PausedAt.IsZero():
			m.st.InconclusivePause, m.st.PausedAt = false, time.Time{}
			m.st.StepIndex++
		case m.st.StepIndex < len(m.steps()):
			m.st.StepIndex++
		}
	case PromoteFull:
		if !m.st.Aborted {
			m.st.StepIndex, m.st.PausedAt, m.st.InconclusivePause, m.st.UserPaused = len(m.steps()), time.Time{}, false, false
		}
	case Pause:
		m.st.UserPaused = true
	case Resume:
		m.st.UserPaused = false
	}
}

func (m *machine) abort(why string) {
	m.st.AbortedCanaryReplicas = m.canaryReplicas()
	if m.st.StepIndex >= len(m.steps()) {
		m.st.AbortedCanaryReplicas = m.replicas
	}
	m.st.Aborted, m.st.AbortedAt = true, m.in.Now
	m.st.CanaryWeight, m.st.HeaderRoutes, m.st.PausedAt, m.st.InconclusivePause = 0, nil, time.Time{}, false
	m.st.Phase = Degraded
	m.st.Message = fmt.Sprintf("RolloutAborted: Rollout aborted update to revision %s: %s", m.st.CanaryHash, why)
}

// run executes steps until one has to wait.
func (m *machine) run() {
	if m.st.CanaryHash == m.st.StableHash {
		m.st.Phase, m.st.CanaryWeight, m.st.HeaderRoutes, m.st.CanaryScale = Healthy, 0, nil, nil
		if m.st.UserPaused {
			m.st.Phase, m.st.Message = Paused, "manually paused"
		}
		return
	}
	if m.st.Aborted {
		m.st.Phase = Degraded
		return
	}
	if m.backgroundFailed() {
		return
	}
	if m.st.UserPaused {
		m.st.Phase, m.st.Message = Paused, "manually paused"
		return
	}
	for m.st.StepIndex < len(m.steps()) {
		if !m.step(m.steps()[m.st.StepIndex]) {
			return
		}
		m.st.StepIndex++
	}
	m.complete()
}

// backgroundFailed aborts on a failed background analysis.
func (m *machine) backgroundFailed() bool {
	switch m.in.BackgroundAnalysis {
	case AnalysisFailed, AnalysisError:
		if m.backgroundActive() {
			m.abort("background analysis " + string(m.in.BackgroundAnalysis) + m.analysisWhy())
			return true
		}
	}
	return false
}

func (m *machine) analysisWhy() string {
	if m.in.AnalysisMessage == "" {
		return ""
	}
	return ": " + m.in.AnalysisMessage
}

func (m *machine) backgroundActive() bool {
	bg := m.canary.Analysis
	if bg == nil || m.st.Aborted || m.st.CanaryHash == m.st.StableHash {
		return false
	}
	start := int32(0)
	if bg.StartingStep != nil {
		start = *bg.StartingStep
	}
	return int32(m.st.StepIndex) >= start
}

// step runs one step; it reports whether the step is done.
func (m *machine) step(s rolloutsv1alpha1.CanaryStep) bool {
	switch {
	case s.SetWeight != nil:
		if w := *s.SetWeight; w < 0 || w > 100 {
			// Argo's controller marks such a spec InvalidSpec; the loader
			// refuses it, so only an unchecked caller gets here.
			m.invalid(fmt.Sprintf("setWeight %d is not between 0 and 100", w))
			return false
		}
		m.st.CanaryWeight = *s.SetWeight
		if m.in.CanaryAvailable < m.canaryReplicas() {
			m.progressing(fmt.Sprintf("waiting for canary replicas: %d of %d available", m.in.CanaryAvailable, m.canaryReplicas()))
			return false
		}
		return true
	case s.Pause != nil:
		return m.pause(s.Pause)
	case s.SetCanaryScale != nil:
		m.st.CanaryScale = s.SetCanaryScale
		return true
	case s.SetHeaderRoute != nil:
		m.setHeaderRoute(s.SetHeaderRoute)
		return true
	case s.Analysis != nil:
		return m.analysis(s.Analysis)
	}
	m.st.Phase = Degraded
	m.st.Message = fmt.Sprintf("step %d: experiment, plugin and setMirrorRoute steps are not supported by Graylane's step machine", m.st.StepIndex)
	return false
}

// invalid stops at a step Argo Rollouts finds invalid (InvalidSpec).
func (m *machine) invalid(why string) {
	m.st.Phase = Degraded
	m.st.Message = fmt.Sprintf("InvalidSpec: step %d: %s", m.st.StepIndex, why)
}

func (m *machine) progressing(msg string) {
	m.st.Phase, m.st.Message = Progressing, msg
}

func (m *machine) pause(p *rolloutsv1alpha1.RolloutPause) bool {
	if m.st.PausedAt.IsZero() {
		m.st.PausedAt = m.in.Now
	}
	if p.Duration == nil {
		m.st.Phase, m.st.Message = Paused, "CanaryPauseStep: paused until promoted"
		return false
	}
	if p.DurationSeconds() < 0 {
		m.st.PausedAt = time.Time{}
		m.invalid(fmt.Sprintf("pause duration %q is not a number of seconds or a duration such as 30s", p.Duration.String()))
		return false
	}
	d := time.Duration(p.DurationSeconds()) * time.Second
	if left := m.st.PausedAt.Add(d).Sub(m.in.Now); left > 0 {
		m.st.Phase, m.st.Message = Paused, fmt.Sprintf("CanaryPauseStep: paused for %s more", left.Round(time.Second))
		m.requeue = left
		return false
	}
	m.st.PausedAt = time.Time{}
	return true
}

func (m *machine) setHeaderRoute(s *rolloutsv1alpha1.SetHeaderRoute) {
	var out []HeaderRoute
	for _, r := range m.st.HeaderRoutes {
		if r.Name != s.Name {
			out = append(out, r)
		}
	}
	if len(s.Match) > 0 {
		out = append(out, HeaderRoute{Name: s.Name, Match: s.Match})
	}
	m.st.HeaderRoutes = out
}

func (m *machine) analysis(a *rolloutsv1alpha1.RolloutAnalysis) bool {
	m.stepRun = a
	switch m.in.StepAnalysis {
	case AnalysisSuccessful:
		m.stepRun = nil
		return true
	case AnalysisFailed, AnalysisError:
		m.stepRun = nil
		m.abort(fmt.Sprintf("step %d analysis %s%s", m.st.StepIndex, m.in.StepAnalysis, m.analysisWhy()))
		return false
	case AnalysisInconclusive:
		m.st.InconclusivePause = true
		m.st.Phase, m.st.Message = Paused, "InconclusiveAnalysis: paused until promoted or aborted"
		return false
	}
	m.progressing(fmt.Sprintf("step %d: analysis running", m.st.StepIndex))
	return false
}

// complete promotes the canary once every step is done: full weight, then
// the canary becomes the stable once all its replicas are available.
func (m *machine) complete() {
	m.st.CanaryWeight = 100
	if m.in.CanaryAvailable < m.replicas {
		m.progressing(fmt.Sprintf("promoting: waiting for canary replicas: %d of %d available", m.in.CanaryAvailable, m.replicas))
		return
	}
	m.st.StableHash = m.st.CanaryHash
	m.st.CanaryWeight, m.st.HeaderRoutes, m.st.CanaryScale = 0, nil, nil
	m.st.Phase, m.st.Message = Healthy, ""
}

// canaryReplicas is the canary's replica count for the current weight or
// setCanaryScale override.
func (m *machine) canaryReplicas() int32 {
	if s := m.st.CanaryScale; s != nil && !s.MatchTrafficWeight {
		if s.Replicas != nil {
			return *s.Replicas
		}
		if s.Weight != nil {
			return ceilPercent(m.replicas, *s.Weight)
		}
	}
	return ceilPercent(m.replicas, m.st.CanaryWeight)
}

func ceilPercent(n, pct int32) int32 {
	return int32(math.Ceil(float64(n) * float64(clamp(pct)) / 100))
}

func clamp(w int32) int32 { return max(0, min(100, w)) }

func (m *machine) desired() Desired {
	d := Desired{CanaryWeight: m.st.CanaryWeight, HeaderRoutes: m.st.HeaderRoutes, StepAnalysis: m.stepRun, RequeueAfter: m.requeue}
	switch {
	case m.st.CanaryHash == m.st.StableHash:
		d.StableReplicas = m.replicas
	case m.st.Aborted:
		d.StableReplicas = m.replicas
		delay := DefaultAbortScaleDownDelay
		if m.canary.AbortScaleDownDelaySeconds != nil {
			delay = time.Duration(*m.canary.AbortScaleDownDelaySeconds) * time.Second
		}
		if left := m.st.AbortedAt.Add(delay).Sub(m.in.Now); left > 0 {
			d.CanaryReplicas, d.RequeueAfter = m.st.AbortedCanaryReplicas, left
		}
	default:
		d.CanaryReplicas = m.canaryReplicas()
		if m.st.StepIndex >= len(m.steps()) {
			d.CanaryReplicas = m.replicas
		}
		d.StableReplicas = m.replicas
		if m.canary.TrafficRouting == nil {
			// Basic canary: the weight is the share of replicas.
			d.StableReplicas = max(0, m.replicas-d.CanaryReplicas)
		}
	}
	if m.backgroundActive() {
		d.BackgroundAnalysis = m.canary.Analysis
	}
	return d
}

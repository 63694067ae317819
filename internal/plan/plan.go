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
	// PromoteFull: a full promotion (promote --full) is under way.
	PromoteFull bool
	// CanaryWeight is the weight traffic gets now (Argo's
	// status.canary.weights.canary.weight): the current setWeight once the
	// canary has the replicas it needs available, the previous one until
	// then, 0 while no canary replica is available.
	CanaryWeight int32
	HeaderRoutes []HeaderRoute
	CanaryScale  *rolloutsv1alpha1.SetCanaryScale
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
	// Command is a user's command applied first, as Apply does (a refused
	// one changes nothing).
	Command Command
}

// Desired is what should be running after this call.
type Desired struct {
	StableReplicas, CanaryReplicas int32
	// CanaryWeight is the traffic weight of the canary subset (0-100), as
	// Status.CanaryWeight; SetWeight is the weight the current step asks
	// for (Argo's "SetWeight" beside the "ActualWeight").
	CanaryWeight, SetWeight int32
	// HeaderRoutes are the managed routes in effect: none while no canary
	// replica is available (Argo removes them then).
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
	m := newMachine(spec, st, in)
	m.observeTemplate()
	if in.Command != NoCommand {
		_, _ = m.command(in.Command)
	}
	m.run()
	m.route()
	return m.st, m.desired()
}

func newMachine(spec *rolloutsv1alpha1.RolloutSpec, st Status, in Input) *machine {
	replicas := int32(1)
	if spec.Replicas != nil {
		replicas = *spec.Replicas
	}
	canary := spec.Strategy.Canary
	if canary == nil {
		canary = &rolloutsv1alpha1.CanaryStrategy{}
	}
	return &machine{spec: spec, canary: canary, replicas: replicas, st: st, in: in}
}

type machine struct {
	spec     *rolloutsv1alpha1.RolloutSpec
	canary   *rolloutsv1alpha1.CanaryStrategy
	replicas int32
	st       Status
	in       Input
	requeue  time.Duration
	stepRun  *rolloutsv1alpha1.RolloutAnalysis
	// invalidSpec: a step Argo would refuse stopped the rollout; traffic
	// stays where it was.
	invalidSpec bool
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

func (m *machine) abort(why string) {
	m.st.AbortedCanaryReplicas = m.canaryWant()
	m.st.Aborted, m.st.AbortedAt, m.st.PromoteFull = true, m.in.Now, false
	m.st.CanaryWeight, m.st.HeaderRoutes, m.st.PausedAt, m.st.InconclusivePause = 0, nil, time.Time{}, false
	m.st.Phase = Degraded
	m.st.Message = fmt.Sprintf("RolloutAborted: Rollout aborted update to revision %s: %s", m.st.CanaryHash, why)
}

// run executes steps until one has to wait.
func (m *machine) run() {
	if !m.updating() {
		m.st.Phase, m.st.CanaryWeight, m.st.HeaderRoutes, m.st.CanaryScale, m.st.PromoteFull = Healthy, 0, nil, nil, false
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
	if bg == nil || m.st.Aborted || !m.updating() {
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
		if m.in.CanaryAvailable < m.canaryReplicas() {
			m.progressing(fmt.Sprintf("waiting for canary replicas: %d of %d available (traffic stays at %d%% until then)",
				m.in.CanaryAvailable, m.canaryReplicas(), m.routedWeight()))
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
	m.st.Phase, m.invalidSpec = Degraded, true
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
		// The message names the end, not the time left, so it stays the
		// same for the whole pause: one log line when it starts, one when
		// it ends.
		m.st.Phase, m.st.Message = Paused, fmt.Sprintf("CanaryPauseStep: paused for %s, until %s", d, m.st.PausedAt.Add(d).UTC().Format("15:04:05Z"))
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

// complete promotes the canary once every step is done: once all its
// replicas are available it takes 100% and becomes the stable.
func (m *machine) complete() {
	if m.in.CanaryAvailable < m.replicas {
		m.progressing(fmt.Sprintf("promoting: waiting for canary replicas: %d of %d available (traffic stays at %d%% until then)",
			m.in.CanaryAvailable, m.replicas, m.routedWeight()))
		return
	}
	m.st.StableHash = m.st.CanaryHash
	m.st.HeaderRoutes, m.st.CanaryScale, m.st.PromoteFull = nil, nil, false
	m.st.Phase, m.st.Message = Healthy, ""
}

// updating reports whether an update is in progress (a canary exists).
func (m *machine) updating() bool { return m.st.CanaryHash != m.st.StableHash }

// route sets the weight traffic gets (see routedWeight).
func (m *machine) route() { m.st.CanaryWeight = m.routedWeight() }

// routedWeight is the canary weight the traffic router is given, as Argo's
// reconcileTrafficRouting computes it: nothing while no canary replica is
// available; the current setWeight once the canary has the replicas the
// current step needs; until then the weight of the setWeight step before
// the current one (a weight moves only when its replicas are available).
// During a full promotion the weight stays where it was until every canary
// replica is available.
func (m *machine) routedWeight() int32 {
	switch {
	case m.invalidSpec:
		return m.st.CanaryWeight
	case !m.updating() || m.st.Aborted || m.in.CanaryAvailable <= 0:
		return 0
	case m.in.CanaryAvailable >= m.canaryWant():
		return m.setWeight()
	case m.st.PromoteFull:
		return m.st.CanaryWeight
	}
	steps := m.steps()
	for i := min(m.st.StepIndex, len(steps)) - 1; i >= 0; i-- {
		if w := steps[i].SetWeight; w != nil {
			return clamp(*w)
		}
	}
	return 0
}

// setWeight is the weight the current step asks for (Argo's
// GetCurrentSetWeight): the last setWeight at or before the current step,
// 100 once every step is done, 0 when aborted.
func (m *machine) setWeight() int32 {
	steps := m.steps()
	switch {
	case m.st.Aborted || !m.updating():
		return 0
	case m.st.StepIndex >= len(steps):
		return 100
	}
	for i := m.st.StepIndex; i >= 0; i-- {
		if w := steps[i].SetWeight; w != nil {
			return clamp(*w)
		}
	}
	return 0
}

// canaryWant is how many canary replicas the current step needs: all of
// them once every step is done or during a full promotion.
func (m *machine) canaryWant() int32 {
	if m.st.StepIndex >= len(m.steps()) || m.st.PromoteFull {
		return m.replicas
	}
	return m.canaryReplicas()
}

// canaryReplicas is the canary's replica count for the current setWeight
// or setCanaryScale override.
func (m *machine) canaryReplicas() int32 {
	if s := m.st.CanaryScale; s != nil && !s.MatchTrafficWeight {
		if s.Replicas != nil {
			return *s.Replicas
		}
		if s.Weight != nil {
			return ceilPercent(m.replicas, *s.Weight)
		}
	}
	return ceilPercent(m.replicas, m.setWeight())
}

func ceilPercent(n, pct int32) int32 {
	return int32(math.Ceil(float64(n) * float64(clamp(pct)) / 100))
}

func clamp(w int32) int32 { return max(0, min(100, w)) }

func (m *machine) desired() Desired {
	d := Desired{CanaryWeight: m.st.CanaryWeight, SetWeight: m.setWeight(), StepAnalysis: m.stepRun, RequeueAfter: m.requeue}
	if m.in.CanaryAvailable > 0 {
		d.HeaderRoutes = m.st.HeaderRoutes
	}
	switch {
	case !m.updating():
		d.StableReplicas = m.replicas
	case m.st.Aborted:
		d.StableReplicas = m.replicas
		if left := m.st.AbortedAt.Add(m.abortDelay()).Sub(m.in.Now); left > 0 {
			d.CanaryReplicas, d.RequeueAfter = m.st.AbortedCanaryReplicas, left
		}
	default:
		d.CanaryReplicas = m.canaryWant()
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

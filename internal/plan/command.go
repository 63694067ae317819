package plan

import (
	"fmt"
	"strings"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
)

// Refusal is why a command changes nothing.
type Refusal string

// Refusals.
const (
	// NoUpdate: no update is in progress (the canary is the stable).
	NoUpdate Refusal = "NoUpdate"
	// IsAborted: promote on an aborted update.
	IsAborted Refusal = "Aborted"
	// AlreadyAborted: abort on an aborted update.
	AlreadyAborted Refusal = "AlreadyAborted"
	// NotAborted: retry on an update that is not aborted.
	NotAborted Refusal = "NotAborted"
	// AlreadyPaused: pause on a rollout the user paused already.
	AlreadyPaused Refusal = "AlreadyPaused"
	// NotPaused: resume on a rollout the user did not pause.
	NotPaused Refusal = "NotPaused"
	// StepsDone: promote when every step is done (the canary is waiting
	// for its replicas to become the stable).
	StepsDone Refusal = "StepsDone"
	// AlreadyPromoting: promote --full during a full promotion.
	AlreadyPromoting Refusal = "AlreadyPromoting"
)

// RefusedError is a command that would change nothing, and why.
type RefusedError struct {
	Command Command
	Reason  Refusal
	// Detail says more (what the rollout waits for, what to do instead).
	Detail string
}

func (e *RefusedError) Error() string {
	var msg string
	switch e.Reason {
	case NoUpdate:
		msg = fmt.Sprintf("nothing to %s: no update in progress", verb(e.Command))
	case IsAborted:
		msg = "the update is aborted: retry starts it again from the first step, promote --full promotes it as it is"
	case AlreadyAborted:
		msg = "nothing to abort: the update is aborted already"
	case NotAborted:
		msg = "nothing to retry: the update is not aborted (retry restarts an aborted update)"
	case AlreadyPaused:
		msg = "nothing to pause: paused already"
	case NotPaused:
		msg = "nothing to resume: not paused by a user"
	case StepsDone:
		msg = "nothing to promote: every step is done"
	case AlreadyPromoting:
		msg = "nothing to promote: a full promotion is under way"
	default:
		msg = string(e.Reason)
	}
	if e.Detail != "" {
		msg += "; " + e.Detail
	}
	return msg
}

func verb(c Command) string {
	if c == PromoteFull {
		return "promote"
	}
	return string(c)
}

// Apply carries out a user's command the way Argo Rollouts' kubectl plugin
// patches the Rollout and its controller then acts, and says what it did:
//
//   - promote clears a user's pause (spec.paused) and leaves the current
//     step: a pause step or an inconclusive analysis is left, any other
//     step skipped - both at once when the rollout was paused by the user
//     inside a pause step, as Argo clears spec.paused and the pause
//     conditions together;
//   - promote-full skips every remaining step and clears an abort; the
//     canary takes all traffic once all its replicas are available;
//   - abort sends all traffic back to the stable; retry restarts an
//     aborted update from its first step; pause and resume set and clear
//     the user's pause.
//
// A command that would change nothing returns a *RefusedError saying why,
// and the status unchanged. Apply runs no step: Reconcile does that next.
func Apply(spec *rolloutsv1alpha1.RolloutSpec, st Status, cmd Command, now time.Time) (Status, string, error) {
	m := newMachine(spec, st, Input{Now: now})
	msg, err := m.command(cmd)
	if err != nil {
		return st, "", err
	}
	return m.st, msg, nil
}

// command applies cmd to the status.
func (m *machine) command(cmd Command) (string, error) {
	refuse := func(r Refusal, detail string) (string, error) {
		return "", &RefusedError{Command: cmd, Reason: r, Detail: detail}
	}
	switch cmd {
	case Promote:
		return m.promote()
	case PromoteFull:
		switch {
		case !m.updating():
			return refuse(NoUpdate, "")
		case m.st.PromoteFull && !m.st.Aborted:
			return refuse(AlreadyPromoting, m.promotionWait())
		}
		did := "skipped every remaining step"
		if m.st.Aborted {
			did = "cleared the abort and skipped every remaining step"
		}
		m.st.Aborted, m.st.AbortedAt, m.st.AbortedCanaryReplicas, m.st.Message = false, time.Time{}, 0, ""
		m.st.StepIndex, m.st.PausedAt, m.st.InconclusivePause, m.st.UserPaused = len(m.steps()), time.Time{}, false, false
		m.st.PromoteFull, m.st.Phase = true, Progressing
		return "fully promoting: " + did + "; " + m.promotionWait(), nil
	case Abort:
		switch {
		case !m.updating():
			return refuse(NoUpdate, "")
		case m.st.Aborted:
			return refuse(AlreadyAborted, "")
		}
		m.abort("aborted by the user")
		return fmt.Sprintf("aborted: all traffic goes back to the stable, the canary scales down after %s", m.abortDelay()), nil
	case Retry:
		if !m.st.Aborted {
			return refuse(NotAborted, "")
		}
		m.st.Aborted, m.st.AbortedAt, m.st.AbortedCanaryReplicas, m.st.StepIndex, m.st.Message = false, time.Time{}, 0, 0, ""
		m.st.Phase = Progressing
		return "retrying: the update starts again from step 0", nil
	case Pause:
		if m.st.UserPaused {
			return refuse(AlreadyPaused, "resume or promote continues")
		}
		m.st.UserPaused = true
		return "paused: holds until resumed or promoted", nil
	case Resume:
		if !m.st.UserPaused {
			detail := ""
			if i := m.st.StepIndex; m.updating() && i < len(m.steps()) && (!m.st.PausedAt.IsZero() || m.st.InconclusivePause) {
				detail = fmt.Sprintf("it waits at step %d (%s): promote leaves it", i, describeStep(m.steps()[i]))
			}
			return refuse(NotPaused, detail)
		}
		m.st.UserPaused = false
		return "resumed", nil
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

// promote is Argo's (non-full) promote: clear the user's pause, and leave
// the current step.
func (m *machine) promote() (string, error) {
	refuse := func(r Refusal, detail string) (string, error) {
		return "", &RefusedError{Command: Promote, Reason: r, Detail: detail}
	}
	if m.updating() && m.st.Aborted {
		return refuse(IsAborted, "")
	}
	var did []string
	if m.st.UserPaused {
		m.st.UserPaused = false
		did = append(did, "cleared the manual pause")
	}
	i := m.st.StepIndex
	switch {
	case !m.updating():
		if len(did) == 0 {
			return refuse(NoUpdate, "")
		}
	case i < len(m.steps()):
		step := fmt.Sprintf("step %d (%s)", i, describeStep(m.steps()[i]))
		switch {
		case m.st.InconclusivePause:
			did = append(did, "left the inconclusive analysis of "+step)
		case !m.st.PausedAt.IsZero():
			did = append(did, "left the pause of "+step)
		default:
			did = append(did, "skipped "+step)
		}
		m.st.InconclusivePause, m.st.PausedAt = false, time.Time{}
		m.st.StepIndex++
	case len(did) == 0:
		return refuse(StepsDone, m.promotionWait())
	}
	return "promoted: " + strings.Join(did, " and "), nil
}

// promotionWait says what a canary past its steps waits for.
func (m *machine) promotionWait() string {
	return fmt.Sprintf("the canary becomes the stable once all %d of its replicas are available", m.replicas)
}

func (m *machine) abortDelay() time.Duration {
	if s := m.canary.AbortScaleDownDelaySeconds; s != nil {
		return time.Duration(*s) * time.Second
	}
	return DefaultAbortScaleDownDelay
}

// describeStep names a step for messages: "setWeight 30", "pause 2m".
func describeStep(s rolloutsv1alpha1.CanaryStep) string {
	switch {
	case s.SetWeight != nil:
		return fmt.Sprintf("setWeight %d", *s.SetWeight)
	case s.Pause != nil && s.Pause.Duration != nil:
		return "pause " + (time.Duration(s.Pause.DurationSeconds()) * time.Second).String()
	case s.Pause != nil:
		return "pause"
	case s.Analysis != nil:
		return "analysis"
	case s.SetCanaryScale != nil:
		return "setCanaryScale"
	case s.SetHeaderRoute != nil:
		return "setHeaderRoute " + s.SetHeaderRoute.Name
	}
	return "step"
}

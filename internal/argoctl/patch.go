// Package argoctl sends Argo Rollouts' own controls (promote, abort, retry)
// to a cluster the way `kubectl argo rollouts` does, and confirms that the
// Argo Rollouts controller acted on them.
//
// Confirming matters: Argo Rollouts up to v1.8.3 writes the answer to its
// own status patch back into its informer cache without a version check
// (rollout/controller.go writeBackToInformer). A promote that reaches the
// API server between the controller's patch and that write-back is
// overwritten in the cache; the controller then sees "no status changes"
// and never looks again (argoproj/argo-rollouts#4073, #4694; fixed upstream
// after v1.8.3). Send notices that the controller did not act and nudges the
// Rollout with a harmless annotation change, whose watch event refreshes the
// controller's cache.
package argoctl

import (
	"fmt"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
)

// Action is one control of a Rollout.
type Action int

const (
	// Promote leaves the current pause, or the current step when the
	// Rollout is not paused (`kubectl argo rollouts promote`).
	Promote Action = iota
	// PromoteFull skips every remaining step and analysis (`promote --full`).
	PromoteFull
	// Abort goes back to the stable version (`abort`).
	Abort
	// Retry leaves an aborted state and starts the update again (`retry rollout`).
	Retry
)

func (a Action) String() string {
	switch a {
	case Promote:
		return "promote"
	case PromoteFull:
		return "promote --full"
	case Abort:
		return "abort"
	case Retry:
		return "retry"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Patches are the JSON merge patches an action sends: Spec to the Rollout,
// Status to its status subresource (nil: none).
type Patches struct {
	Spec, Status []byte
	// StepIndex is the status.currentStepIndex the status patch sets, or -1.
	StepIndex int32
}

// PatchesFor returns what the kubectl plugin of Argo Rollouts v1.8.3 sends
// for action a on ro (pkg/kubectl-argo-rollouts/cmd/promote.getPatches,
// abort.abortPatch, retry.retryRolloutPatch).
func PatchesFor(ro *rolloutsv1alpha1.Rollout, a Action) (Patches, error) {
	p := Patches{StepIndex: -1}
	switch a {
	case Abort:
		p.Status = []byte(`{"status":{"abort":true}}`)
	case Retry:
		p.Status = []byte(`{"status":{"abort":false}}`)
	case PromoteFull:
		if ro.Status.CurrentPodHash != ro.Status.StableRS {
			p.Status = []byte(`{"status":{"promoteFull":true}}`)
		}
	case Promote:
		if ro.Spec.Paused {
			p.Spec = []byte(`{"spec":{"paused":false}}`)
		}
		index, hasSteps := nextStep(ro)
		switch {
		case inconclusive(ro) && len(ro.Status.PauseConditions) > 0 && ro.Status.ControllerPause && hasSteps:
			p.Status = fmt.Appendf(nil, `{"status":{"pauseConditions":null, "controllerPause":false, "currentStepIndex":%d}}`, index)
			p.StepIndex = index
		case len(ro.Status.PauseConditions) > 0:
			p.Status = []byte(`{"status":{"pauseConditions":null}}`)
		case hasSteps:
			// Not paused: leave the current step (an analysis or an
			// experiment still running).
			p.Status = fmt.Appendf(nil, `{"status":{"pauseConditions":null, "currentStepIndex":%d}}`, index)
			p.StepIndex = index
		}
	default:
		return Patches{}, fmt.Errorf("unknown action %d", int(a))
	}
	return p, nil
}

// nextStep is the step index after the current one, capped at the number of
// steps, as replicasetutil.GetCurrentCanaryStep and getPatches compute it;
// false for a Rollout without canary steps.
func nextStep(ro *rolloutsv1alpha1.Rollout) (int32, bool) {
	c := ro.Spec.Strategy.Canary
	if c == nil || len(c.Steps) == 0 {
		return 0, false
	}
	index := int32(0)
	if ro.Status.CurrentStepIndex != nil {
		index = *ro.Status.CurrentStepIndex
	}
	if index < int32(len(c.Steps)) {
		index++
	}
	return index, true
}

// inconclusive: the current step's analysis ended Inconclusive.
func inconclusive(ro *rolloutsv1alpha1.Rollout) bool {
	s := ro.Status.Canary.CurrentStepAnalysisRunStatus
	return ro.Spec.Strategy.Canary != nil && s != nil && s.Status == rolloutsv1alpha1.AnalysisPhaseInconclusive
}

// effectHeld reports whether ro still shows the effect of action a sent as
// p to a Rollout that was at step index before: a controller working from
// a stale copy can write the old state back.
func effectHeld(ro *rolloutsv1alpha1.Rollout, a Action, p Patches, before *int32) bool {
	switch a {
	case Abort:
		return ro.Status.Abort
	case Retry:
		return !ro.Status.Abort
	case PromoteFull:
		return ro.Status.PromoteFull || ro.Status.CurrentPodHash == ro.Status.StableRS
	}
	if p.Spec != nil && ro.Spec.Paused {
		return false
	}
	index := int32(0)
	if ro.Status.CurrentStepIndex != nil {
		index = *ro.Status.CurrentStepIndex
	}
	if p.StepIndex >= 0 {
		return index >= p.StepIndex
	}
	// The pause was cleared: it must not be back at the same step.
	was := int32(0)
	if before != nil {
		was = *before
	}
	return !(len(ro.Status.PauseConditions) > 0 && index == was)
}

package argoctl

import (
	"testing"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
)

func canary(steps int, status rolloutsv1alpha1.RolloutStatus, paused bool) *rolloutsv1alpha1.Rollout {
	ro := &rolloutsv1alpha1.Rollout{Status: status}
	ro.Spec.Paused = paused
	ro.Spec.Strategy.Canary = &rolloutsv1alpha1.CanaryStrategy{}
	for range steps {
		ro.Spec.Strategy.Canary.Steps = append(ro.Spec.Strategy.Canary.Steps, rolloutsv1alpha1.CanaryStep{Pause: &rolloutsv1alpha1.RolloutPause{}})
	}
	return ro
}

func index(i int32) *int32 { return &i }

var pausedAt1 = rolloutsv1alpha1.RolloutStatus{
	CurrentStepIndex: index(1), ControllerPause: true,
	PauseConditions: []rolloutsv1alpha1.PauseCondition{{Reason: rolloutsv1alpha1.PauseReasonCanaryPauseStep}},
}

type patchStrings struct{ Spec, Status string }

func strs(p Patches) patchStrings { return patchStrings{string(p.Spec), string(p.Status)} }

// The cases follow getPatches of the Argo Rollouts v1.8.3 kubectl plugin
// (pkg/kubectl-argo-rollouts/cmd/promote/promote.go) and its tests.
func TestPatchesFor(t *testing.T) {
	inconclusive := pausedAt1
	inconclusive.Canary.CurrentStepAnalysisRunStatus = &rolloutsv1alpha1.RolloutAnalysisRunStatus{Status: rolloutsv1alpha1.AnalysisPhaseInconclusive}
	tests := []struct {
		name      string
		ro        *rolloutsv1alpha1.Rollout
		action    Action
		want      patchStrings
		wantIndex int32
	}{
		{"promote a pause step", canary(3, pausedAt1, false), Promote, patchStrings{"", `{"status":{"pauseConditions":null}}`}, -1},
		{"promote a manual pause inside a pause step", canary(3, pausedAt1, true), Promote,
			patchStrings{`{"spec":{"paused":false}}`, `{"status":{"pauseConditions":null}}`}, -1},
		{"promote a manual pause outside pause steps", canary(3, rolloutsv1alpha1.RolloutStatus{CurrentStepIndex: index(0)}, true), Promote,
			patchStrings{`{"spec":{"paused":false}}`, `{"status":{"pauseConditions":null, "currentStepIndex":1}}`}, 1},
		{"promote a running step", canary(3, rolloutsv1alpha1.RolloutStatus{CurrentStepIndex: index(2)}, false), Promote,
			patchStrings{"", `{"status":{"pauseConditions":null, "currentStepIndex":3}}`}, 3},
		{"promote past the last step", canary(3, rolloutsv1alpha1.RolloutStatus{CurrentStepIndex: index(3)}, false), Promote,
			patchStrings{"", `{"status":{"pauseConditions":null, "currentStepIndex":3}}`}, 3},
		{"promote an inconclusive analysis", canary(3, inconclusive, false), Promote,
			patchStrings{"", `{"status":{"pauseConditions":null, "controllerPause":false, "currentStepIndex":2}}`}, 2},
		{"promote without steps", canary(0, rolloutsv1alpha1.RolloutStatus{}, false), Promote, patchStrings{}, -1},
		{"full", canary(3, rolloutsv1alpha1.RolloutStatus{CurrentPodHash: "b", StableRS: "a"}, false), PromoteFull,
			patchStrings{"", `{"status":{"promoteFull":true}}`}, -1},
		{"full when already stable", canary(3, rolloutsv1alpha1.RolloutStatus{CurrentPodHash: "a", StableRS: "a"}, false), PromoteFull, patchStrings{}, -1},
		{"abort", canary(3, pausedAt1, false), Abort, patchStrings{"", `{"status":{"abort":true}}`}, -1},
		{"retry", canary(3, pausedAt1, false), Retry, patchStrings{"", `{"status":{"abort":false}}`}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PatchesFor(tt.ro, tt.action)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, strs(got)); diff != "" {
				t.Errorf("patches (-want +got):\n%s", diff)
			}
			if got.StepIndex != tt.wantIndex {
				t.Errorf("StepIndex = %d, want %d", got.StepIndex, tt.wantIndex)
			}
		})
	}
	if _, err := PatchesFor(canary(1, pausedAt1, false), Action(42)); err == nil {
		t.Error("an unknown action gave no error")
	}
}

func TestEffectHeld(t *testing.T) {
	clearPause, _ := PatchesFor(canary(3, pausedAt1, false), Promote)
	toStep3, _ := PatchesFor(canary(3, rolloutsv1alpha1.RolloutStatus{CurrentStepIndex: index(2)}, false), Promote)
	unpause, _ := PatchesFor(canary(3, pausedAt1, true), Promote)
	tests := []struct {
		name   string
		ro     *rolloutsv1alpha1.Rollout
		action Action
		p      Patches
		want   bool
	}{
		{"moved on to the next step", canary(3, rolloutsv1alpha1.RolloutStatus{CurrentStepIndex: index(2)}, false), Promote, clearPause, true},
		{"paused again at the same step (stale write)", canary(3, pausedAt1, false), Promote, clearPause, false},
		{"pause cleared, not yet moved", canary(3, rolloutsv1alpha1.RolloutStatus{CurrentStepIndex: index(1), ControllerPause: true}, false), Promote, clearPause, true},
		{"spec paused again", canary(3, rolloutsv1alpha1.RolloutStatus{CurrentStepIndex: index(2)}, true), Promote, unpause, false},
		{"step index reached", canary(3, rolloutsv1alpha1.RolloutStatus{CurrentStepIndex: index(3)}, false), Promote, toStep3, true},
		{"step index written back", canary(3, rolloutsv1alpha1.RolloutStatus{CurrentStepIndex: index(2)}, false), Promote, toStep3, false},
		{"abort held", canary(3, rolloutsv1alpha1.RolloutStatus{Abort: true}, false), Abort, Patches{}, true},
		{"abort undone", canary(3, rolloutsv1alpha1.RolloutStatus{}, false), Abort, Patches{}, false},
		{"retry held", canary(3, rolloutsv1alpha1.RolloutStatus{}, false), Retry, Patches{}, true},
		{"retry undone", canary(3, rolloutsv1alpha1.RolloutStatus{Abort: true}, false), Retry, Patches{}, false},
		{"full in progress", canary(3, rolloutsv1alpha1.RolloutStatus{PromoteFull: true}, false), PromoteFull, Patches{}, true},
		{"full done", canary(3, rolloutsv1alpha1.RolloutStatus{CurrentPodHash: "b", StableRS: "b"}, false), PromoteFull, Patches{}, true},
		{"full undone", canary(3, rolloutsv1alpha1.RolloutStatus{CurrentPodHash: "b", StableRS: "a"}, false), PromoteFull, Patches{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := effectHeld(tt.ro, tt.action, tt.p, index(1)); got != tt.want {
				t.Errorf("effectHeld = %v, want %v", got, tt.want)
			}
		})
	}
}

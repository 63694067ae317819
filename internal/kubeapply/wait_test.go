package kubeapply

import (
	"testing"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPhase(t *testing.T) {
	ro := func(gen int64, status rolloutsv1alpha1.RolloutStatus) *rolloutsv1alpha1.Rollout {
		return &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Status: status}
	}
	tests := []struct {
		name string
		ro   *rolloutsv1alpha1.Rollout
		want []string
	}{
		{"not yet seen by the controller", ro(1, rolloutsv1alpha1.RolloutStatus{}),
			[]string{"Progressing", "waiting for the Argo Rollouts controller to observe the rollout"}},
		{"healthy", ro(2, rolloutsv1alpha1.RolloutStatus{ObservedGeneration: "2", Phase: "Healthy"}),
			[]string{"Healthy", ""}},
		{"healthy status of an older generation", ro(3, rolloutsv1alpha1.RolloutStatus{ObservedGeneration: "2", Phase: "Healthy"}),
			[]string{"Progressing", "waiting for rollout spec update to be observed"}},
		{"paused", ro(2, rolloutsv1alpha1.RolloutStatus{ObservedGeneration: "2", Phase: "Paused", Message: "CanaryPauseStep",
			ControllerPause: true, PauseConditions: []rolloutsv1alpha1.PauseCondition{{Reason: "CanaryPauseStep"}}}),
			[]string{"Paused", "CanaryPauseStep"}},
		{"promoted, controller not yet reacted", ro(2, rolloutsv1alpha1.RolloutStatus{ObservedGeneration: "2", Phase: "Paused", ControllerPause: true}),
			[]string{"Progressing", "waiting for rollout to unpause"}},
		{"aborted", ro(2, rolloutsv1alpha1.RolloutStatus{ObservedGeneration: "2", Phase: "Degraded", Message: "RolloutAborted: Rollout aborted update to revision 2", Abort: true}),
			[]string{"Degraded", "RolloutAborted: Rollout aborted update to revision 2"}},
		{"pre-v0.10 hash observedGeneration", ro(5, rolloutsv1alpha1.RolloutStatus{ObservedGeneration: "7d9c8f", Phase: "Healthy"}),
			[]string{"Healthy", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			phase, msg := Phase(tc.ro)
			if diff := cmp.Diff(tc.want, []string{phase, msg}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

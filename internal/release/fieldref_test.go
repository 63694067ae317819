package release

import (
	"testing"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRolloutField resolves fieldRef paths outside metadata as Argo
// Rollouts does.
func TestRolloutField(t *testing.T) {
	ro := &rolloutsv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "pay"},
		Spec: rolloutsv1alpha1.RolloutSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "pay", "version": "v2"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "pay", Image: "pay:2"}}},
		}},
	}
	tests := []struct {
		path string
		want string
		ok   bool
	}{
		{"spec.template.metadata.labels.version", "v2", true},
		{"spec.template.spec.containers[0].image", "pay:2", true},
		{"spec.template.spec.containers[1].image", "", false},
		{"spec.template.spec.containers[x].image", "", false},
		{"spec.template.metadata.labels.missing", "", false},
		{"spec.template.metadata.labels", "", false},
		{"spec.template.metadata.labels.version.more", "", false},
		{"metadata.name", "", false}, // metadata paths are Kubernetes field paths
	}
	for _, tc := range tests {
		v, ok := rolloutField(ro, tc.path)
		if diff := cmp.Diff([]any{tc.want, tc.ok}, []any{v, ok}); diff != "" {
			t.Errorf("rolloutField(%s) (-want +got):\n%s", tc.path, diff)
		}
	}
}

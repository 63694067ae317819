package argoctl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/graylane/graylane/internal/argoctl"
	"github.com/graylane/graylane/internal/kubeapply"
	"github.com/graylane/graylane/internal/kubetest"
)

// The real Argo Rollouts controller misses a promote, as it does when its
// informer cache is overwritten by its own patch answer
// (argoproj/argo-rollouts#4073): the API proxy in front of the controller
// withholds the promote's watch event, so the controller's copy of the
// Rollout stays paused and nothing makes it look again. A bare status patch
// leaves the Rollout stuck; Send notices and nudges it.
func TestSendRecoversMissedPromote(t *testing.T) {
	env := kubetest.Start(t)
	proxy := kubetest.StartAPIProxy(t, env)
	ctrl := kubetest.StartControllers(t, env, kubetest.RolloutsThrough(proxy))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	key := types.NamespacedName{Namespace: "default", Name: "order"}

	ro := newRollout(key, ctrl.Node, "graylane/sample:1.0")
	if err := env.Client.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	waitPhase(ctx, t, env.Client, key, "Healthy")
	setImage(ctx, t, env.Client, key, "graylane/sample:2.0")
	waitSettled(ctx, t, env.Client, key)

	// The promote leaves status.pauseConditions empty while the controller
	// has not yet moved on: that event is the one the controller misses.
	missPromote := func() {
		proxy.DropNext(func(ev kubetest.WatchEvent) bool {
			return strings.HasSuffix(ev.Path, "/rollouts") && isPromoteEvent(ev.Data, key.Name)
		})
	}

	// Without nudges the controller never acts on the missed promote.
	missPromote()
	short, stop := context.WithTimeout(ctx, 10*time.Second)
	res, err := argoctl.Send(short, env.Client, key, argoctl.Promote, argoctl.Options{NudgeAfter: time.Hour})
	stop()
	if err == nil {
		t.Fatalf("promote confirmed without a nudge (status %+v), want the controller to have missed it", res.Rollout.Status)
	}
	if n := len(proxy.Dropped()); n != 1 {
		t.Fatalf("the proxy withheld %d events, want 1 (the promote)", n)
	}
	if _, msg := kubeapply.Phase(res.Rollout); msg != "waiting for rollout to unpause" {
		t.Errorf("rollout after the missed promote: %q, want the stuck state 'waiting for rollout to unpause'", msg)
	}
	// One nudge is enough for the controller to see it.
	if err := argoctl.Nudge(ctx, env.Client, res.Rollout, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitPhase(ctx, t, env.Client, key, "Healthy")

	// Send does that by itself.
	setImage(ctx, t, env.Client, key, "graylane/sample:3.0")
	waitSettled(ctx, t, env.Client, key)
	missPromote()
	res, err = argoctl.Send(ctx, env.Client, key, argoctl.Promote, argoctl.Options{NudgeAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(proxy.Dropped()); n != 2 {
		t.Fatalf("the proxy withheld %d events, want 2 (both promotes)", n)
	}
	if res.Unchanged || res.Nudges < 1 {
		t.Errorf("Send = %+v, want at least one nudge", res)
	}
	waitPhase(ctx, t, env.Client, key, "Healthy")
}

// isPromoteEvent: a MODIFIED event of the named Rollout whose pause
// conditions are cleared while the controller still holds its pause.
func isPromoteEvent(data []byte, name string) bool {
	var ev struct {
		Type   string                   `json:"type"`
		Object rolloutsv1alpha1.Rollout `json:"object"`
	}
	if json.Unmarshal(data, &ev) != nil || ev.Type != "MODIFIED" || ev.Object.Name != name {
		return false
	}
	return ev.Object.Status.ControllerPause && len(ev.Object.Status.PauseConditions) == 0
}

func newRollout(key types.NamespacedName, node, image string) *rolloutsv1alpha1.Rollout {
	labels := map[string]string{"app": key.Name}
	replicas := int32(2)
	surge := intstr.FromInt32(1)
	return &rolloutsv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
		Spec: rolloutsv1alpha1.RolloutSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
			Strategy: rolloutsv1alpha1.RolloutStrategy{Canary: &rolloutsv1alpha1.CanaryStrategy{
				MaxSurge: &surge,
				Steps: []rolloutsv1alpha1.CanaryStep{
					{SetWeight: ptr(int32(50))},
					{Pause: &rolloutsv1alpha1.RolloutPause{}},
				},
			}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func setImage(ctx context.Context, t *testing.T, c client.Client, key types.NamespacedName, image string) {
	t.Helper()
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"` + image + `"}]}}}}`
	ro := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := c.Patch(ctx, ro, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatalf("set image: %v", err)
	}
}

// waitSettled waits until the Rollout is paused and nothing is left that
// would make the controller write it again: its status counts every
// replica ready and available, and every ReplicaSet has exactly its
// desired pods, all ready (no pod starting or terminating). A promote
// then has no other event to ride on: only its own watch event (or a
// nudge) tells the controller. On a loaded machine "Paused" alone comes
// while pods are still changing, and the controller's next status patch
// answer carries the promote to it.
func waitSettled(ctx context.Context, t *testing.T, c client.Client, key types.NamespacedName) {
	t.Helper()
	var why string
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var ro rolloutsv1alpha1.Rollout
		if err := c.Get(ctx, key, &ro); err != nil {
			return false, err
		}
		st := ro.Status
		if phase, msg := kubeapply.Phase(&ro); phase != "Paused" {
			why = phase + " " + msg
			return false, nil
		}
		if st.Replicas != st.ReadyReplicas || st.Replicas != st.AvailableReplicas {
			why = fmt.Sprintf("replicas %d, ready %d, available %d", st.Replicas, st.ReadyReplicas, st.AvailableReplicas)
			return false, nil
		}
		var rss appsv1.ReplicaSetList
		if err := c.List(ctx, &rss, client.InNamespace(key.Namespace), client.MatchingLabels{"app": key.Name}); err != nil {
			return false, err
		}
		want := int32(0)
		for _, rs := range rss.Items {
			n := int32(1)
			if rs.Spec.Replicas != nil {
				n = *rs.Spec.Replicas
			}
			if rs.Status.ObservedGeneration != rs.Generation || rs.Status.Replicas != n || rs.Status.ReadyReplicas != n {
				why = fmt.Sprintf("ReplicaSet %s: %d/%d ready of %d", rs.Name, rs.Status.ReadyReplicas, rs.Status.Replicas, n)
				return false, nil
			}
			want += n
		}
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(key.Namespace), client.MatchingLabels{"app": key.Name}); err != nil {
			return false, err
		}
		if int32(len(pods.Items)) != want {
			why = fmt.Sprintf("%d pods, want %d", len(pods.Items), want)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("rollout never settled paused (last: %s): %v", why, err)
	}
}

func waitPhase(ctx context.Context, t *testing.T, c client.Client, key types.NamespacedName, want string) {
	t.Helper()
	var ro rolloutsv1alpha1.Rollout
	var phase, msg string
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, key, &ro); err != nil {
			return false, err
		}
		phase, msg = kubeapply.Phase(&ro)
		return phase == want, nil
	})
	if err != nil {
		t.Fatalf("rollout never %s (last: %s %q): %v", want, phase, msg, err)
	}
}

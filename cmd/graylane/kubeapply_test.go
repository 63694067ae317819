package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/graylane/graylane/internal/argoctl"
	"github.com/graylane/graylane/internal/kubeapply"
	"github.com/graylane/graylane/internal/kubetest"
)

// The seed 001 Rollout under the real Argo Rollouts controller: graylane
// apply creates it (--wait: exit 0 once Healthy), a new image moves the
// VirtualService weights 10 -> (promote) -> 30 -> 50 -> done, --wait exits 0 at
// the healthy finish and 1 for an aborted update.
func TestApplyRolloutEndToEnd(t *testing.T) {
	env := kubetest.Start(t)
	ctrl := kubetest.StartControllers(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // bounds a hang, not speed
	defer cancel()
	data, err := os.ReadFile("testdata/kubeapply-order.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "nodeName: "+ctrl.Node) {
		t.Fatalf("testdata/kubeapply-order.yaml must bind its pods to %s", ctrl.Node)
	}
	dir := t.TempDir()
	version := func(image string) string {
		p := filepath.Join(dir, strings.NewReplacer("/", "-", ":", "-").Replace(image)+".yaml")
		if err := os.WriteFile(p, []byte(strings.Replace(string(data), "graylane/sample:1.0", image, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	apply := func(file string, args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		args = append([]string{"apply", "-f", file, "--kubeconfig", env.Kubeconfig}, args...)
		code := run(ctx, args, &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	weights := watchCanaryWeights(ctx, t, env)

	if code, out := apply(version("graylane/sample:1.0"), "--wait", "--timeout", "8m"); code != 0 || !strings.Contains(out, "Rollout default/order: Healthy") {
		t.Fatalf("first apply --wait: exit %d\n%s", code, out)
	}

	if code, out := apply(version("graylane/sample:2.0")); code != 0 || !strings.Contains(out, "Rollout default/order configured") {
		t.Fatalf("apply of image 2.0: exit %d\n%s", code, out)
	}
	waitPaused(ctx, t, env)
	waitWeight(ctx, t, weights, 10) // the indefinite pause after setWeight 10
	promote(ctx, t, env)
	if code, out := apply(version("graylane/sample:2.0"), "--wait", "--timeout", "8m"); code != 0 || !strings.Contains(out, "Rollout default/order: Healthy") {
		t.Fatalf("apply --wait after promote: exit %d\n%s", code, out)
	}
	waitWeight(ctx, t, weights, 0)
	if got := steps(weights.all()); !cmp.Equal(got, []int32{10, 30, 50}) {
		t.Errorf("canary weights through the update = %v (all %v), want 10, 30, 50 in order", got, weights.all())
	}

	if code, out := apply(version("graylane/sample:3.0")); code != 0 {
		t.Fatalf("apply of image 3.0: exit %d\n%s", code, out)
	}
	waitPaused(ctx, t, env)
	abort(ctx, t, env)
	code, out := apply(version("graylane/sample:3.0"), "--wait", "--timeout", "8m")
	if code != 1 || !strings.Contains(out, "Degraded") || !strings.Contains(out, "RolloutAborted") {
		t.Fatalf("apply --wait of an aborted update: exit %d, want 1 and Degraded\n%s", code, out)
	}
	waitWeight(ctx, t, weights, 0)
}

// weightLog records every canary weight of VirtualService default/order's
// route "primary", as a watch sees its updates.
type weightLog struct {
	mu   sync.Mutex
	seen []int32
}

func (w *weightLog) add(v int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.seen); n == 0 || w.seen[n-1] != v {
		w.seen = append(w.seen, v)
	}
}

func (w *weightLog) all() []int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int32(nil), w.seen...)
}

func (w *weightLog) last() int32 {
	all := w.all()
	if len(all) == 0 {
		return -1
	}
	return all[len(all)-1]
}

// steps returns the weights strictly between 0 and 100 in the order seen.
func steps(all []int32) []int32 {
	var out []int32
	for _, v := range all {
		if v > 0 && v < 100 {
			out = append(out, v)
		}
	}
	return out
}

func watchCanaryWeights(ctx context.Context, t *testing.T, env *kubetest.Env) *weightLog {
	t.Helper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &networkingv1.VirtualServiceList{}, client.InNamespace("default"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	log := &weightLog{}
	go func() {
		for ev := range w.ResultChan() {
			vs, ok := ev.Object.(*networkingv1.VirtualService)
			if !ok || ev.Type == watch.Deleted || vs.Name != "order" {
				continue
			}
			for _, r := range vs.Spec.Http {
				if r.Name == "primary" && len(r.Route) == 2 {
					log.add(r.Route[1].Weight)
				}
			}
		}
	}()
	return log
}

func rolloutKey() types.NamespacedName {
	return types.NamespacedName{Namespace: "default", Name: "order"}
}

func waitPaused(ctx context.Context, t *testing.T, env *kubetest.Env) {
	t.Helper()
	var ro rolloutsv1alpha1.Rollout
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := env.Client.Get(ctx, rolloutKey(), &ro); err != nil {
			return false, err
		}
		phase, _ := kubeapply.Phase(&ro)
		return phase == string(rolloutsv1alpha1.RolloutPhasePaused) && len(ro.Status.PauseConditions) > 0, nil
	})
	if err != nil {
		t.Fatalf("rollout never paused (status %+v): %v", ro.Status, err)
	}
}

func waitWeight(ctx context.Context, t *testing.T, log *weightLog, want int32) {
	t.Helper()
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		return log.last() == want, nil
	})
	if err != nil {
		t.Fatalf("canary weight never %d (seen %v): %v", want, log.all(), err)
	}
}

// promote leaves the indefinite pause as `kubectl argo rollouts promote`
// does, and confirms the controller acted (argoctl nudges a controller that
// missed it; see argoctl's doc).
func promote(ctx context.Context, t *testing.T, env *kubetest.Env) {
	t.Helper()
	send(ctx, t, env, argoctl.Promote)
}

// abort sets status.abort as `kubectl argo rollouts abort` does.
func abort(ctx context.Context, t *testing.T, env *kubetest.Env) {
	t.Helper()
	send(ctx, t, env, argoctl.Abort)
}

func send(ctx context.Context, t *testing.T, env *kubetest.Env, a argoctl.Action) {
	t.Helper()
	res, err := argoctl.Send(ctx, env.Client, rolloutKey(), a, argoctl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Nudges > 0 || res.Resent > 0 {
		t.Logf("%s: the controller missed it; %d nudges, %d resends", a, res.Nudges, res.Resent)
	}
}

// TestApplyLaneOnRollout: a lane member whose DestinationRule a Rollout
// manages, under the real Argo Rollouts controller. Argo rewrites the
// managed rule with only its stable and canary subsets (the "legacy"
// subset goes: what Graylane's runtime and lint now expect), and the
// lane's subset, in its companion DestinationRule, is still there after
// Argo has updated the pod-template hash twice.
func TestApplyLaneOnRollout(t *testing.T) {
	env := kubetest.Start(t)
	ctrl := kubetest.StartControllers(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // bounds a hang, not speed
	defer cancel()
	data, err := os.ReadFile("testdata/kubeapply-lane-rollout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "nodeName: "+ctrl.Node) {
		t.Fatalf("testdata/kubeapply-lane-rollout.yaml must bind its pods to %s", ctrl.Node)
	}
	file := filepath.Join(t.TempDir(), "shop.yaml")
	apply := func(content string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if code := run(ctx, []string{"apply", "-f", file, "--kubeconfig", env.Kubeconfig}, &stdout, &stderr); code != 0 {
			t.Fatalf("apply: exit %d\n%s%s", code, stdout.String(), stderr.String())
		}
	}
	// managedSubsets waits until Argo has labelled the managed rule's
	// canary subset with a hash other than notHash, and returns the rule's
	// subset names and that hash.
	managedSubsets := func(notHash string) ([]string, string) {
		t.Helper()
		var dr networkingv1.DestinationRule
		var names []string
		var hash string
		err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			if err := env.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "order"}, &dr); err != nil {
				return false, err
			}
			names, hash = nil, ""
			for _, s := range dr.Spec.Subsets {
				names = append(names, s.Name)
				if s.Name == "canary" {
					hash = s.Labels[rolloutsv1alpha1.DefaultRolloutUniqueLabelKey]
				}
			}
			return hash != "" && hash != notHash && !slices.Contains(names, "legacy"), nil
		})
		if err != nil {
			t.Fatalf("Argo never updated DestinationRule default/order past hash %q (subsets %v): %v", notHash, names, err)
		}
		return names, hash
	}
	laneSubset := func() {
		t.Helper()
		var dr networkingv1.DestinationRule
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "graylane-lanes-order"}, &dr); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range dr.Spec.Subsets {
			got = append(got, fmt.Sprintf("%s %v", s.Name, s.Labels))
		}
		if want := []string{"graylane-gray map[version:v2]"}; !cmp.Equal(got, want) || dr.Spec.Host != "order" {
			t.Errorf("companion DestinationRule: host %q, subsets %v; want order, %v", dr.Spec.Host, got, want)
		}
	}

	apply(string(data))
	names, first := managedSubsets("")
	if !cmp.Equal(names, []string{"stable", "canary"}) {
		t.Errorf("managed DestinationRule subsets %v, want stable and canary only", names)
	}
	laneSubset()

	apply(strings.Replace(string(data), "image: graylane/sample:1.0", "image: graylane/sample:1.1", 1))
	if _, second := managedSubsets(first); second == first {
		t.Fatalf("the canary hash did not change")
	}
	laneSubset()
}

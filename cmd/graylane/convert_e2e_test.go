package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/graylane/graylane/internal/kubeapply"
	"github.com/graylane/graylane/internal/kubetest"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/render"
)

// TestConvertedSeed004EndToEnd applies convert's output for seed 004's
// one-Deployment-per-version layout as docs/kubernetes.md says, with the
// real Argo Rollouts controller: the --first-apply output makes v1 each
// Rollout's stable at once (no canary step), the default output then
// starts a v2 canary at 10% with v1 still stable. (No analysis: the test
// cluster has no Prometheus.)
func TestConvertedSeed004EndToEnd(t *testing.T) {
	env := kubetest.Start(t)
	ctrl := kubetest.StartControllers(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // bounds a hang, not speed
	defer cancel()
	set, err := manifest.Load("../../examples/seed004/v1.yaml", "../../examples/seed004/v2.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	converted := func(firstApply bool) string {
		conv, err := render.Convert(set, render.ConvertOptions{FirstApply: firstApply, NoAnalysis: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range conv.Objects {
			if ro, ok := o.Value.(*rolloutsv1alpha1.Rollout); ok {
				ro.Spec.Template.Spec.NodeName = ctrl.Node // kwok runs the pods; there is no scheduler
			}
		}
		data, err := render.EncodeAll(conv.Objects)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("first-apply-%v.yaml", firstApply))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	apply := func(file string, args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(ctx, append([]string{"apply", "-f", file, "--kubeconfig", env.Kubeconfig}, args...), &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}

	code, out := apply(converted(true), "--wait", "--timeout", "8m")
	if code != 0 || !strings.Contains(out, "Rollout default/appa: Healthy") || !strings.Contains(out, "Rollout default/appb: Healthy") {
		t.Fatalf("first apply --wait: exit %d\n%s", code, out)
	}
	for _, name := range []string{"appa", "appb"} {
		ro := getRollout(ctx, t, env, name)
		if ro.Status.StableRS == "" || ro.Status.StableRS != ro.Status.CurrentPodHash {
			t.Errorf("%s after the first apply: stable %q, current %q: the first template is not the stable", name, ro.Status.StableRS, ro.Status.CurrentPodHash)
		}
		if v := replicaSetVersion(ctx, t, env, ro.Status.StableRS); v != "v1" {
			t.Errorf("%s: the stable ReplicaSet is version %q, want v1", name, v)
		}
	}

	if code, out := apply(converted(false)); code != 0 {
		t.Fatalf("apply of the canary output: exit %d\n%s", code, out)
	}
	for _, name := range []string{"appa", "appb"} {
		var ro *rolloutsv1alpha1.Rollout
		err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			ro = getRollout(ctx, t, env, name)
			phase, _ := kubeapply.Phase(ro)
			w := ro.Status.Canary.Weights
			return phase == string(rolloutsv1alpha1.RolloutPhasePaused) && w != nil && w.Canary.Weight == 10, nil
		})
		if err != nil {
			t.Fatalf("%s: the canary never paused at 10%% (status %+v): %v", name, ro.Status, err)
		}
		if got := []string{replicaSetVersion(ctx, t, env, ro.Status.StableRS), replicaSetVersion(ctx, t, env, ro.Status.CurrentPodHash)}; got[0] != "v1" || got[1] != "v2" {
			t.Errorf("%s: stable and canary ReplicaSets are versions %v, want [v1 v2]", name, got)
		}
	}
}

func getRollout(ctx context.Context, t *testing.T, env *kubetest.Env, name string) *rolloutsv1alpha1.Rollout {
	t.Helper()
	ro := &rolloutsv1alpha1.Rollout{}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, ro); err != nil {
		t.Fatal(err)
	}
	return ro
}

// replicaSetVersion is the version label of the pod template of the
// Rollout ReplicaSet with the given pod template hash.
func replicaSetVersion(ctx context.Context, t *testing.T, env *kubetest.Env, hash string) string {
	t.Helper()
	var list appsv1.ReplicaSetList
	if err := env.Client.List(ctx, &list, client.InNamespace("default"), client.MatchingLabels{rolloutsv1alpha1.DefaultRolloutUniqueLabelKey: hash}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d ReplicaSets with hash %q", len(list.Items), hash)
	}
	return list.Items[0].Spec.Template.Labels[render.VersionLabel]
}

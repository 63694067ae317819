package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/kubetest"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/render"
)

// releaseE2E is seed 001's plan as a Release, with short timed pauses and
// no analysis (the test cluster has no Prometheus).
const releaseE2E = `apiVersion: graylane.io/v1alpha1
kind: Release
metadata: {name: shop, namespace: default}
spec:
  layout: LAYOUT
  services:
  - name: order
    image: IMAGE
    replicas: 2
  steps:
  - setWeight: 10
  - pause: {}
  - setWeight: 30
  - pause: {duration: 2s}
  - setWeight: 50
  - pause: {duration: 2s}
`

// TestRenderedReleaseEndToEnd: the set `graylane render` makes from a
// Release, in both layouts (seed 001's one Service with subsets, seed
// 000's stable and canary Services), is accepted by a real API server and
// progressed by the real Argo Rollouts controller: weights 10 -> (promote)
// -> 30 -> 50 -> done.
func TestRenderedReleaseEndToEnd(t *testing.T) {
	for _, layout := range []string{"subsets", "services"} {
		t.Run(layout, func(t *testing.T) { testRenderedRelease(t, layout) })
	}
}

func testRenderedRelease(t *testing.T, layout string) {
	env := kubetest.Start(t)
	ctrl := kubetest.StartControllers(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // bounds a hang, not speed
	defer cancel()
	dir := t.TempDir()
	rendered := func(image string) string {
		doc := strings.NewReplacer("IMAGE", image, "LAYOUT", layout).Replace(releaseE2E)
		set, err := manifest.LoadBytes("release.yaml", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		rels := render.Releases(set)
		objs, err := render.Render(rels...)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if ro, ok := o.Value.(*rolloutsv1alpha1.Rollout); ok {
				// kwok runs the pods; there is no scheduler.
				ro.Spec.Template.Spec.NodeName = ctrl.Node
			}
		}
		data, err := render.EncodeAll(objs)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, strings.NewReplacer("/", "-", ":", "-").Replace(image)+".yaml")
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
	weights := watchCanaryWeights(ctx, t, env)
	if code, out := apply(rendered("graylane/sample:1.0"), "--wait", "--timeout", "8m"); code != 0 || !strings.Contains(out, "Rollout default/order: Healthy") {
		t.Fatalf("first apply --wait: exit %d\n%s", code, out)
	}
	if code, out := apply(rendered("graylane/sample:2.0")); code != 0 {
		t.Fatalf("apply of image 2.0: exit %d\n%s", code, out)
	}
	waitPaused(ctx, t, env)
	waitWeight(ctx, t, weights, 10)
	promote(ctx, t, env)
	if code, out := apply(rendered("graylane/sample:2.0"), "--wait", "--timeout", "8m"); code != 0 || !strings.Contains(out, "Rollout default/order: Healthy") {
		t.Fatalf("apply --wait after promote: exit %d\n%s", code, out)
	}
	waitWeight(ctx, t, weights, 0)
	if got := steps(weights.all()); !cmp.Equal(got, []int32{10, 30, 50}) {
		t.Errorf("canary weights = %v (all %v), want 10, 30, 50", got, weights.all())
	}
}

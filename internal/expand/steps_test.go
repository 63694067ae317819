package expand

import (
	"testing"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/rollouttraffic"
	"github.com/graylane/graylane/internal/simulate"
)

// TestStepInventory: a Rollout at a step is its stable and canary
// ReplicaSets with the step's replicas, and the stable/canary Services
// select them.
func TestStepInventory(t *testing.T) {
	const doc = `apiVersion: v1
kind: Service
metadata: {name: order}
spec: {selector: {app: order}, ports: [{port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: order-canary}
spec: {selector: {app: order}, ports: [{port: 8080}]}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order}
spec:
  replicas: 4
  selector: {matchLabels: {app: order}}
  template:
    metadata: {labels: {app: order, version: v2}}
    spec: {containers: [{name: order, image: graylane/sample}]}
  strategy:
    canary:
      stableService: order
      canaryService: order-canary
      steps: [{setWeight: 25}, {pause: {}}]`
	set, err := manifest.LoadBytes("order.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := rollouttraffic.TemplateHash(&set.Of("Rollout")[0].Typed.(*rolloutsv1alpha1.Rollout).Spec.Template)
	tests := []struct {
		step      string
		services  []map[string]string
		workloads []simulate.Workload
	}{
		{"order=1",
			[]map[string]string{{"app": "order", "rollouts-pod-template-hash": "stable"}, {"app": "order", "rollouts-pod-template-hash": c}},
			[]simulate.Workload{
				// No traffic routing: the stable keeps the replicas the canary does not have.
				{Kind: "ReplicaSet", Name: "order-stable", Namespace: "default", Labels: map[string]string{"app": "order", "rollouts-pod-template-hash": "stable"}, Replicas: 3},
				{Kind: "ReplicaSet", Name: "order-" + c, Namespace: "default", Labels: map[string]string{"app": "order", "version": "v2", "rollouts-pod-template-hash": c}, Replicas: 1},
			}},
		{"order=2",
			[]map[string]string{{"app": "order", "rollouts-pod-template-hash": c}, {"app": "order", "rollouts-pod-template-hash": c}},
			[]simulate.Workload{
				{Kind: "ReplicaSet", Name: "order-" + c, Namespace: "default", Labels: map[string]string{"app": "order", "version": "v2", "rollouts-pod-template-hash": c}, Replicas: 4},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.step, func(t *testing.T) {
			in := RouteInput(set)
			placed, err := AtRolloutSteps(set, &in, []string{tc.step})
			if err != nil {
				t.Fatal(err)
			}
			svcs, ws := StepInventory(set, in, placed, "version")
			var sel []map[string]string
			for _, s := range svcs {
				sel = append(sel, s.Selector)
			}
			if diff := cmp.Diff(tc.services, sel); diff != "" {
				t.Errorf("service selectors (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.workloads, ws); diff != "" {
				t.Errorf("workloads (-want +got):\n%s", diff)
			}
		})
	}
}

package command

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// laneOnRollout is a lane member whose Service's DestinationRule a Rollout
// manages, and a subset of that rule ("legacy") that is neither the
// stable nor the canary one.
const laneOnRollout = `apiVersion: v1
kind: Service
metadata: {name: order, namespace: shop}
spec:
  selector: {app: order}
  ports: [{name: http, port: 8080}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: order, version: v1}}
  template:
    metadata: {labels: {app: order, version: v1}}
    spec: {containers: [{name: order, image: graylane/sample:1.0}]}
  strategy:
    canary:
      trafficRouting:
        istio:
          virtualService: {name: order, routes: [primary]}
          destinationRule: {name: order, canarySubsetName: canary, stableSubsetName: stable}
      steps: [{setWeight: 20}, {pause: {}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: order, namespace: shop}
spec:
  host: order
  subsets:
  - {name: stable, labels: {app: order, version: v1}}
  - {name: canary, labels: {app: order, version: v1}}
  - {name: legacy, labels: {app: order, version: v0}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: order, namespace: shop}
spec:
  hosts: [order]
  http:
  - name: legacy
    match: [{headers: {x-legacy: {exact: "1"}}}]
    route: [{destination: {host: order, subset: legacy}}]
  - name: primary
    route:
    - {destination: {host: order, subset: stable}, weight: 100}
    - {destination: {host: order, subset: canary}, weight: 0}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: order-v2, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: order, version: v2}}
  template:
    metadata: {labels: {app: order, version: v2}}
    spec: {containers: [{name: order, image: graylane/sample:1.0}]}
---
apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members:
  - {service: order, workload: order-v2}
  entry:
    headers: [{name: x-canary, exact: "true"}]
`

// TestRouteLaneOnRolloutHost: with the Rollout at a step, Argo has
// rewritten its DestinationRule with only the stable and canary subsets;
// a lane request still reaches the lane version (its subset lives in a
// companion DestinationRule), and a route to the dropped subset fails
// with 503 NR as on a cluster.
func TestRouteLaneOnRolloutHost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shop.yaml")
	if err := os.WriteFile(path, []byte(laneOnRollout), 0o600); err != nil {
		t.Fatal(err)
	}
	type dest struct {
		Subset string            `json:"subset"`
		Labels map[string]string `json:"labels"`
	}
	for _, tc := range []struct {
		name    string
		headers []string
		status  int
		subsets []string
	}{
		{"lane", []string{"x-graylane: gray"}, 200, []string{"graylane-gray"}},
		{"stable", nil, 200, []string{"stable", "canary"}},
		{"dropped subset", []string{"x-legacy: 1"}, 503, []string{"legacy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Route(context.Background(), RouteOptions{
				Files: []string{path}, Output: "json", RolloutSteps: []string{"shop/order=0"},
				Request: RequestOptions{URL: "http://order.shop:8080/", Headers: tc.headers, SourceNamespace: "shop"},
			}, &stdout, &stderr)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			var rep struct {
				Status       int    `json:"status"`
				Destinations []dest `json:"destinations"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatal(err)
			}
			var subsets []string
			for _, d := range rep.Destinations {
				subsets = append(subsets, d.Subset)
			}
			if rep.Status != tc.status || !cmp.Equal(subsets, tc.subsets) {
				t.Errorf("status %d, subsets %v; want %d, %v\n%s", rep.Status, subsets, tc.status, tc.subsets, stdout.String())
			}
		})
	}
}

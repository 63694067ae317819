package embedded

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/plan"
)

// rolloutManifest is a canary of the order service with Istio subset-level
// traffic routing, the seed 001 shape.
func rolloutManifest(version string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: order}
spec: {selector: {app: order}, ports: [{port: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec: {servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: order}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - name: primary
    route:
    - {destination: {host: order, subset: stable}, weight: 100}
    - {destination: {host: order, subset: canary}, weight: 0}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: order}
spec:
  host: order
  subsets: [{name: stable, labels: {app: order}}, {name: canary, labels: {app: order}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order}
spec:
  replicas: 2
  selector: {matchLabels: {app: order}}
  template:
    metadata: {labels: {app: order}}
    spec:
      containers:
      - name: order
        image: graylane/sample
        env: [{name: app, value: order}, {name: version, value: %s}]
  strategy:
    canary:
      abortScaleDownDelaySeconds: 1
      trafficRouting:
        managedRoutes: [{name: qa}]
        istio:
          virtualService: {name: order, routes: [primary]}
          destinationRule: {name: order, canarySubsetName: canary, stableSubsetName: stable}
      steps:
      - setWeight: 25
      - setHeaderRoute: {name: qa, match: [{headerName: x-canary, headerValue: {exact: "true"}}]}
      - pause: {}
      - setWeight: 50
      - pause: {duration: 1}
`, version)
}

// waitRollout waits until the only Rollout satisfies ok; the deadline
// bounds a hang, not a slow machine.
func waitRollout(t *testing.T, rt *Runtime, what string, ok func(adminapi.RolloutStatus) bool) adminapi.RolloutStatus {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rs := rt.Rollouts()
		if len(rs) == 1 && ok(rs[0]) {
			return rs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout never %s: %+v", what, rs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func versions(t *testing.T, r *running, n int, headers ...string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		code, body := r.get(t, false, "shop.example.com", headers...)
		got[fmt.Sprintf("%d %s", code, body)]++
	}
	return got
}

func TestRolloutCanary(t *testing.T) {
	r := start(t, nil)
	if _, err := r.rt.Apply(mustLoadBytes(t, rolloutManifest("v1"))); err != nil {
		t.Fatal(err)
	}
	waitReady(t, r.rt)
	r.gateway = r.rt.gatewayListener(80).addr
	first := waitRollout(t, r.rt, "healthy", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Healthy && s.Stable.Ready == 2 })
	if got := versions(t, r, 50); got["200 order(v1)"] != 50 {
		t.Fatalf("before the canary: %v", got)
	}

	// A new template starts the canary: 25%, the header route, then a pause.
	if _, err := r.rt.Apply(mustLoadBytes(t, rolloutManifest("v2"))); err != nil {
		t.Fatal(err)
	}
	paused := waitRollout(t, r.rt, "paused at step 2", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Paused && s.Step == 2 })
	if paused.StableHash != first.StableHash || paused.CanaryWeight != 25 || paused.Canary.Ready != 1 || len(paused.HeaderRoutes) != 1 {
		t.Fatalf("paused status: %+v", paused)
	}
	got := versions(t, r, 800)
	if v2 := got["200 order(v2)"]; v2 < 120 || v2 > 280 || v2+got["200 order(v1)"] != 800 {
		t.Errorf("at 25%%: %v", got)
	}
	if got := versions(t, r, 50, "x-canary", "true"); got["200 order(v2)"] != 50 {
		t.Errorf("header route x-canary: true: %v", got)
	}

	// Paused by the user inside the pause step, one promote clears both
	// (as Argo clears spec.paused and the pause condition together): 50%,
	// a 1 s pause, then v2 becomes the stable.
	if msg, err := r.rt.Command("default", "order", plan.Pause); err != nil || msg != "rollout default/order paused: holds until resumed or promoted" {
		t.Fatalf("pause: %q %v", msg, err)
	}
	if msg, err := r.rt.Command("default", "order", plan.Promote); err != nil || msg != "rollout default/order promoted: cleared the manual pause and left the pause of step 2 (pause)" {
		t.Fatalf("promote: %q %v", msg, err)
	}
	done := waitRollout(t, r.rt, "promoted", func(s adminapi.RolloutStatus) bool {
		return s.Phase == plan.Healthy && s.StableHash == paused.CanaryHash && s.Stable.Ready == 2
	})
	if done.CanaryWeight != 0 || done.Canary.Desired != 0 {
		t.Errorf("after promotion: %+v", done)
	}
	if got := versions(t, r, 50); got["200 order(v2)"] != 50 {
		t.Errorf("after promotion: %v", got)
	}

	// v3, aborted: traffic goes back to the stable at once; retry restarts.
	if _, err := r.rt.Apply(mustLoadBytes(t, rolloutManifest("v3"))); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, r.rt, "paused on v3", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Paused && s.Step == 2 })
	if _, err := r.rt.Command("default", "order", plan.Abort); err != nil {
		t.Fatal(err)
	}
	aborted := waitRollout(t, r.rt, "aborted", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Degraded })
	if !aborted.Aborted || aborted.CanaryWeight != 0 || !strings.Contains(aborted.Message, "RolloutAborted") {
		t.Errorf("aborted status: %+v", aborted)
	}
	if got := versions(t, r, 100); got["200 order(v2)"] != 100 {
		t.Errorf("after abort: %v", got)
	}
	waitRollout(t, r.rt, "scaled down after abortScaleDownDelaySeconds", func(s adminapi.RolloutStatus) bool { return s.Canary.Ready == 0 && s.Canary.Desired == 0 })
	if _, err := r.rt.Command("default", "order", plan.Abort); !errors.As(err, new(*RefusedError)) || err.Error() != "rollout default/order: nothing to abort: the update is aborted already" {
		t.Errorf("abort twice: %v", err)
	}
	if _, err := r.rt.Command("default", "order", plan.Retry); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, r.rt, "paused again after retry", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Paused && s.Step == 2 && !s.Aborted })
}

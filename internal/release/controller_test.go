package release

import (
	"strings"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/plan"
)

const orderRollout = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order, namespace: shop}
spec:
  replicas: 4
  selector: {matchLabels: {app: order}}
  template:
    metadata: {labels: {app: order}}
    spec: {containers: [{name: order, image: "order:v1"}]}
  strategy:
    canary:
      canaryService: order-canary
      stableService: order-stable
      trafficRouting:
        istio:
          virtualService: {name: order, routes: [primary]}
      steps:
`

var order = Ref{Namespace: "shop", Name: "order"}

// start runs the Rollout at v1 until it is stable with its replicas
// ready, then gives it v2: the canary starts.
func (e *env) start(t *testing.T, doc string) *rolloutsv1alpha1.Rollout {
	t.Helper()
	v1 := rolloutYAML(t, doc)
	e.c.SyncRollouts([]RolloutObject{{Namespace: "shop", Rollout: v1}})
	e.reconcile(t)
	e.pods.allReady(order)
	v2 := withImage(v1, "order:v2")
	e.c.SyncRollouts([]RolloutObject{{Namespace: "shop", Rollout: v2}})
	e.reconcile(t)
	return v2
}

// A canary's weight waits for its replicas: each setWeight takes effect
// once the canary replicas it needs are ready; pause {} waits for
// promote, a timed pause for the clock; after the last step the previous
// stable keeps its pods for the scale-down delay (30s by default).
func TestStepsProgressAsPodsBecomeReady(t *testing.T) {
	e := newEnv(t, memObjects{}, newPromServer(t, 0), newTestClock())
	e.start(t, orderRollout+`
      - setWeight: 25
      - pause: {}
      - setWeight: 50
      - pause: {duration: 1m}
`)
	v2 := e.c.rollouts[order.Key()].hash
	v1 := e.c.rollouts[order.Key()].status.StableHash
	held := func() int32 { n, _ := e.pods.Replicas(order, v1); return n }
	steps := []struct {
		name string
		do   func()
		want look
	}{
		{"v2 applied: one canary replica asked, no traffic before it is ready", func() {},
			look{Phase: "Progressing", Step: 0, Stable: "order:v1", StableReplicas: 4, Canary: "order:v2", Canaries: 1}},
		{"still not ready: nothing moves", func() { e.reconcile(t) },
			look{Phase: "Progressing", Step: 0, Stable: "order:v1", StableReplicas: 4, Canary: "order:v2", Canaries: 1}},
		{"ready: 25%, paused until promoted", func() { e.pods.allReady(order); e.reconcile(t) },
			look{Phase: "Paused", Step: 1, Weight: 25, Stable: "order:v1", StableReplicas: 4, Canary: "order:v2", Canaries: 1}},
		{"promoted: 50% asked, two canaries, traffic stays at 25%", func() {
			if _, _, err := e.c.Command(e.ctx, order, plan.Promote); err != nil {
				t.Fatal(err)
			}
		}, look{Phase: "Progressing", Step: 2, Weight: 25, Stable: "order:v1", StableReplicas: 4, Canary: "order:v2", Canaries: 2}},
		{"ready: 50%, timed pause", func() { e.pods.allReady(order); e.reconcile(t) },
			look{Phase: "Paused", Step: 3, Weight: 50, Stable: "order:v1", StableReplicas: 4, Canary: "order:v2", Canaries: 2}},
		{"pause over: the canary scales up to every replica before it takes over", func() { e.clock.advance(time.Minute); e.reconcile(t) },
			look{Phase: "Progressing", Step: 4, Weight: 50, Stable: "order:v1", StableReplicas: 4, Canary: "order:v2", Canaries: 4}},
		{"ready: v2 is the stable", func() { e.pods.allReady(order); e.reconcile(t) },
			look{Phase: "Healthy", Step: 4, Weight: 0, Stable: "order:v2", StableReplicas: 4}},
	}
	for _, s := range steps {
		s.do()
		if diff := cmp.Diff(s.want, e.look(t, order)); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", s.name, diff)
		}
	}
	if v2 == v1 || held() != 4 {
		t.Fatalf("the previous stable %s holds %d replicas right after the promotion, want 4", v1, held())
	}
	e.clock.advance(29 * time.Second)
	e.reconcile(t)
	if held() != 4 {
		t.Fatalf("the previous stable holds %d replicas 29s after the promotion, want 4 (scaleDownDelaySeconds 30)", held())
	}
	e.clock.advance(2 * time.Second)
	e.reconcile(t)
	if n := held(); n != 0 || len(e.pods.Hashes(order)) != 1 {
		t.Fatalf("31s after the promotion the previous stable holds %d replicas and the Rollout %d hashes, want 0 and 1", n, len(e.pods.Hashes(order)))
	}
	if _, _, err := e.c.Command(e.ctx, order, plan.Abort); err == nil || !strings.Contains(err.Error(), "rollout shop/order: ") {
		t.Errorf("abort with no update: %v, want a refusal", err)
	}
}

// errorRate is an AnalysisTemplate querying Prometheus for the error
// rate of the service its argument names.
const errorRate = `
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: error-rate, namespace: shop}
spec:
  args: [{name: service}]
  metrics:
  - name: error-rate
    interval: 1m
    count: 3
    successCondition: result[0] < 0.05
    provider:
      prometheus:
        query: sum(rate(errors{service="{{args.service}}"}[1m]))
`

const analysedSteps = `
      - setWeight: 25
      - analysis:
          templates: [{templateName: error-rate}]
          args: [{name: service, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
      - setWeight: 50
      - pause: {}
`

// A step analysis whose query fails the condition aborts the update: the
// canary loses its traffic at once, the run's measurement stays as the
// evidence, the canary's replicas go after abortScaleDownDelaySeconds.
func TestFailedAnalysisAborts(t *testing.T) {
	prom := newPromServer(t, 0.5)
	e := newEnv(t, memObjects{"shop/error-rate": template(t, errorRate)}, prom, newTestClock())
	e.start(t, orderRollout+analysedSteps)
	e.pods.allReady(order)
	e.reconcile(t)
	wait(t, e.events.decided, "the analysis decided")
	e.reconcile(t)
	got := e.look(t, order)
	want := look{Phase: "Degraded", Step: 1, Weight: 0, Stable: "order:v1", StableReplicas: 4, Canary: "order:v2", Canaries: 1, Aborted: true,
		Analysis: []string{"step/1 Failed (1)"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("after the failed measurement (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`sum(rate(errors{service="order"}[1m]))`}, prom.sent()); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
	v, _ := e.c.Rollout(order)
	if !strings.Contains(v.Status.Message, "error-rate") {
		t.Errorf("message %q does not name the failed metric", v.Status.Message)
	}
	e.clock.advance(31 * time.Second)
	e.reconcile(t)
	if got := e.look(t, order); got.Canaries != 0 {
		t.Errorf("%d canary replicas 31s after the abort, want 0", got.Canaries)
	}
}

// A restart resumes from the saved state at the same step: the analysis
// in progress continues with the measurement taken before (neither run
// again from the start nor skipped), and the step machine moves on once,
// when it succeeds.
func TestRestartResumesTheStep(t *testing.T) {
	prom := newPromServer(t, 0.01)
	objs := memObjects{"shop/error-rate": template(t, errorRate)}
	first := newEnv(t, objs, prom, newTestClock())
	v2 := first.start(t, orderRollout+analysedSteps)
	first.pods.allReady(order)
	first.reconcile(t)
	wait(t, first.events.measured, "the first measurement")
	wait(t, first.clock.slept, "the run waiting for its next measurement")
	before := first.look(t, order)
	if diff := cmp.Diff([]string{"step/1 Running (1)"}, before.Analysis); diff != "" || before.Step != 1 {
		t.Fatalf("before the restart: step %d, analysis (-want +got):\n%s", before.Step, diff)
	}
	saved := jsonRoundTrip(t, first.c.State())
	first.cancel() // the process is gone

	clock := newTestClock()
	clock.now = first.clock.Now().Add(10 * time.Second)
	e := newEnv(t, objs, prom, clock)
	e.c.Restore(saved)
	e.c.SyncRollouts([]RolloutObject{{Namespace: "shop", Rollout: v2}})
	e.c.EndRestore()
	e.reconcile(t)
	wait(t, clock.slept, "the resumed run waiting for its next measurement, due 1m after the first")
	got := e.look(t, order)
	want := look{Phase: "Progressing", Step: 1, Weight: 0, Stable: "order:v1", StableReplicas: 4, Canary: "order:v2", Canaries: 1,
		Analysis: []string{"step/1 Running (1)"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("after the restart, no replica ready yet (-want +got):\n%s", diff)
	}
	if n := len(prom.sent()); n != 1 {
		t.Fatalf("%d measurements right after the restart, want the 1 taken before it", n)
	}
	e.pods.allReady(order)
	e.reconcile(t)
	if got := e.look(t, order); got.Step != 1 || got.Weight != 25 {
		t.Fatalf("replicas ready again: step %d at %d%%, want step 1 at 25%%", got.Step, got.Weight)
	}
	clock.advance(50 * time.Second)
	wait(t, e.events.measured, "the second measurement")
	wait(t, clock.slept, "the run waiting for its third measurement")
	clock.advance(time.Minute)
	wait(t, e.events.decided, "the analysis decided")
	e.reconcile(t)
	e.pods.allReady(order)
	e.reconcile(t)
	got = e.look(t, order)
	want = look{Phase: "Paused", Step: 3, Weight: 50, Stable: "order:v1", StableReplicas: 4, Canary: "order:v2", Canaries: 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after the analysis (-want +got):\n%s", diff)
	}
	if n := len(prom.sent()); n != 3 {
		t.Errorf("%d measurements across the restart, want the template's count 3", n)
	}
}

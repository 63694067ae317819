package embedded

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/analysis"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/plan"
)

// liveTraffic sends GET requests through the gateway with one Host until
// stopped, and counts the answers by status and body.
type liveTraffic struct {
	mu   sync.Mutex
	got  map[string]int
	bad  []string // non-200 answers (the first 20)
	n    int
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func startLiveTraffic(r *running, host string) *liveTraffic {
	lt := &liveTraffic{got: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(lt.done)
		for {
			select {
			case <-lt.stop:
				return
			default:
			}
			code, body, err := r.try(false, host)
			key := fmt.Sprintf("%d %s", code, body)
			if err != nil {
				key = "error " + err.Error()
			}
			lt.mu.Lock()
			lt.n++
			lt.got[key]++
			if code != 200 && len(lt.bad) < 20 {
				lt.bad = append(lt.bad, key)
			}
			lt.mu.Unlock()
		}
	}()
	return lt
}

func (lt *liveTraffic) sent() int {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.n
}

// waitSent waits until n more requests have been answered.
func (lt *liveTraffic) waitSent(t *testing.T, n int) {
	t.Helper()
	target := lt.sent() + n
	deadline := time.Now().Add(60 * time.Second)
	for lt.sent() < target {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests answered in 60s", lt.sent(), target)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// finish stops the traffic and returns the answers.
func (lt *liveTraffic) finish() (map[string]int, []string) {
	lt.once.Do(func() { close(lt.stop) })
	<-lt.done
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.got, lt.bad
}

// waitRolloutFor waits until the only Rollout satisfies ok; the deadline
// only bounds a failure.
func waitRolloutFor(t *testing.T, rt *Runtime, what string, ok func(adminapi.RolloutStatus) bool) adminapi.RolloutStatus {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
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

// shopRelease is seed 001's Release with a quick plan: its analysis keeps
// the default Prometheus address, http://prometheus.istio-system.svc:9090,
// as written for a cluster.
const shopRelease = `apiVersion: graylane.io/v1alpha1
kind: Release
metadata:
  name: shop
  namespace: shop
spec:
  services:
  - name: order
    image: graylane/sample:1.0
    replicas: 2
    env: [{name: app, value: order}]
  gateways: [istio-system/shop-gateway]
  hosts: [shop.example.com]
  steps:
  - setWeight: 20
  - pause: {}
  - setWeight: 50
  - pause: {duration: 1s}
  analysis:
    interval: 1s
    window: 20s
    count: 4
    failureLimit: 2
    successRate: {min: "0.95"}
    requestRate: {min: "1"}
`

const shopGateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop-gateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [shop.example.com]}]
`

// A Release runs under `graylane up` exactly as it renders for a cluster:
// its undefined Gateway is reported where the Release names it; with the
// Gateway applied, `set image` on the rendered Rollout starts the canary,
// the background analysis - Prometheus templates with the in-cluster
// address, answered by the embedded Prometheus - passes on real traffic
// through the gateway, and promote takes it to the end.
func TestReleaseCanaryLocally(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "release.yaml")
	if err := os.WriteFile(file, []byte(shopRelease), 0o644); err != nil {
		t.Fatal(err)
	}
	r := start(t, []string{file})
	waitRolloutFor(t, r.rt, "healthy", func(s adminapi.RolloutStatus) bool {
		return s.Namespace == "shop" && s.Name == "order" && s.Phase == plan.Healthy && s.Stable.Ready == 2
	})

	// Nothing serves the Release's gateway yet: said where it is named.
	set, err := manifest.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.rt.Apply(set)
	if err != nil {
		t.Fatal(err)
	}
	line := slices.IndexFunc(strings.Split(shopRelease, "\n"), func(l string) bool { return strings.HasPrefix(l, "  gateways:") }) + 1
	want := fmt.Sprintf("%s:%d: VirtualService shop/order (rendered from Release shop/shop) is bound to Gateway istio-system/shop-gateway, which is not defined: nothing listens for shop.example.com here.", file, line)
	if !slices.ContainsFunc(res.Findings, func(f string) bool { return strings.HasPrefix(f, want) }) {
		t.Fatalf("findings %q lack %q", res.Findings, want)
	}
	if res, err = r.rt.Apply(mustLoadBytes(t, shopGateway)); err != nil || len(res.Findings) != 0 {
		t.Fatalf("apply the gateway: %v %q", err, res.Findings)
	}
	r.gateway = r.rt.gatewayListener(80).addr
	if code, body := r.get(t, false, "shop.example.com"); code != 200 || body != "order(1.0)" {
		t.Fatalf("through the gateway: %d %q", code, body)
	}

	traffic := startLiveTraffic(r, "shop.example.com")
	defer traffic.finish()
	msg, err := r.rt.SetImage("shop", "order", "order", "graylane/sample:2.0")
	if err != nil || !strings.Contains(msg, "(Release shop/shop spec.services[0])") {
		t.Fatalf("set image: %q %v", msg, err)
	}
	paused := waitRolloutFor(t, r.rt, "paused at 20%", func(s adminapi.RolloutStatus) bool {
		return s.Phase == plan.Paused && s.Step == 1 && s.CanaryWeight == 20 && s.Canary.Ready == 1
	})
	// The background analysis measures the canary's real traffic.
	analysed := waitRolloutFor(t, r.rt, "analysed", func(s adminapi.RolloutStatus) bool {
		return len(s.Analysis) == 1 && s.Analysis[0].Phase != analysis.Running
	})
	bg := analysed.Analysis[0]
	if bg.Kind != "background" || bg.Phase != analysis.Successful {
		t.Fatalf("background analysis: %+v", bg)
	}
	for _, m := range bg.Metrics {
		if m.Successful == 0 {
			t.Errorf("metric %s had no successful measurement: %+v", m.Name, m)
		}
	}
	if got := versions(t, r, 200); got["200 order(2.0)"] == 0 || got["200 order(1.0)"]+got["200 order(2.0)"] != 200 {
		t.Errorf("at 20%%: %v", got)
	}

	msg, err = r.rt.Command("shop", "order", plan.Promote)
	if err != nil || msg != "rollout shop/order promoted: left the pause of step 1 (pause)" {
		t.Fatalf("promote: %q %v", msg, err)
	}
	waitRolloutFor(t, r.rt, "promoted", func(s adminapi.RolloutStatus) bool {
		return s.Phase == plan.Healthy && s.StableHash == paused.CanaryHash && s.Stable.Ready == 2
	})
	if got := versions(t, r, 50); got["200 order(2.0)"] != 50 {
		t.Errorf("after the promotion: %v", got)
	}
	got, bad := traffic.finish()
	if len(bad) > 0 {
		t.Errorf("failed requests during the release: %q (all answers %v)", bad, got)
	}
}

// slowCanary is a Rollout of 4 replicas with Istio subset routing whose
// steps wait for canary replicas: 10% (1 replica), 50% (2), then 100% (4).
const slowCanary = `apiVersion: v1
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
  replicas: 4
  selector: {matchLabels: {app: order}}
  template:
    metadata: {labels: {app: order}}
    spec:
      containers: [{name: order, image: graylane/sample:1.0, env: [{name: app, value: order}]}]
  strategy:
    canary:
      scaleDownDelaySeconds: 1
      trafficRouting:
        istio:
          virtualService: {name: order, routes: [primary]}
          destinationRule: {name: order, canarySubsetName: canary, stableSubsetName: stable}
      steps:
      - setWeight: 10
      - setWeight: 50
`

// Issue #15: a canary whose replicas start slowly gets no traffic before
// they are available. Each canary replica waits for its own file before it
// starts serving; with real traffic through the gateway, the canary weight
// stays where the available replicas can serve it (0 with 0 of 1, 10% with
// 1 of 2, 50% with 2 of 4) and not one request is answered 503.
func TestSlowCanaryGetsNoTrafficBeforeReady(t *testing.T) {
	gates := t.TempDir()
	slow := fmt.Sprintf(`while [ ! -e '%s'/"$POD_NAME" ]; do sleep 0.02; done; exec '%s' sample`, gates, graylaneBin)
	r := start(t, nil, "slow/sample="+slow)
	if _, err := r.rt.Apply(mustLoadBytes(t, slowCanary)); err != nil {
		t.Fatal(err)
	}
	waitReady(t, r.rt)
	r.gateway = r.rt.gatewayListener(80).addr
	waitRolloutFor(t, r.rt, "healthy", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Healthy && s.Stable.Ready == 4 })
	traffic := startLiveTraffic(r, "shop.example.com")
	defer traffic.finish()

	if _, err := r.rt.SetImage("default", "order", "order", "slow/sample:2.0"); err != nil {
		t.Fatal(err)
	}
	// release lets the first n canary replicas start.
	release := func(n int) {
		t.Helper()
		canary := r.rt.Rollouts()[0].CanaryHash
		var names []string
		for _, p := range r.rt.Workloads() {
			if p.Labels[PodTemplateHashLabel] == canary {
				names = append(names, p.Name)
			}
		}
		sort.Strings(names)
		if len(names) < n {
			t.Fatalf("%d canary pods, want at least %d: %v", len(names), n, names)
		}
		for _, name := range names[:n] {
			if err := os.WriteFile(filepath.Join(gates, name), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, stage := range []struct {
		released               int
		ready, desired         int32
		weight, set, stepIndex int32
	}{
		{released: 0, ready: 0, desired: 1, weight: 0, set: 10, stepIndex: 0},
		{released: 1, ready: 1, desired: 2, weight: 10, set: 50, stepIndex: 1},
		{released: 2, ready: 2, desired: 4, weight: 50, set: 100, stepIndex: 2},
	} {
		release(stage.released)
		what := fmt.Sprintf("waiting with %d of %d canary replicas", stage.ready, stage.desired)
		st := waitRolloutFor(t, r.rt, what, func(s adminapi.RolloutStatus) bool {
			return s.Canary.Ready == stage.ready && s.Canary.Desired == stage.desired && s.SetWeight == stage.set
		})
		// Traffic flows while the canary waits; the weight stays put.
		traffic.waitSent(t, 100)
		after := r.rt.Rollouts()[0]
		for _, s := range []adminapi.RolloutStatus{st, after} {
			if s.CanaryWeight != stage.weight || int32(s.Step) != stage.stepIndex || !strings.Contains(s.Message, "waiting for canary replicas") {
				t.Errorf("%s: weight %d step %d (%s), want weight %d at step %d", what, s.CanaryWeight, s.Step, s.Message, stage.weight, stage.stepIndex)
			}
		}
	}
	release(4)
	waitRolloutFor(t, r.rt, "promoted", func(s adminapi.RolloutStatus) bool {
		return s.Phase == plan.Healthy && s.Stable.Ready == 4 && s.CanaryHash == s.StableHash
	})
	traffic.waitSent(t, 50)
	got, bad := traffic.finish()
	if len(bad) > 0 {
		t.Errorf("requests failed while the canary started: %q", bad)
	}
	if got["200 order(2.0)"] == 0 || got["200 order(1.0)"] == 0 {
		t.Errorf("answers %v: want both versions", got)
	}
}

// servicesProbe is seed 000's shape: stable and canary Services beside the
// Rollout's, and an analysis step that probes each by its cluster name.
const servicesProbe = `apiVersion: v1
kind: Service
metadata: {name: pay}
spec: {selector: {app: pay}, ports: [{port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: pay-stable}
spec: {selector: {app: pay}, ports: [{port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: pay-canary}
spec: {selector: {app: pay}, ports: [{port: 8080}]}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: probe}
spec:
  metrics:
  - name: canary
    count: 6
    interval: 50ms
    successCondition: result == "pay(v2)"
    provider: {web: {url: "http://pay-canary.default.svc.cluster.local:8080/"}}
  - name: stable
    count: 6
    interval: 50ms
    successCondition: result == "pay(v1)"
    provider: {web: {url: "http://pay-stable.default:8080/"}}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: pay}
spec:
  replicas: 2
  selector: {matchLabels: {app: pay}}
  template:
    metadata: {labels: {app: pay}}
    spec:
      containers: [{name: pay, image: graylane/sample, env: [{name: app, value: pay}, {name: version, value: %s}]}]
  strategy:
    canary:
      stableService: pay-stable
      canaryService: pay-canary
      steps:
      - setWeight: 50
      - analysis: {templates: [{templateName: probe}]}
      - pause: {}
`

// A web metric's URL that names a Service reaches its pods, and the
// stableService and canaryService select the stable and the canary pods
// (as Argo sets their selectors): seed 000's probe of the canary Service
// measures the canary alone.
func TestCanaryServiceProbe(t *testing.T) {
	r := start(t, nil)
	if _, err := r.rt.Apply(mustLoadBytes(t, fmt.Sprintf(servicesProbe, "v1"))); err != nil {
		t.Fatal(err)
	}
	waitRolloutFor(t, r.rt, "healthy", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Healthy && s.Stable.Ready == 2 })
	if _, err := r.rt.Apply(mustLoadBytes(t, fmt.Sprintf(servicesProbe, "v2"))); err != nil {
		t.Fatal(err)
	}
	st := waitRolloutFor(t, r.rt, "past the analysis", func(s adminapi.RolloutStatus) bool { return s.Step == 2 || s.Phase == plan.Degraded })
	if st.Phase != plan.Paused {
		t.Fatalf("analysis of the canary and stable Services: %s %s %+v", st.Phase, st.Message, st.Analysis)
	}
}

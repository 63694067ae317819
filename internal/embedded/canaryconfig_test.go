package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosserver"
	"github.com/graylane/graylane/internal/plan"
)

// orderRelease is a Release of order with the sample image tag and, when
// rate is set, a canaryConfig with feature.discount-rate = rate published
// to Nacos' order.yaml.
func orderRelease(tag, rate string) string {
	s := `apiVersion: graylane.io/v1alpha1
kind: Release
metadata: {name: order, namespace: shop}
spec:
  services:
  - name: order
    image: graylane/sample:` + tag + `
    replicas: 1
    env: [{name: app, value: order}]
`
	if rate != "" {
		s += `    canaryConfig:
      properties: {feature.discount-rate: "` + rate + `"}
      nacos: {dataId: order.yaml}
`
	}
	return s + `  steps:
  - setWeight: 50
  - pause: {}
`
}

// processEnv is the environment of the process of every pod of the
// Rollout shop/order, by pod template hash, as the kernel holds it.
func processEnv(t *testing.T, rt *Runtime, name string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, p := range rt.Workloads() {
		if p.Workload != "Rollout shop/order" {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.PID))
		if err != nil {
			t.Fatalf("pod %s: %v", p.Name, err)
		}
		v := "(unset)"
		for _, kv := range bytes.Split(b, []byte{0}) {
			if k, val, ok := strings.Cut(string(kv), "="); ok && k == name {
				v = val
			}
		}
		h := p.Labels[PodTemplateHashLabel]
		out[h] = append(out[h], v)
	}
	return out
}

func nacosContent(t *testing.T, c *nacosclient.Client) string {
	t.Helper()
	cfg, err := c.GetConfig(context.Background(), "order.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Content
}

// Seed 000 §3.3 under graylane up --nacos: while the canary runs, its pods
// - and only its pods - have the canary-only property as the environment
// variable Spring reads (checked in each process's environment), and Nacos
// is untouched; promoted fully, the property is merged into Nacos'
// order.yaml, the rest of it kept; a later release that is aborted
// publishes nothing.
func TestCanaryConfigLocally(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the pods' environment from /proc")
	}
	r := startWith(t, func(o *Options) { o.Nacos, o.SampleProcesses = "127.0.0.1:0", SamplesPerReplica }, nil)
	ctx := context.Background()
	nc, err := nacosclient.New(ctx, nacosclient.Options{Server: r.rt.Addresses().Nacos})
	if err != nil {
		t.Fatal(err)
	}
	before := "feature:\n  discount-rate: 0.1\nserver:\n  port: 8082\n"
	if err := nc.PublishConfig(ctx, "order.yaml", "", before, "yaml", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.rt.Apply(mustLoadBytes(t, orderRelease("1.0", ""))); err != nil {
		t.Fatal(err)
	}
	v1 := waitRolloutFor(t, r.rt, "healthy", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Healthy && s.Stable.Ready == 1 })
	if v1.CanaryConfig != nil {
		t.Errorf("a Rollout without canaryConfig shows %+v", v1.CanaryConfig)
	}

	if _, err := r.rt.Apply(mustLoadBytes(t, orderRelease("2.0", "0.2"))); err != nil {
		t.Fatal(err)
	}
	paused := waitRolloutFor(t, r.rt, "paused with a ready canary", func(s adminapi.RolloutStatus) bool {
		return s.Phase == plan.Paused && s.Canary.Ready == 1 && s.Stable.Ready == 1
	})
	want := map[string][]string{v1.StableHash: {"(unset)"}, paused.CanaryHash: {"0.2"}}
	if d := cmp.Diff(want, processEnv(t, r.rt, "FEATURE_DISCOUNTRATE")); d != "" {
		t.Errorf("FEATURE_DISCOUNTRATE of the pods by template hash (-want +got):\n%s", d)
	}
	wantStatus := &adminapi.CanaryConfigStatus{Properties: []string{"feature.discount-rate"}, DataID: "order.yaml", Group: "DEFAULT_GROUP",
		State: "Pending", Message: "environment variables of the canary; published once the rollout is fully promoted"}
	if d := cmp.Diff(wantStatus, paused.CanaryConfig); d != "" {
		t.Errorf("canary config while paused (-want +got):\n%s", d)
	}
	if got := nacosContent(t, nc); got != before {
		t.Errorf("Nacos during the canary: %q, want it untouched", got)
	}

	if _, err := r.rt.Command("shop", "order", plan.PromoteFull); err != nil {
		t.Fatal(err)
	}
	done := waitRolloutFor(t, r.rt, "published", func(s adminapi.RolloutStatus) bool {
		return s.CanaryConfig != nil && s.CanaryConfig.State != "Pending"
	})
	if done.CanaryConfig.State != "Published" || done.Phase != plan.Healthy || done.StableHash != paused.CanaryHash {
		t.Fatalf("after the full promotion: %+v, canary config %+v", done, done.CanaryConfig)
	}
	merged := "feature:\n  discount-rate: \"0.2\"\nserver:\n  port: 8082\n"
	if d := cmp.Diff(merged, nacosContent(t, nc)); d != "" {
		t.Errorf("Nacos after the promotion (-want +got):\n%s", d)
	}

	// The next release carries another rate and is aborted: nothing is
	// published, Nacos keeps the promoted value.
	if _, err := r.rt.Apply(mustLoadBytes(t, orderRelease("3.0", "0.5"))); err != nil {
		t.Fatal(err)
	}
	waitRolloutFor(t, r.rt, "paused again", func(s adminapi.RolloutStatus) bool {
		return s.Phase == plan.Paused && s.Canary.Ready == 1 && s.CanaryHash != paused.CanaryHash
	})
	if _, err := r.rt.Command("shop", "order", plan.Abort); err != nil {
		t.Fatal(err)
	}
	aborted := waitRolloutFor(t, r.rt, "not published", func(s adminapi.RolloutStatus) bool {
		return s.CanaryConfig != nil && s.CanaryConfig.State != "Pending"
	})
	if aborted.CanaryConfig.State != "NotPublished" || !aborted.Aborted {
		t.Fatalf("after the abort: %+v, canary config %+v", aborted, aborted.CanaryConfig)
	}
	if d := cmp.Diff(merged, nacosContent(t, nc)); d != "" {
		t.Errorf("Nacos after the abort (-want +got):\n%s", d)
	}
}

// A restart with the same --state-dir does not publish again: an edit made
// in Nacos after the promotion is kept.
func TestCanaryConfigPublishedOnceAcrossRestart(t *testing.T) {
	ctx := context.Background()
	srv, err := nacosserver.Start(ctx, nacosserver.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	nc, err := nacosclient.New(ctx, nacosclient.Options{Server: srv.HTTPAddr()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	edit := func(o *Options) { o.StateDir, o.CanaryNacos = dir, nacosclient.Options{Server: srv.HTTPAddr()} }
	r := startWith(t, edit, nil)
	if _, err := r.rt.Apply(mustLoadBytes(t, orderRelease("1.0", ""))); err != nil {
		t.Fatal(err)
	}
	waitRolloutFor(t, r.rt, "healthy", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Healthy && s.Stable.Ready == 1 })
	if _, err := r.rt.Apply(mustLoadBytes(t, orderRelease("2.0", "0.2"))); err != nil {
		t.Fatal(err)
	}
	waitRolloutFor(t, r.rt, "paused", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Paused && s.Canary.Ready == 1 })
	if _, err := r.rt.Command("shop", "order", plan.PromoteFull); err != nil {
		t.Fatal(err)
	}
	waitRolloutFor(t, r.rt, "published", func(s adminapi.RolloutStatus) bool {
		return s.CanaryConfig != nil && s.CanaryConfig.State == "Published"
	})
	if got, want := nacosContent(t, nc), "feature:\n  discount-rate: \"0.2\"\n"; got != want {
		t.Fatalf("published %q, want %q", got, want)
	}
	r.cancel()
	if err := <-r.errc; err != nil {
		t.Fatal(err)
	}
	r.errc <- nil // for the cleanup

	edited := "feature:\n  discount-rate: \"0.3\"\n"
	if err := nc.PublishConfig(ctx, "order.yaml", "", edited, "yaml", ""); err != nil {
		t.Fatal(err)
	}
	r = startWith(t, edit, nil)
	st := waitRolloutFor(t, r.rt, "resumed", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Healthy && s.CanaryConfig != nil })
	if st.CanaryConfig.State != "Published" {
		t.Errorf("after the restart: %+v", st.CanaryConfig)
	}
	// One more decision pass here, under the lock: nothing to publish, and
	// nothing in flight from the passes before.
	r.rt.mu.Lock()
	r.rt.reconcileCanaryConfigs(ctx)
	inflight := len(r.rt.canary.inflight)
	r.rt.mu.Unlock()
	if inflight != 0 {
		t.Errorf("%d publishes in flight after the restart", inflight)
	}
	if got := nacosContent(t, nc); got != edited {
		t.Errorf("Nacos after the restart: %q, want the edit %q kept", got, edited)
	}
}

// Without any Nacos the promoted Rollout's status says there is nowhere
// to publish; with a Nacos that is down the publish fails and is tried
// again until it is up. (A Release applied for the first time is
// promoted at once: Argo Rollouts makes its first template the stable.)
func TestCanaryConfigNoNacosThenRetry(t *testing.T) {
	r := startWith(t, nil, nil)
	if _, err := r.rt.Apply(mustLoadBytes(t, orderRelease("1.0", "0.2"))); err != nil {
		t.Fatal(err)
	}
	st := waitRolloutFor(t, r.rt, "decided", func(s adminapi.RolloutStatus) bool {
		return s.CanaryConfig != nil && s.CanaryConfig.State != "Pending"
	})
	if st.CanaryConfig.State != "NoNacos" || !strings.Contains(st.CanaryConfig.Message, "--nacos-server") {
		t.Errorf("without Nacos: %+v", st.CanaryConfig)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r = startWith(t, func(o *Options) { o.CanaryNacos = nacosclient.Options{Server: addr} }, nil)
	if _, err := r.rt.Apply(mustLoadBytes(t, orderRelease("1.0", "0.2"))); err != nil {
		t.Fatal(err)
	}
	st = waitRolloutFor(t, r.rt, "failed", func(s adminapi.RolloutStatus) bool {
		return s.CanaryConfig != nil && s.CanaryConfig.State != "Pending"
	})
	if st.CanaryConfig.State != "Failed" {
		t.Fatalf("with Nacos down: %+v", st.CanaryConfig)
	}
	srv, err := nacosserver.Start(context.Background(), nacosserver.Options{Addr: addr})
	if err != nil {
		t.Skipf("cannot serve Nacos on %s again (its port or port + 1000 was taken meanwhile): %v", addr, err)
	}
	defer srv.Close()
	waitRolloutFor(t, r.rt, "published once Nacos is up", func(s adminapi.RolloutStatus) bool {
		return s.CanaryConfig != nil && s.CanaryConfig.State == "Published"
	})
	nc, err := nacosclient.New(context.Background(), nacosclient.Options{Server: addr})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := nacosContent(t, nc), "feature:\n  discount-rate: \"0.2\"\n"; got != want {
		t.Errorf("published %q, want %q", got, want)
	}
}

// canaryLane is lane gray with a plan that waits at 50% and order's
// canaryConfig publishing feature.discount-rate = rate.
func canaryLane(rate string) string {
	return `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members:
  - service: order
    workload: order-v2
    canaryConfig:
      properties: {feature.discount-rate: "` + rate + `"}
      nacos: {dataId: order.yaml}
  - {service: logistics, workload: logistics-v2}
  plan:
    judge: false
    steps:
    - setWeight: 50
    - pause: {}
`
}

// workloadEnv is the variable name of the process of every pod of the
// Deployments shop/order-v1 and shop/order-v2, by Deployment.
func workloadEnv(t *testing.T, rt *Runtime, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range rt.Workloads() {
		if p.Workload != "Deployment shop/order-v1" && p.Workload != "Deployment shop/order-v2" {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.PID))
		if err != nil {
			t.Fatalf("pod %s: %v", p.Name, err)
		}
		v := "(unset)"
		for _, kv := range bytes.Split(b, []byte{0}) {
			if k, val, ok := strings.Cut(string(kv), "="); ok && k == name {
				v = val
			}
		}
		out[p.Workload] = v
	}
	return out
}

// A lane member's canaryConfig under graylane up --nacos: only the lane
// version's processes have the variable; promoting the lane publishes it
// into Nacos; a changed lane that is aborted publishes nothing.
func TestLaneCanaryConfigLocally(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the pods' environment from /proc")
	}
	dir := laneShop(t, canaryLane("0.2"))
	r := startWith(t, func(o *Options) { o.Nacos, o.SampleProcesses = "127.0.0.1:0", SamplesPerReplica }, []string{dir})
	ctx := context.Background()
	nc, err := nacosclient.New(ctx, nacosclient.Options{Server: r.rt.Addresses().Nacos})
	if err != nil {
		t.Fatal(err)
	}
	paused := waitLane(t, r.rt, "paused at 50%", func(s adminapi.LaneStatus) bool {
		return s.Plan != nil && s.Plan.Phase == plan.Paused && s.Weight == 50
	})
	if len(paused.CanaryConfig) != 1 || paused.CanaryConfig[0].Service != "order" || paused.CanaryConfig[0].State != "Pending" {
		t.Errorf("canary config while paused: %+v", paused.CanaryConfig)
	}
	want := map[string]string{"Deployment shop/order-v1": "(unset)", "Deployment shop/order-v2": "0.2"}
	if d := cmp.Diff(want, workloadEnv(t, r.rt, "FEATURE_DISCOUNTRATE")); d != "" {
		t.Errorf("FEATURE_DISCOUNTRATE by workload (-want +got):\n%s", d)
	}
	if _, err := nc.GetConfig(ctx, "order.yaml", ""); !errors.Is(err, nacosclient.ErrNotFound) {
		t.Errorf("Nacos during the lane's plan: %v, want nothing published", err)
	}

	if _, err := r.rt.LaneCommand("shop", "gray", plan.PromoteFull); err != nil {
		t.Fatal(err)
	}
	done := waitLane(t, r.rt, "published", func(s adminapi.LaneStatus) bool {
		return len(s.CanaryConfig) == 1 && s.CanaryConfig[0].State != "Pending"
	})
	if done.CanaryConfig[0].State != "Published" || done.Phase != lane.Promoted {
		t.Fatalf("after promoting the lane: %s, %+v", done.Phase, done.CanaryConfig)
	}
	published := "feature:\n  discount-rate: \"0.2\"\n"
	if got := nacosContent(t, nc); got != published {
		t.Errorf("Nacos after the promotion: %q, want %q", got, published)
	}

	// The lane changed: its plan starts again; aborted, it publishes nothing.
	if _, err := r.rt.Apply(mustLoadBytes(t, canaryLane("0.5"))); err != nil {
		t.Fatal(err)
	}
	waitLane(t, r.rt, "paused again", func(s adminapi.LaneStatus) bool {
		return s.Plan != nil && s.Plan.Phase == plan.Paused && len(s.CanaryConfig) == 1 && s.CanaryConfig[0].State == "Pending"
	})
	if _, err := r.rt.LaneCommand("shop", "gray", plan.Abort); err != nil {
		t.Fatal(err)
	}
	aborted := waitLane(t, r.rt, "not published", func(s adminapi.LaneStatus) bool {
		return len(s.CanaryConfig) == 1 && s.CanaryConfig[0].State != "Pending"
	})
	if aborted.CanaryConfig[0].State != "NotPublished" || aborted.Phase != lane.Aborted {
		t.Fatalf("after aborting the lane: %s, %+v", aborted.Phase, aborted.CanaryConfig)
	}
	if got := nacosContent(t, nc); got != published {
		t.Errorf("Nacos after the abort: %q, want %q", got, published)
	}
}

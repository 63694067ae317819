package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/embedded"
	routecmd "github.com/graylane/graylane/internal/route/command"
	"github.com/graylane/graylane/internal/sample"
	simulatecmd "github.com/graylane/graylane/internal/simulate/command"
)

// TestMain lets this test binary stand in for graylane where `graylane up`
// runs it for the built-in sample (os.Executable): the sample, the shared
// sample host and the process supervisor.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "sample", sample.HostCommand, embedded.SuperviseCommand:
			main()
		}
	}
	os.Exit(m.Run())
}

// stepManifest is seed 001's shape (one Service, stable/canary subsets,
// a weighted route Argo Rollouts owns) with a setHeaderRoute step and
// steps at 25% and 100%.
func stepManifest(version string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: order}
spec: {selector: {app: order}, ports: [{name: http, port: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec: {servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: order}
spec:
  host: order
  subsets: [{name: stable, labels: {app: order}}, {name: canary, labels: {app: order}}]
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
      trafficRouting:
        managedRoutes: [{name: qa}]
        istio:
          virtualService: {name: order, routes: [primary]}
          destinationRule: {name: order, canarySubsetName: canary, stableSubsetName: stable}
      steps:
      - setWeight: 25
      - setHeaderRoute: {name: qa, match: [{headerName: x-canary, headerValue: {exact: "true"}}]}
      - pause: {}
      - setWeight: 100
      - pause: {}
`, version)
}

// TestRolloutStepAgreesWithUp drives a Rollout of a real `graylane up` to
// steps 2, 4 and 5 (fully promoted) by promoting it, sends real requests
// through its gateway at each step, and compares the split and the header
// routing measured with what `graylane route` and `graylane simulate
// --rollout-step order=N` answer for the same manifests.
func TestRolloutStepAgreesWithUp(t *testing.T) {
	t.Setenv("GRAYLANE_ADMIN", "")
	dir := t.TempDir()
	file := filepath.Join(dir, "order.yaml")
	write := func(version string) {
		if err := os.WriteFile(file, []byte(stepManifest(version)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("v1")
	gateway, admin := startUpAddrs(t, "-f", file)
	cli := func(args ...string) string {
		t.Helper()
		var stdout, stderr strings.Builder
		if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
			t.Fatalf("graylane %s: exit %d: %s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	status := func() embedded.RolloutStatus {
		var rs embedded.RolloutStatus
		if err := json.Unmarshal([]byte(cli("rollout", "get", "order", "--local", "--admin", admin, "-o", "json")), &rs); err != nil {
			t.Fatal(err)
		}
		return rs
	}
	// waitStep waits until the Rollout stands at step with every replica
	// of the step ready; the deadline bounds a hang, not a slow machine.
	waitStep := func(step int, ok func(embedded.RolloutStatus) bool) embedded.RolloutStatus {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			rs := status()
			if rs.Step == step && ok(rs) && rs.Stable.Ready == rs.Stable.Desired && rs.Canary.Ready == rs.Canary.Desired {
				return rs
			}
			if time.Now().After(deadline) {
				t.Fatalf("rollout never at step %d: %+v", step, rs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	first := waitStep(5, func(rs embedded.RolloutStatus) bool { return rs.Phase == "Healthy" })
	write("v2")
	cli("apply", "-f", file, "--local", "--admin", admin)

	for _, step := range []int{2, 4, 5} {
		var rs embedded.RolloutStatus
		if step < 5 {
			rs = waitStep(step, func(rs embedded.RolloutStatus) bool { return rs.Phase == "Paused" })
		} else {
			rs = waitStep(step, func(rs embedded.RolloutStatus) bool {
				return rs.Phase == "Healthy" && rs.StableHash != first.StableHash
			})
		}
		t.Run(fmt.Sprint("step ", step), func(t *testing.T) {
			flag := fmt.Sprintf("order=%d", step)
			// route: the weights and subset labels Argo has set.
			var rep routecmd.RouteReport
			if err := json.Unmarshal([]byte(cli("route", "-f", file, "--url", "http://shop.example.com/", "--gateway", "gw", "--rollout-step", flag, "-o", "json")), &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.RolloutSteps) != 1 || rep.RolloutSteps[0].CanaryHash != rs.CanaryHash || rep.RolloutSteps[0].CanaryWeight != rs.CanaryWeight {
				t.Fatalf("route --rollout-step %s says %+v; graylane up: canary %s at weight %d", flag, rep.RolloutSteps, rs.CanaryHash, rs.CanaryWeight)
			}
			canaryWeight := int32(0)
			for _, d := range rep.Destinations {
				if d.Labels["rollouts-pod-template-hash"] == rs.CanaryHash {
					canaryWeight += d.Weight
				}
			}
			// Fully promoted, both subsets select the canary.
			wantWeight := rs.CanaryWeight
			if step == 5 {
				wantWeight = 100
			}
			if canaryWeight != wantWeight {
				t.Errorf("route: %d%% to pods of hash %s, want %d: %+v", canaryWeight, rs.CanaryHash, wantWeight, rep.Destinations)
			}

			// simulate: the share of requests each ReplicaSet gets.
			var sim simulatecmd.SimulateReport
			const simulated = 20000
			if err := json.Unmarshal([]byte(cli("simulate", "-f", file, "--url", "http://shop.example.com/", "--gateway", "gw", "--calls", "",
				"--requests", fmt.Sprint(simulated), "--rollout-step", flag, "-o", "json")), &sim); err != nil {
				t.Fatal(err)
			}
			simCanary := 0.0
			for _, p := range sim.Paths {
				if p.Hops.Workload == "order-"+rs.CanaryHash {
					simCanary += p.Fraction
				}
			}

			// graylane up: real requests through its gateway.
			const sent = 2000
			v2 := countV2(t, gateway, sent)
			measured := float64(v2) / sent
			// Binomial: |measured - p| stays under 8 standard deviations
			// (p = 25%: 0.078) but for a chance below 1e-14; 0% and 100%
			// are exact.
			for _, c := range []struct {
				what string
				p    float64
			}{{"route", float64(wantWeight) / 100}, {"simulate", simCanary}} {
				if d := measured - c.p; d > 0.08 || d < -0.08 || (c.p == 1) != (v2 == sent) {
					t.Errorf("step %d: %s says %.3f to the canary, graylane up sent %d of %d (%.3f)", step, c.what, c.p, v2, sent, measured)
				}
			}

			// The header route: route's answer and real requests agree.
			var hdr routecmd.RouteReport
			if err := json.Unmarshal([]byte(cli("route", "-f", file, "--url", "http://shop.example.com/", "--gateway", "gw", "-H", "x-canary: true", "--rollout-step", flag, "-o", "json")), &hdr); err != nil {
				t.Fatal(err)
			}
			routeAll := len(hdr.Destinations) == 1 && hdr.Destinations[0].Labels["rollouts-pod-template-hash"] == rs.CanaryHash && hdr.RouteName == "qa"
			if wantHeader := step < 5; routeAll != wantHeader || (len(rs.HeaderRoutes) == 1) != wantHeader {
				t.Errorf("step %d: route with x-canary: true goes to %q %+v; graylane up header routes %v", step, hdr.RouteName, hdr.Destinations, rs.HeaderRoutes)
			}
			if routeAll {
				if got := countV2(t, gateway, 200, "x-canary", "true"); got != 200 {
					t.Errorf("step %d: route sends x-canary: true to the canary, graylane up sent %d of 200 there", step, got)
				}
			}
		})
		if step < 5 {
			cli("rollout", "promote", "order", "--local", "--admin", admin)
		}
	}
}

// countV2 sends n requests through the gateway and counts the answers of
// version v2.
func countV2(t *testing.T, gateway string, n int, headers ...string) int {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	v2 := 0
	for range n {
		req, _ := http.NewRequest(http.MethodGet, "http://"+gateway+"/", nil)
		req.Host = "shop.example.com"
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET through the gateway: %d %s %v", resp.StatusCode, body, err)
		}
		if strings.Contains(string(body), "(v2)") {
			v2++
		}
	}
	return v2
}

// startUpAddrs runs `graylane up ARGS` in this process until the test ends
// and returns the gateway and admin addresses it prints.
func startUpAddrs(t *testing.T, args ...string) (gateway, admin string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"up", "--gateway-port", "0", "--admin", "127.0.0.1:0", "--client-proxy", ""}, args...), pw, &stderr)
		pw.Close()
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("graylane up exited %d: %s", code, stderr.String())
		}
	})
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		var gw string
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "gateway: http://"); ok {
				gw = a
			}
			if a, ok := strings.CutPrefix(sc.Text(), "admin: http://"); ok {
				addrs <- [2]string{gw, a}
			}
		}
		close(addrs)
	}()
	select {
	case a, ok := <-addrs:
		if !ok || a[0] == "" {
			t.Fatalf("graylane up stopped before it was ready or printed no gateway: %s", stderr.String())
		}
		return a[0], a[1]
	case <-time.After(2 * time.Minute):
		t.Fatalf("graylane up not ready: %s", stderr.String())
	}
	return "", ""
}

// TestRolloutStepBadInput: a bad --rollout-step is bad input (exit 2)
// with a located error.
func TestRolloutStepBadInput(t *testing.T) {
	base := []string{"-f", "../../examples/seed001/", "--url", "http://shop.example.com/", "--gateway", "shop-gateway"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"route", "--rollout-step", "order"}, `graylane: --rollout-step "order": want [NAMESPACE/]NAME=INDEX, e.g. shop/order=2`},
		{[]string{"route", "--rollout-step", "payment=1"}, `graylane: --rollout-step "payment=1": no Rollout payment in the manifests (Rollouts: default/order)`},
		{[]string{"route", "--rollout-step", "order=8"}, `graylane: ../../examples/seed001/order.yaml:106: spec.strategy.canary.steps: --rollout-step "order=8": step index 8 is out of range: the Rollout has 7 steps, so currentStepIndex is 0..7 (7: every step done)`},
		{[]string{"simulate", "--calls", "", "--rollout-step", "order=-1"}, `graylane: --rollout-step "order=-1": step index "-1" is not a number 0 or more (status.currentStepIndex)`},
		{[]string{"simulate", "--calls", "", "--rollout-step", "order=1", "--rollout-step", "default/order=2"}, `graylane: --rollout-step "default/order=2": rollout default/order already set at a step by "order=1"`},
	}
	for _, tc := range tests {
		var stdout, stderr strings.Builder
		args := append(append([]string{}, tc.args[0]), append(base, tc.args[1:]...)...)
		code := run(context.Background(), args, &stdout, &stderr)
		if code != 2 || strings.TrimSpace(stderr.String()) != tc.want || stdout.Len() != 0 {
			t.Errorf("graylane %s: exit %d, want 2\n got %s\nwant %s", strings.Join(args, " "), code, strings.TrimSpace(stderr.String()), tc.want)
		}
	}
}

package embedded

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/adminapi"
)

// resumeManifests: a Rollout with a pause until promoted, a one-hour
// pause and an analysis of three measurements two seconds apart (on the
// embedded Prometheus), with Istio traffic routing.
const resumeManifests = `apiVersion: v1
kind: Service
metadata: {name: order, namespace: res}
spec: {selector: {app: order}, ports: [{port: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: order, namespace: res}
spec:
  hosts: [order]
  http:
  - name: primary
    route:
    - {destination: {host: order, subset: stable}, weight: 100}
    - {destination: {host: order, subset: canary}, weight: 0}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: order, namespace: res}
spec:
  host: order
  subsets: [{name: stable, labels: {app: order}}, {name: canary, labels: {app: order}}]
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: three, namespace: res}
spec:
  metrics:
  - name: one
    interval: 2s
    count: 3
    successCondition: result[0] == 1
    provider: {prometheus: {query: vector(1)}}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order, namespace: res}
spec:
  replicas: 1
  selector: {matchLabels: {app: order}}
  template:
    metadata: {labels: {app: order}}
    spec: {containers: [{name: order, image: graylane/sample:1.0}]}
  strategy:
    canary:
      trafficRouting:
        istio:
          virtualService: {name: order, routes: [primary]}
          destinationRule: {name: order, canarySubsetName: canary, stableSubsetName: stable}
      steps:
      - setWeight: 20
      - pause: {}
      - setWeight: 50
      - pause: {duration: 1h}
      - analysis: {templates: [{templateName: three}]}
      - setWeight: 80
`

// upProcess is `graylane up` run as a process of its own.
type upProcess struct {
	cmd    *exec.Cmd
	admin  string
	stderr *syncBuffer
	done   chan struct{}
}

// runUp runs graylane up on the manifests with a state folder and
// waits for its admin address.
func runUp(t *testing.T, manifests, stateDir string) *upProcess {
	t.Helper()
	cmd := exec.Command(graylaneBin, "up", "-f", manifests, "--state-dir", stateDir, "--admin", "127.0.0.1:0",
		"--gateway-port", "0", "--client-proxy", "", "-o", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	u := &upProcess{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = u.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(u.done) }()
	t.Cleanup(func() { u.kill(t) })
	admin := make(chan string, 1)
	go func() {
		var addr struct{ Admin string }
		_ = json.NewDecoder(stdout).Decode(&addr)
		admin <- addr.Admin
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case u.admin = <-admin:
		if u.admin == "" {
			t.Fatalf("graylane up printed no admin address; stderr:\n%s", u.stderr.tail(4000))
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("graylane up did not print its addresses; stderr:\n%s", u.stderr.tail(4000))
	}
	return u
}

// kill ends the process with SIGKILL and waits for it.
func (u *upProcess) kill(t *testing.T) {
	t.Helper()
	_ = u.cmd.Process.Signal(syscall.SIGKILL)
	<-u.done
}

// order is the Rollout's status as the admin API shows it.
func (u *upProcess) order(t *testing.T) adminapi.RolloutStatus {
	t.Helper()
	resp, err := http.Get(u.admin + "/v1/rollouts")
	if err != nil {
		t.Fatalf("GET /v1/rollouts: %v; stderr:\n%s", err, u.stderr.tail(4000))
	}
	defer resp.Body.Close()
	var all []adminapi.RolloutStatus
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		t.Fatal(err)
	}
	for _, ro := range all {
		if ro.Name == "order" {
			return ro
		}
	}
	t.Fatalf("no Rollout order in %+v", all)
	return adminapi.RolloutStatus{}
}

// post sends an admin command and fails the test unless it is accepted.
func (u *upProcess) post(t *testing.T, path string) {
	t.Helper()
	resp, err := http.Post(u.admin+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
}

// await polls the Rollout until cond holds (a minute at most: a bound
// for a broken runtime, not a speed expectation).
func (u *upProcess) await(t *testing.T, what string, cond func(adminapi.RolloutStatus) bool) adminapi.RolloutStatus {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ro := u.order(t)
		if cond(ro) {
			return ro
		}
		if ro.Phase == "Degraded" || time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %+v; stderr:\n%s", what, ro, u.stderr.tail(4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestResumeAfterKill (issue #15 item 11): graylane up with --state-dir,
// killed with SIGKILL three times during a release, resumes each time
// where it was - the canary started by `rollout set image` (not in the
// files), the step, the end of a timed pause, an analysis with the
// measurements it had taken - and the release completes: no step run
// twice, no analysis skipped.
func TestResumeAfterKill(t *testing.T) {
	dir := t.TempDir()
	files := filepath.Join(dir, "order.yaml")
	if err := os.WriteFile(files, []byte(resumeManifests), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")

	u := runUp(t, files, state)
	u.await(t, "the first version stable", func(ro adminapi.RolloutStatus) bool { return ro.Phase == "Healthy" && ro.Stable.Ready == 1 })
	u.post(t, "/v1/rollouts/res/order/set-image?container=order&image=graylane/sample:2.0")
	at1 := u.await(t, "paused at step 1", func(ro adminapi.RolloutStatus) bool {
		return ro.Step == 1 && ro.Phase == "Paused" && ro.CanaryWeight == 20
	})
	u.kill(t)

	u = runUp(t, files, state)
	if ro := u.order(t); ro.Step != 1 || ro.Phase != "Paused" || ro.StableHash != at1.StableHash || ro.CanaryHash != at1.CanaryHash {
		t.Fatalf("after the first restart: step %d %s, stable %s canary %s; want step 1 Paused, stable %s canary %s",
			ro.Step, ro.Phase, ro.StableHash, ro.CanaryHash, at1.StableHash, at1.CanaryHash)
	}
	u.await(t, "the canary back at 20%", func(ro adminapi.RolloutStatus) bool { return ro.CanaryWeight == 20 })
	u.post(t, "/v1/rollouts/res/order/promote")
	at3 := u.await(t, "the timed pause of step 3", func(ro adminapi.RolloutStatus) bool { return ro.Step == 3 && ro.Phase == "Paused" })
	u.kill(t)

	u = runUp(t, files, state)
	if ro := u.order(t); ro.Step != 3 || ro.Phase != "Paused" || ro.Message != at3.Message {
		t.Fatalf("after the second restart: step %d %s %q; want step 3 Paused %q (the same end)", ro.Step, ro.Phase, ro.Message, at3.Message)
	}
	u.post(t, "/v1/rollouts/res/order/promote")
	u.await(t, "a measurement of the step 4 analysis", func(ro adminapi.RolloutStatus) bool {
		return ro.Step == 4 && len(ro.Analysis) == 1 && len(ro.Analysis[0].Metrics) == 1 && ro.Analysis[0].Metrics[0].Count >= 1
	})
	awaitSaved(t, state, u)
	u.kill(t)
	killed := time.Now()

	u = runUp(t, files, state)
	ro := u.order(t)
	if ro.Step != 4 || len(ro.Analysis) != 1 || len(ro.Analysis[0].Metrics) != 1 {
		t.Fatalf("after the third restart: step %d, analysis %+v; want step 4 with its analysis", ro.Step, ro.Analysis)
	}
	m := ro.Analysis[0].Metrics[0]
	if m.Count < 1 || len(m.Measurements) < 1 || !m.Measurements[0].At.Before(killed) {
		t.Fatalf("after the third restart the analysis starts afresh: %+v", m)
	}
	done := u.await(t, "the release complete", func(ro adminapi.RolloutStatus) bool { return ro.Phase == "Healthy" })
	if done.StableHash != at1.CanaryHash {
		t.Errorf("stable %s after the release, want the canary %s", done.StableHash, at1.CanaryHash)
	}
}

// awaitSaved waits until the state file holds a measurement of the
// Rollout's analysis: the admin API may show a measurement a moment
// before it is written, and a kill in that moment rightly loses it.
func awaitSaved(t *testing.T, stateDir string, u *upProcess) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var s savedState
		if b, err := os.ReadFile(filepath.Join(stateDir, stateFileName)); err == nil && json.Unmarshal(b, &s) == nil {
			if ro := s.Rollouts["Rollout res/order"]; ro != nil && len(ro.Analysis) == 1 && len(ro.Analysis[0].Runs) == 1 {
				var run struct {
					Metrics []struct{ Measurements []json.RawMessage }
				}
				if json.Unmarshal(ro.Analysis[0].Runs[0], &run) == nil && len(run.Metrics) == 1 && len(run.Metrics[0].Measurements) > 0 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the state file holds no measurement; stderr:\n%s", u.stderr.tail(4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

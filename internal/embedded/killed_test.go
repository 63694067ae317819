package embedded

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/adminapi"
)

// killManifests is a Deployment "victim" of the given replicas and image,
// its Service, and a Gateway route to it for host killed.example.com.
func killManifests(replicas int, image, env string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: victim, namespace: kill}
spec: {selector: {app: victim}, ports: [{port: 8080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: victim, namespace: kill}
spec:
  replicas: %d
  selector: {matchLabels: {app: victim}}
  template:
    metadata: {labels: {app: victim, version: v1}}
    spec: {containers: [{name: c, image: %s, env: [%s]}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: kill}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [killed.example.com]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: victim, namespace: kill}
spec:
  hosts: [killed.example.com]
  gateways: [kill/gw]
  http: [{route: [{destination: {host: victim}}]}]
`, replicas, image, env)
}

// loadGen sends GET requests through the gateway from several clients, one
// after the other each, until stopped, and counts every answer.
type loadGen struct {
	mu    sync.Mutex
	codes map[string]int // "200", "503 <body>", "error <err>"
	done  atomic.Int64
	tick  chan struct{} // a request was answered
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startKillLoad(r *running, workers int) *loadGen {
	return startHostLoad(r, workers, "killed.example.com")
}

// startHostLoad is startKillLoad for requests with another Host.
func startHostLoad(r *running, workers int, host string) *loadGen {
	l := &loadGen{codes: map[string]int{}, tick: make(chan struct{}, 1), stop: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			client := &http.Client{Timeout: 30 * time.Second}
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, "http://"+r.gateway+"/", nil)
				req.Host = host
				key := ""
				resp, err := client.Do(req)
				if err != nil {
					key = "error " + err.Error()
				} else {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					body := string(b)
					key = fmt.Sprint(resp.StatusCode)
					if resp.StatusCode != 200 {
						key += " " + strings.TrimSpace(body)
					}
				}
				l.mu.Lock()
				l.codes[key]++
				l.mu.Unlock()
				l.done.Add(1)
				select {
				case l.tick <- struct{}{}:
				default:
				}
			}
		}()
	}
	return l
}

// await waits until n more requests than now were answered.
func (l *loadGen) await(t *testing.T, n int64) {
	t.Helper()
	target := l.done.Load() + n
	timeout := time.After(60 * time.Second)
	for l.done.Load() < target {
		select {
		case <-l.tick:
		case <-timeout:
			t.Fatalf("only %d of %d requests answered in 60 s", l.done.Load(), target)
		}
	}
}

// finish stops the load and returns the answers by kind.
func (l *loadGen) finish() map[string]int {
	close(l.stop)
	l.wg.Wait()
	return l.codes
}

// waitChange waits for cond, checked at every change of a pod or of the
// configuration.
func waitChange(t *testing.T, rt *Runtime, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		next := rt.nextChange()
		if cond() {
			return
		}
		select {
		case <-next:
		case <-timeout:
			t.Fatalf("%s: not after 60 s", what)
		}
	}
}

// victimPod is the first replica of the victim Deployment.
func victimPod(t *testing.T, rt *Runtime) adminapi.PodStatus {
	t.Helper()
	for _, p := range rt.Workloads() {
		if p.Workload == "Deployment kill/victim" {
			return p
		}
	}
	t.Fatal("no victim replica")
	return adminapi.PodStatus{}
}

// retriesSent is envoy_cluster_upstream_rq_retry of the victim's cluster.
func retriesSent(t *testing.T, rt *Runtime) float64 {
	t.Helper()
	mfs, err := rt.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "envoy_cluster_upstream_rq_retry" {
			for _, m := range mf.GetMetric() {
				if labelMap(m)["cluster_name"] == "outbound|8080||victim.kill.svc.cluster.local" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestKilledReplica (issue #15 item 8): kill -9 of one of two replicas
// under continuous load fails no request. Every replica holds requests
// for 100 ms, so requests are in flight on the victim when it dies: they
// are sent again to the other replica (the victim left the pool when its
// process exited), and the retry counter shows it - without the retry
// they would fail. The victim is restarted and serves again.
func TestKilledReplica(t *testing.T) {
	// A process per replica: kill -9 of one is the fault (in the sample
	// host, TestKilledReplicaSampleModes kills a replica through the admin).
	r := startWith(t, func(o *Options) { o.SampleProcesses = SamplesPerReplica }, nil)
	if _, err := r.rt.Apply(mustLoadBytes(t, killManifests(2, "graylane/sample", "{name: latency_ms, value: '100'}"))); err != nil {
		t.Fatal(err)
	}
	waitReady(t, r.rt)
	r.gateway = r.rt.gatewayListener(80).addr
	victim := victimPod(t, r.rt)
	l := startKillLoad(r, 8)
	l.await(t, 40)
	if err := syscall.Kill(int(victim.PID), syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s (pid %d): %v", victim.Name, victim.PID, err)
	}
	waitChange(t, r.rt, "the killed replica restarted and ready", func() bool {
		p := podNamed(r.rt, victim.Name)
		return p.Restarts >= 1 && p.Ready
	})
	l.await(t, 40)
	got := l.finish()
	total := 0
	for k, n := range got {
		total += n
		if k != "200" {
			t.Errorf("%d requests answered %q", n, k)
		}
	}
	t.Logf("%d requests %v, %g retries", total, got, retriesSent(t, r.rt))
	if total < 80 {
		t.Errorf("%d requests, want at least 80", total)
	}
	if n := retriesSent(t, r.rt); n < 1 {
		t.Errorf("%g retries: the requests in flight on the killed replica were not sent again", n)
	}
}

// TestKilledOnlyReplica (issue #15 item 8): kill -9 of a version's only
// replica, an external command that takes a second to start again. While
// it is down the requests still go to it (nothing else can serve), are
// retried, and fail only when their tries are exhausted: every failure is
// a 503 counted as UF,URX, nothing else fails, and the retries are
// counted.
func TestKilledOnlyReplica(t *testing.T) {
	// Only the restarts are slow: the command binds its port itself, and
	// a second between the runtime letting go of the port and the sample
	// binding it at the first start would let another process on the
	// machine take it.
	started := filepath.Join(t.TempDir(), "started")
	r := start(t, nil, fmt.Sprintf("slow-start=if [ -e %[1]s ]; then sleep 1; fi; touch %[1]s; exec %[2]s sample", started, graylaneBin))
	if _, err := r.rt.Apply(mustLoadBytes(t, killManifests(1, "slow-start", ""))); err != nil {
		t.Fatal(err)
	}
	waitReady(t, r.rt)
	r.gateway = r.rt.gatewayListener(80).addr
	victim := victimPod(t, r.rt)
	l := startKillLoad(r, 4)
	l.await(t, 20)
	if err := syscall.Kill(int(victim.PID), syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s (pid %d): %v", victim.Name, victim.PID, err)
	}
	waitChange(t, r.rt, "the killed replica restarted and ready", func() bool {
		p := podNamed(r.rt, victim.Name)
		return p.Restarts >= 1 && p.Ready
	})
	l.await(t, 20)
	got := l.finish()
	failed := 0
	for k, n := range got {
		switch {
		case k == "200":
		case strings.HasPrefix(k, "503 upstream connect error or disconnect/reset before headers. retried and the latest reset reason: connection failure"):
			failed += n
		default:
			t.Errorf("%d requests answered %q", n, k)
		}
	}
	t.Logf("answers %v, %g retries", got, retriesSent(t, r.rt))
	if failed == 0 {
		t.Errorf("no request failed during a second without a replica: %v", got)
	}
	var flagged int
	var other []string
	for _, s := range requestSeries(t, r.rt.metrics) {
		f := strings.Fields(s)
		if f[0] != "source" || f[4] != "victim" {
			continue
		}
		switch code, flags := f[2], f[3]; {
		case code == "503" && flags == "UF,URX":
			fmt.Sscan(f[len(f)-1], &flagged)
		case code != "200":
			other = append(other, s)
		}
	}
	if flagged != failed || len(other) > 0 {
		t.Errorf("metrics count %d 503 UF,URX (and %v), the clients got %d failures", flagged, other, failed)
	}
	if n := retriesSent(t, r.rt); n < float64(2*failed) {
		t.Errorf("%g retries, want at least 2 per failed request (%d)", n, failed)
	}
}

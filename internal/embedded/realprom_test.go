package embedded

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/plan"
)

// prometheusBinary finds the Prometheus server: on PATH, else the Debian
// package's /usr/bin/prometheus. Without it the test is skipped, or fails
// under CI=true (the CI image must have it: make deps).
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/prometheus"); err == nil {
		return "/usr/bin/prometheus"
	}
	const how = "no prometheus binary on PATH or at /usr/bin/prometheus; install it with `make deps` " +
		"(hack/install-deps.sh, Debian package prometheus)"
	if os.Getenv("CI") == "true" {
		t.Fatal(how)
	}
	t.Skip(how)
	return ""
}

// syncBuffer collects a process's output for the failure message.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	if len(out) > n {
		out = "..." + out[len(out)-n:]
	}
	return out
}

// startPrometheus runs a real Prometheus server on a free loopback port,
// scraping target's /metrics every second, with its TSDB in a temporary
// folder. It is stopped (SIGTERM, then waited for) when the test ends and
// its output is logged if the test failed. Returns its base URL.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin := prometheusBinary(t)
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1m
scrape_configs:
- job_name: graylane
  metrics_path: /metrics
  static_configs:
  - targets: [%q]
`, target)
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	// A free port, bound by the server itself: another process may take it
	// between our Close and Prometheus' bind, so an "address already in use"
	// start is retried on another port (with a TSDB of its own: the failed
	// server may not have let go of its lock yet).
	for attempt := 1; ; attempt++ {
		base, out, err := launchPrometheus(t, bin, dir, cfg, filepath.Join(dir, fmt.Sprintf("data-%d", attempt)))
		if err == nil {
			return base
		}
		if attempt < 5 && strings.Contains(out, "address already in use") {
			continue
		}
		t.Fatalf("prometheus: %v\n%s", err, out)
	}
}

// launchPrometheus starts one server on a free loopback port and waits until
// it is ready. The process is stopped (SIGTERM, waited for) when the test
// ends; the returned error and output say why it did not become ready.
func launchPrometheus(t *testing.T, bin, dir, cfg, data string) (base, output string, err error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	out := &syncBuffer{}
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+data,
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	// If the test binary dies, the server goes with it.
	cmd.SysProcAttr = dieWithTest()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Registered after t.TempDir, so it runs before the folder is removed.
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("prometheus did not stop within 10s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.tail(4000))
		}
	})

	base = "http://" + addr
	deadline := time.Now().Add(2 * time.Minute) // a bound for a server that never starts
	for {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			return "", out.tail(4000), fmt.Errorf("exited before ready: %v", err)
		default:
		}
		resp, err := plain.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				// Another server may have taken the port between our
				// Close and this one's bind: ready must be ours.
				if path := tsdbPath(base); path != data {
					return "", fmt.Sprintf("address already in use: %s answers with TSDB %q, not ours", addr, path), errors.New("another server on the port")
				}
				return base, "", nil
			}
		}
		if time.Now().After(deadline) {
			return "", out.tail(4000), fmt.Errorf("not ready after 2m (last error %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tsdbPath asks a Prometheus server for its --storage.tsdb.path ("" when
// it does not say).
func tsdbPath(base string) string {
	resp, err := plain.Get(base + "/api/v1/status/flags")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var flags struct {
		Data map[string]string `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&flags) != nil {
		return ""
	}
	return flags.Data["storage.tsdb.path"]
}

// promSeries runs an instant query on a Prometheus server and returns the
// vector's label sets.
func promSeries(t *testing.T, base, query string) []map[string]string {
	t.Helper()
	resp, err := plain.PostForm(base+"/api/v1/query", url.Values{"query": {query}})
	if err != nil {
		t.Fatalf("query %s: %v", query, err)
	}
	defer resp.Body.Close()
	var pr struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil || pr.Status != "success" {
		t.Fatalf("query %s: %d %v %s", query, resp.StatusCode, err, pr.Error)
	}
	out := make([]map[string]string, 0, len(pr.Data.Result))
	for _, r := range pr.Data.Result {
		out = append(out, r.Metric)
	}
	return out
}

// The same canary as TestPrometheusAnalysisAborts, but the AnalysisTemplate
// queries a real Prometheus server (the Debian package) that scrapes the
// runtime's admin /metrics, as on a cluster: the canary answering 500 to
// half its requests is aborted with the metric's message, decided on a
// success rate the server measured.
func TestRealPrometheusAnalysisAborts(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	prometheusBinary(t) // skip (or fail) before starting anything
	r := start(t, nil)
	admin := r.rt.Addr()
	prom := startPrometheus(t, admin)

	// The server adds job and instance labels; the query selects the job,
	// so it only matches what this server scraped. initialDelay leaves time
	// for the canary's replica and two scrapes; the analysis measures until
	// the release ends, so scrapes that come late only make it take longer.
	doc := func(version, errorRate string) string {
		return successRateRollout(version, errorRate, successRateAnalysis{InitialDelay: "4s", Address: prom, Selector: `job="graylane",`})
	}

	if _, err := r.rt.Apply(mustLoadBytes(t, doc("v1", "0"))); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, r.rt, "healthy", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Healthy && s.Stable.Ready == 2 })
	defer sendTraffic(r, "pay:8080")()

	// The server scrapes the runtime: the stable's traffic is there, with
	// the job and instance labels a scrape adds. (It scrapes every second;
	// the deadline only bounds a server that never does.)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := promSeries(t, prom, `istio_requests_total{job="graylane",reporter="source",destination_service="pay.default.svc.cluster.local"}`)
		if len(got) > 0 {
			if got[0]["instance"] != admin {
				t.Fatalf("instance label %q, want the admin address %q: %v", got[0]["instance"], admin, got[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus never scraped istio_requests_total from %s; targets: %v", admin,
				promSeries(t, prom, `up`))
		}
		time.Sleep(200 * time.Millisecond)
	}

	if _, err := r.rt.Apply(mustLoadBytes(t, doc("v2", "0.5"))); err != nil {
		t.Fatal(err)
	}
	aborted := waitRolloutProgress(t, r.rt, "aborted by the success rate", func(s adminapi.RolloutStatus) bool { return s.Phase == plan.Degraded })
	if !strings.Contains(aborted.Message, `metric "success-rate" assessed Failed`) || aborted.CanaryWeight != 0 {
		t.Fatalf("aborted: message %q, canary weight %d", aborted.Message, aborted.CanaryWeight)
	}
	if rate := failedSuccessRate(t, aborted.Analysis); rate >= 0.95 {
		t.Errorf("the failed measurement's success rate is %v, want one below 0.95", rate)
	}
	t.Logf("aborted: %s", aborted.Message)
	waitRollout(t, r.rt, "canary scaled down", func(s adminapi.RolloutStatus) bool { return s.Canary.Ready == 0 })
	got := count(t, 100, func() (int, string) { return r.get(t, true, "pay:8080") })
	if got["200 pay(v1)"] != 100 {
		t.Errorf("after the abort: %v", got)
	}
}

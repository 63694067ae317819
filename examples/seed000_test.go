package examples

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/embedded"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/springprops"
	"github.com/graylane/graylane/internal/testbin"
)

// graylaneBin is the graylane binary the runtime starts the sample with.
var graylaneBin string

func TestMain(m *testing.M) { testbin.Main(m, &graylaneBin) }

// waitLimit bounds a condition wait: a failure bound for a hung runtime,
// not a speed target (CI is a loaded 2-core machine under -race).
const waitLimit = 3 * time.Minute

// seed000 is examples/seed000 running in an embedded runtime with its
// local Nacos, at the canary step of both Rollouts.
type seed000 struct {
	admin                *adminapi.Client
	adminAddr, nacosAddr string
	gateway              string
	nacos                *nacosclient.Client
}

// TestSeed000NacosBypass tells seed 000's story end to end, with no
// cluster: Spring Cloud apps that find their peers in Nacos call pod IPs,
// so with the canary header a request that reached order v2 goes on to
// payment v1 (mixed chains), and the mesh counts those calls as
// PassthroughCluster. Once every client is pointed at its Kubernetes
// Service (the configuration `graylane nacos fix` publishes, read by the
// apps without a restart), the canary header keeps the whole chain on the
// canary and nothing goes through PassthroughCluster any more.
//
// It runs with the apps in the sample host (one process) and each in a
// `graylane sample` process of its own.
func TestSeed000NacosBypass(t *testing.T) {
	for _, mode := range []string{embedded.SamplesShared, embedded.SamplesPerReplica} {
		t.Run(mode, func(t *testing.T) { testSeed000NacosBypass(t, mode) })
	}
}

func testSeed000NacosBypass(t *testing.T, mode string) {
	s := startSeed000(t, mode)
	const n = 100

	// The bypass: mixed chains, every hop by pod IP.
	// Waited for until the callers' instance lists (read every second)
	// hold the canaries: the seed's own example of a mixed chain.
	s.waitAnswer(t, "order v2 calling payment v1", func(a string, _ int) bool {
		return strings.Contains(a, "order(v2) -> payment(v1)")
	})
	before := s.passthrough(t)
	answers := s.send(t, n)
	if got := s.passthrough(t) - before; got != 2*n {
		t.Errorf("PassthroughCluster requests = %d for %d requests, want %d (user -> order and order -> payment, each by pod IP)", got, n, 2*n)
	}
	if answers["mixed"] == 0 || answers["order(v1)"] == 0 {
		t.Errorf("answers %v: want mixed chains and requests that the header did not keep on the canary", answers)
	}
	t.Logf("before the fix, %d requests with x-canary: true: %v", n, answers)

	// The fix: graylane nacos fix publishes it where the apps import their
	// configuration from.
	published := time.Now()
	s.fix(t)
	// Applied once a request takes the canary chain without a passthrough
	// call: the user replica and order's canary both refreshed (the
	// header then reaches no other replica).
	s.waitAnswer(t, "a request on the canary chain by Services only", func(a string, passthrough int) bool {
		return a == "user(v1) -> order(v2) -> payment(v2)" && passthrough == 0
	})
	t.Logf("the fix applied %v after it was published", time.Since(published).Round(time.Millisecond))
	before = s.passthrough(t)
	answers = s.send(t, n)
	t.Logf("after the fix: %v", answers)
	if got := s.passthrough(t) - before; got != 0 {
		t.Errorf("PassthroughCluster requests after the fix = %d, want 0", got)
	}
	if answers["user(v1) -> order(v2) -> payment(v2)"] != n {
		t.Errorf("answers after the fix %v, want every one of %d on the canary chain", answers, n)
	}
}

// fix runs `graylane nacos fix --local` on the runtime and its Nacos, and
// checks what it published: every client of order-service and
// payment-service pointed at its Service.
func (s *seed000) fix(t *testing.T) {
	t.Helper()
	cmd := exec.Command(graylaneBin, "nacos", "fix", "--local", "--admin", s.adminAddr, "--server", "http://"+s.nacosAddr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("graylane nacos fix --local: %v\n%s", err, out)
	}
	c, err := s.nacos.GetConfig(context.Background(), "graylane-mesh.yaml", "DEFAULT_GROUP")
	if err != nil {
		t.Fatal(err)
	}
	props, err := springprops.Parse([]byte(c.Content), springprops.YAML)
	if err != nil {
		t.Fatal(err)
	}
	for svc, url := range map[string]string{"order-service": "http://gray-order-service.shop.svc.cluster.local:8082",
		"payment-service": "http://gray-payment-service.shop.svc.cluster.local:8083"} {
		if got := props["spring.cloud.openfeign.client.config."+svc+".url"]; got != url {
			t.Errorf("nacos fix published %s's url %q, want %q; output:\n%s", svc, got, url, out)
		}
	}
}

// startSeed000 runs an embedded runtime with a local Nacos, applies the
// example's manifests (graylane apply --local -f examples/seed000/) with
// the Nacos address the runtime got, and starts the canary of both
// Rollouts (graylane rollout set image ... --local).
func startSeed000(t *testing.T, sampleProcesses string) *seed000 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	serving := make(chan adminapi.Addresses, 1)
	rt, err := embedded.New(embedded.Options{GatewayAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ClientAddr: "127.0.0.1:0",
		Executable: graylaneBin, WatchInterval: -1, Nacos: "127.0.0.1:0", SampleProcesses: sampleProcesses,
		Serving: func(a adminapi.Addresses) { serving <- a }}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- rt.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	var a adminapi.Addresses
	select {
	case a = <-serving:
	case err := <-errc:
		t.Fatalf("runtime stopped: %v", err)
	}
	s := &seed000{admin: adminapi.New(a.Admin), adminAddr: a.Admin, nacosAddr: a.Nacos}
	if s.nacos, err = nacosclient.New(ctx, nacosclient.Options{Server: "http://" + a.Nacos, Protocol: nacosclient.ProtocolHTTP}); err != nil {
		t.Fatal(err)
	}
	s.apply(t, a.Nacos)
	if a, err = s.admin.Addresses(ctx); err != nil || a.Gateway == "" {
		t.Fatalf("addresses after apply: %+v, %v; want the gateway's", a, err)
	}
	s.gateway = a.Gateway
	for _, svc := range []string{"order-service", "payment-service"} {
		if _, err := s.admin.SetImage(ctx, "shop", "gray-"+svc, svc, "graylane/sample:v2"); err != nil {
			t.Fatal(err)
		}
	}
	s.waitCanary(t)
	return s
}

// apply applies the example's manifest files, as `graylane apply --local
// -f examples/seed000/` does: the folder's Spring Boot configuration
// (application.yaml, the seed's Feign shape) is not among them.
func (s *seed000) apply(t *testing.T, nacosAddr string) {
	t.Helper()
	files, err := manifest.Files("seed000")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Base(f) == "application.yaml" {
			t.Fatalf("the manifest files include %s", f)
		}
	}
	if !manifest.SpringConfig(filepath.Join("seed000", "application.yaml")) {
		t.Fatal("seed000/application.yaml is not taken for Spring Boot configuration")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The manifests name graylane up's default Nacos address.
		b = []byte(strings.ReplaceAll(string(b), "127.0.0.1:8848", nacosAddr))
		if _, err := s.admin.Apply(context.Background(), f, b); err != nil {
			t.Fatalf("apply %s: %v", f, err)
		}
	}
}

// waitCanary waits until both Rollouts pause at their canary step with
// the canary replica ready, and Nacos lists the three instances of each.
func (s *seed000) waitCanary(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, "both canaries at step 1 and registered", func() (bool, string) {
		ros, err := s.admin.Rollouts(ctx)
		if err != nil {
			return false, err.Error()
		}
		paused := 0
		for _, ro := range ros {
			if ro.Step == 1 && ro.Canary.Ready == 1 && ro.Stable.Ready == 2 {
				paused++
			}
		}
		if paused != 2 {
			return false, fmt.Sprintf("rollouts %+v", ros)
		}
		for svc, want := range map[string]int{"user-service": 1, "order-service": 3, "payment-service": 3} {
			ins, err := s.nacos.Instances(ctx, svc, "")
			if err != nil {
				return false, err.Error()
			}
			healthy := 0
			for _, in := range ins {
				if in.Healthy && in.Enabled {
					healthy++
				}
			}
			if healthy != want {
				return false, fmt.Sprintf("%s instances %+v, want %d", svc, ins, want)
			}
		}
		return true, ""
	})
}

// get sends one request with the canary header to the gateway.
func (s *seed000) get(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.gateway+"/", nil)
	req.Header.Set("x-canary", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("answer %d %s", resp.StatusCode, b)
	}
	return strings.TrimSpace(string(b))
}

// send sends n requests and counts the answers: each answer, "mixed" for
// chains where order and payment differ, "order(v1)" for those the header
// did not keep on order's canary.
func (s *seed000) send(t *testing.T, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		a := s.get(t)
		got[a]++
		if mixed(a) {
			got["mixed"]++
		}
		if strings.Contains(a, "order(v1)") {
			got["order(v1)"]++
		}
	}
	return got
}

// mixed: order and payment answered in different versions.
func mixed(a string) bool {
	return strings.Contains(a, "order(v2) -> payment(v1)") || strings.Contains(a, "order(v1) -> payment(v2)")
}

// waitAnswer sends requests until one answer, with the number of
// PassthroughCluster requests it made, satisfies ok.
func (s *seed000) waitAnswer(t *testing.T, what string, ok func(answer string, passthrough int) bool) {
	t.Helper()
	waitFor(t, what, func() (bool, string) {
		before := s.passthrough(t)
		a := s.get(t)
		n := s.passthrough(t) - before
		return ok(a, n), fmt.Sprintf("%s (%d PassthroughCluster requests)", a, n)
	})
}

// passthrough sums istio_requests_total{reporter="source",
// destination_service_name="PassthroughCluster"} of the runtime's metrics.
func (s *seed000) passthrough(t *testing.T) int {
	t.Helper()
	text, err := s.admin.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "istio_requests_total{") || !strings.Contains(line, `reporter="source"`) ||
			!strings.Contains(line, `destination_service_name="PassthroughCluster"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		total += int(v)
	}
	return total
}

func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

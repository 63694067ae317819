package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
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
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
	"github.com/graylane/graylane/internal/testbin"
)

// graylaneBin is the graylane binary the runtime starts for builtin:sample.
var graylaneBin string

func TestMain(m *testing.M) { testbin.Main(m, &graylaneBin) }

type running struct {
	rt              *Runtime
	gateway, client string
	errc            chan error
	cancel          context.CancelFunc
}

// start runs a runtime on free ports and waits until it is ready.
func start(t *testing.T, files []string, images ...string) *running {
	t.Helper()
	return startWith(t, nil, files, images...)
}

// startWith is start with options edited first.
func startWith(t testing.TB, edit func(*Options), files []string, images ...string) *running {
	t.Helper()
	opts := Options{Files: files, Images: images, GatewayAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		ClientAddr: "127.0.0.1:0", Executable: graylaneBin, WatchInterval: -1}
	if edit != nil {
		edit(&opts)
	}
	rt, err := New(opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{rt: rt, errc: make(chan error, 1), cancel: cancel}
	ready := make(chan struct{})
	go func() {
		r.errc <- rt.Run(ctx, func(gw, _, client string) { r.gateway, r.client = gw, client; close(ready) })
	}()
	select {
	case <-ready:
	case err := <-r.errc:
		cancel()
		t.Fatalf("runtime stopped before ready: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("not ready after 60s: %v", rt.NotReady())
	}
	t.Cleanup(func() {
		cancel()
		if err := <-r.errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

var plain = &http.Client{Timeout: 10 * time.Second}

// get sends a request through a listener; host sets the Host header (for
// the gateway) or is the target service (for the client proxy).
func (r *running) get(t *testing.T, viaProxy bool, host string, headers ...string) (int, string) {
	t.Helper()
	code, body, err := r.try(viaProxy, host, headers...)
	if err != nil {
		t.Fatalf("GET %s: %v", host, err)
	}
	return code, body
}

func (r *running) try(viaProxy bool, host string, headers ...string) (int, string, error) {
	client, target := plain, "http://"+r.gateway+"/"
	if viaProxy {
		proxy, _ := url.Parse("http://" + r.client)
		client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
		target = "http://" + host + "/"
	}
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	if !viaProxy {
		req.Host = host
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}

func count(t *testing.T, n int, send func() (int, string)) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		code, body := send()
		got[fmt.Sprintf("%d %s", code, body)]++
	}
	return got
}

// Seed 004 runs unchanged: gateway traffic splits appa ~10/90 and appb
// always follows appa's version; mesh traffic goes to v1 only; the header
// variant applied live sends version: v2 to v2.
func TestSeed004(t *testing.T) {
	r := start(t, []string{"../../examples/seed004"})
	got := count(t, 2000, func() (int, string) { return r.get(t, false, "192.168.1.106") })
	v1, v2 := got["200 appa(v1) -> appb(v1)"], got["200 appa(v2) -> appb(v2)"]
	if v1+v2 != 2000 {
		t.Fatalf("some requests were mixed or failed: %v", got)
	}
	if v1 < 140 || v1 > 260 {
		t.Errorf("appa v1 got %d of 2000, want about 200 (10%%): %v", v1, got)
	}
	mesh := count(t, 200, func() (int, string) { return r.get(t, true, "appa:8000") })
	if diff := mesh["200 appa(v1) -> appb(v1)"]; diff != 200 {
		t.Errorf("mesh traffic: %v, want all appa(v1) -> appb(v1)", mesh)
	}
	headers, err := os.ReadFile("../../examples/seed004-headers/vs-appa.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := manifest.LoadBytes("vs-appa.yaml", headers)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.rt.Apply(set)
	if err != nil || len(res.Configured) != 1 {
		t.Fatalf("apply: %v %+v", err, res)
	}
	v2only := count(t, 200, func() (int, string) { return r.get(t, false, "192.168.1.106", "version", "v2") })
	if v2only["200 appa(v2) -> appb(v2)"] != 200 {
		t.Errorf("header version: v2: %v", v2only)
	}
}

// Seed 002's cookie rule sends tenantGray=1 users to the gray namespace.
func TestSeed002Cookie(t *testing.T) {
	r := start(t, []string{"../../examples/seed002"}, "registry.example.com/test-a="+BuiltinSample, "registry.example.com/web="+BuiltinSample)
	tests := []struct{ cookie, want string }{
		{"tenantGray=1; rememberMe=; channel=", "200 test-A(gray)"},
		{"tenantGray=0; rememberMe=; channel=", "200 test-A(prod)"},
	}
	for _, tc := range tests {
		code, body := r.get(t, true, "test-A.prod:8080", "Cookie", tc.cookie)
		if got := fmt.Sprintf("%d %s", code, body); got != tc.want {
			t.Errorf("cookie %q: got %q, want %q", tc.cookie, got, tc.want)
		}
	}
}

// A replica killed during load, in both sample modes: requests are retried
// on another replica,
// the replica is restarted. With replicas in the sample host it is killed
// there (POST /v1/workloads/NS/NAME/kill) and the host's other replicas
// serve on; with a process per replica its process gets SIGKILL.
func TestKilledReplicaSampleModes(t *testing.T) {
	for _, mode := range []string{SamplesShared, SamplesPerReplica} {
		t.Run(mode, func(t *testing.T) {
			r := startWith(t, func(o *Options) { o.SampleProcesses = mode }, nil)
			if _, err := r.rt.Apply(mustLoad(t, "../../examples/shop")); err != nil {
				t.Fatal(err)
			}
			waitReady(t, r.rt)
			r.gateway = r.rt.gatewayListener(80).addr
			var victim adminapi.PodStatus
			for _, p := range r.rt.Workloads() {
				if p.Workload == "Deployment shop/order-v1" {
					victim = p
				}
			}
			if got, want := victim.SharedProcess, mode == SamplesShared; got != want {
				t.Errorf("%s: sharedProcess = %v, want %v", victim.Name, got, want)
			}
			// Load before, while and after the replica is down: the kill
			// lands once requests flow, never after they ended.
			l := startHostLoad(r, 4, "shop.example.com")
			l.await(t, 40)
			if mode == SamplesShared {
				resp, err := plain.Post("http://"+r.rt.Addr()+"/v1/workloads/shop/"+victim.Name+"/kill", "", nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("kill %s: %s", victim.Name, resp.Status)
				}
			} else if err := syscall.Kill(int(victim.PID), syscall.SIGKILL); err != nil {
				t.Fatalf("kill %s (pid %d): %v", victim.Name, victim.PID, err)
			}
			waitFor(t, "the killed replica restarted and ready", func() bool {
				p := podNamed(r.rt, victim.Name)
				return p.Restarts >= 1 && p.Ready
			})
			l.await(t, 40)
			for k, n := range l.finish() {
				if k != "200" {
					t.Errorf("%d requests answered %q after a replica was killed", n, k)
				}
			}
			for _, p := range r.rt.Workloads() {
				if p.Name != victim.Name && p.Restarts != 0 {
					t.Errorf("%s restarted %d times; only %s was killed", p.Name, p.Restarts, victim.Name)
				}
			}
		})
	}
}

// A crashing workload is restarted with backoff and reported; /readyz says
// which pod is not ready.
func TestCrashingWorkload(t *testing.T) {
	rt, err := New(Options{GatewayAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Executable: graylaneBin, WatchInterval: -1,
		Images: []string{"crasher=echo boom >&2; exit 3"}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()
	waitListening(t, rt)
	if _, err := rt.Apply(mustLoadBytes(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: crasher}
spec:
  selector: {matchLabels: {app: crasher}}
  template:
    metadata: {labels: {app: crasher}}
    spec: {containers: [{name: c, image: crasher}]}
`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ws := rt.Workloads()
		if len(ws) == 1 && ws[0].Restarts >= 2 {
			if !strings.Contains(ws[0].LastError, "exit status 3") {
				t.Errorf("last error %q does not give the exit status", ws[0].LastError)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no restarts reported: %+v", ws)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get("http://" + rt.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "crasher") {
		t.Errorf("/readyz = %d %q, want 503 naming the crasher", resp.StatusCode, body)
	}
}

func TestInputErrors(t *testing.T) {
	busy, err := New(Options{AdminAddr: "127.0.0.1:0", Executable: graylaneBin}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- busy.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()
	waitListening(t, busy)

	tests := []struct {
		name  string
		opts  Options
		input bool
		want  string
	}{
		{"missing image map", Options{Files: []string{"testdata/unmapped.yaml"}}, true, `no command for image "nginx:1.25"`},
		{"bad manifest", Options{Files: []string{"../../examples/seed004-broken"}}, true, "routing.yaml:115"},
		{"admin port in use", Options{AdminAddr: busy.Addr()}, false, "already in use"},
		{"bad image flag", Options{Images: []string{"nope"}}, true, "want IMAGE=COMMAND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Executable, o.WatchInterval = graylaneBin, -1
			if o.AdminAddr == "" {
				o.AdminAddr = "127.0.0.1:0"
			}
			o.GatewayAddr = "127.0.0.1:0"
			rt, err := New(o, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil {
				err = rt.Run(context.Background(), nil)
			}
			var ie *cli.InputError
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.As(err, &ie) != tc.input {
				t.Errorf("err = %v (input error %v), want one containing %q (input error %v)", err, errors.As(err, &ie), tc.want, tc.input)
			}
		})
	}
}

func mustLoad(t *testing.T, paths ...string) *manifest.Set {
	t.Helper()
	set, err := manifest.Load(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func mustLoadBytes(t *testing.T, doc string) *manifest.Set {
	t.Helper()
	set, err := manifest.LoadBytes("test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func waitReady(t *testing.T, rt *Runtime) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(rt.NotReady()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", rt.NotReady())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitListening(t *testing.T, rt *Runtime) {
	t.Helper()
	select {
	case <-rt.Started():
	case <-time.After(10 * time.Second):
		t.Fatal("admin listener not up")
	}
}

func podNamed(rt *Runtime, name string) adminapi.PodStatus {
	for _, p := range rt.Workloads() {
		if p.Name == name {
			return p
		}
	}
	return adminapi.PodStatus{}
}

// Routing changes applied during load take effect without failing any
// request in flight.
func TestApplyDuringLoad(t *testing.T) {
	r := start(t, []string{"../../examples/seed004"})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := map[string]int{}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := r.try(false, "192.168.1.106")
				if code != 200 || err != nil || (body != "appa(v1) -> appb(v1)" && body != "appa(v2) -> appb(v2)") {
					mu.Lock()
					failures[fmt.Sprintf("%d %s %v", code, body, err)]++
					mu.Unlock()
				}
			}
		}()
	}
	variants := []string{"../../examples/seed004-headers/vs-appa.yaml", "../../examples/seed004/routing.yaml"}
	for i := 0; i < 10; i++ {
		if _, err := r.rt.Apply(mustLoad(t, variants[i%2])); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("requests failed while routing changed: %v", failures)
	}
}

// A file under -f that changes is applied by the watcher.
func TestWatchFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"v1.yaml", "v2.yaml", "routing.yaml", "gateway.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../examples/seed004", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rt, err := New(Options{Files: []string{dir}, GatewayAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Executable: graylaneBin,
		WatchInterval: 20 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	r := &running{rt: rt}
	ready := make(chan struct{})
	go func() { done <- rt.Run(ctx, func(gw, _, _ string) { r.gateway = gw; close(ready) }) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("the runtime did not stop within a minute of its context ending")
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		done <- err // for the deferred stop
		t.Fatalf("runtime stopped before ready: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatalf("not ready after 2m: %v", rt.NotReady())
	}
	b, err := os.ReadFile("../../examples/seed004-headers/vs-appa.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "zz-headers.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Under the old routing, version: v1 still gives v2 nine times in ten:
	// 20 v1 answers in a row mean the change is live. (The watcher looks
	// every 20ms; the deadline bounds a watcher that never does.)
	deadline := time.Now().Add(2 * time.Minute)
	for streak := 0; streak < 20; {
		if _, body := r.get(t, false, "192.168.1.106", "version", "v1"); body == "appa(v1) -> appb(v1)" {
			streak++
		} else {
			streak = 0
		}
		if time.Now().After(deadline) {
			t.Fatal("the changed file was not applied")
		}
	}
	if got := count(t, 50, func() (int, string) { return r.get(t, false, "192.168.1.106", "version", "v1") }); got["200 appa(v1) -> appb(v1)"] != 50 {
		t.Errorf("after the change: %v", got)
	}
}

// The admin /metrics carries Istio's standard metrics for the traffic sent.
func TestMetrics(t *testing.T) {
	r := start(t, []string{"../../examples/seed004"})
	for i := 0; i < 20; i++ {
		r.get(t, true, "appa:8000")
	}
	resp, err := http.Get("http://" + r.rt.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := []string{
		`istio_requests_total{connection_security_policy="unknown",destination_app="appb",destination_service="appb.default.svc.cluster.local",destination_service_name="appb",destination_service_namespace="default",destination_version="v1",destination_workload="appb-v1",destination_workload_namespace="default",reporter="source",request_protocol="http",response_code="200",response_flags="-",source_app="appa",source_version="v1",source_workload="appa-v1",source_workload_namespace="default"} 20`,
		`istio_requests_total{connection_security_policy="unknown",destination_app="appa",destination_service="appa.default.svc.cluster.local",destination_service_name="appa",destination_service_namespace="default",destination_version="v1",destination_workload="appa-v1",destination_workload_namespace="default",reporter="destination",request_protocol="http",response_code="200",response_flags="-",source_app="graylane-client",source_version="unknown",source_workload="graylane-client",source_workload_namespace="default"} 20`,
		`istio_request_duration_milliseconds_bucket{`,
	}
	for _, w := range want {
		if !strings.Contains(string(body), w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
}

// `graylane up` stops cleanly on SIGTERM: no process left, ports released.
func TestCleanStop(t *testing.T) {
	cmd := exec.Command(graylaneBin, "up", "-f", "../../examples/seed004", "--gateway-port", "0", "--admin", "127.0.0.1:0", "--client-proxy", "", "-o", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var info struct {
		Admin, Gateway string
		Ready          bool
	}
	dec := json.NewDecoder(stdout)
	for !info.Ready { // the addresses come first, then ready: true
		if err := dec.Decode(&info); err != nil {
			_ = cmd.Process.Kill()
			t.Fatalf("read ready line: %v", err)
		}
	}
	resp, err := http.Get(info.Admin + "/v1/workloads")
	if err != nil {
		t.Fatal(err)
	}
	var pods []adminapi.PodStatus
	_ = json.NewDecoder(resp.Body).Decode(&pods)
	resp.Body.Close()
	if len(pods) != 4 {
		t.Fatalf("pods: %+v", pods)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("graylane up exited with %v, want 0", err)
	}
	for _, p := range pods {
		if err := syscall.Kill(int(p.PID), 0); err == nil {
			t.Errorf("pod %s (pid %d) still running", p.Name, p.PID)
		}
	}
	for _, addr := range []string{strings.TrimPrefix(info.Admin, "http://"), strings.TrimPrefix(info.Gateway, "http://"), pods[0].Address, pods[0].Sidecar} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s not released: %v", addr, err)
			continue
		}
		ln.Close()
	}
}

// The sidecar forwards requests as they came: no User-Agent is invented,
// hop-by-hop headers are dropped, the rest arrives.
func TestForwardedHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r.Header.Clone() })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = backend.Serve(ln) }()
	defer backend.Close()
	rt, err := New(Options{AdminAddr: "127.0.0.1:0", WatchInterval: -1, Executable: graylaneBin}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p := &pod{spec: podSpec{name: "b-0", namespace: "default", labels: map[string]string{"app": "b"}}, addr: ln.Addr().String()}
	p.ready.Store(true)
	set := mustLoadBytes(t, "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {selector: {app: b}, ports: [{port: 80}]}\n")
	rt.swap(route.Compile(expand.RouteInput(set)), expand.RouteInput(set).Services)
	rt.cfg.Load().pods = []*pod{p}
	req := httptest.NewRequest(http.MethodGet, "http://b/x", nil)
	req.Header = http.Header{"X-Keep": {"1"}, "Connection": {"keep-alive"}, "Te": {"trailers"}}
	w := httptest.NewRecorder()
	rt.forward(w, req, &caller{source: route.Source{Namespace: "default"}, workload: "t"})
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got := <-seen
	for _, h := range []string{"User-Agent", "Connection", "Te"} {
		if _, ok := got[h]; ok {
			t.Errorf("%s forwarded: %v", h, got)
		}
	}
	if got.Get("X-Keep") != "1" {
		t.Errorf("X-Keep lost: %v", got)
	}
}

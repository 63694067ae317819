package embedded

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/adminapi"
)

// waitFor polls cond until it holds; it fails the test after three
// minutes: a bound for a broken runtime, not a speed expectation (a race
// build starting a replica on a 2-core machine loaded ten times over took
// more than one).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func deployment(name string, replicas int, image string, env ...string) string {
	var e strings.Builder
	for i := 0; i+1 < len(env); i += 2 {
		fmt.Fprintf(&e, ", {name: %s, value: %q}", env[i], env[i+1])
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  replicas: %[2]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s, version: v1}}
    spec: {containers: [{name: c, image: %[3]s, env: [{name: app, value: %[1]s}%[4]s]}]}
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s}
spec: {selector: {app: %[1]s}, ports: [{port: 80}]}
`, name, replicas, image, e.String())
}

func podsOf(rt *Runtime, workload string) []adminapi.PodStatus {
	var out []adminapi.PodStatus
	for _, p := range rt.Workloads() {
		if p.Workload == workload {
			out = append(out, p)
		}
	}
	return out
}

// Each replica of the built-in sample serves the socket the runtime bound
// for it, answers its own pod name on /healthz, and keeps its port across
// a restart.
func TestSampleReplicaIdentity(t *testing.T) {
	r := start(t, nil)
	if _, err := r.rt.Apply(mustLoadBytes(t, deployment("ident", 3, "go-http-sample"))); err != nil {
		t.Fatal(err)
	}
	waitReady(t, r.rt)
	pods := podsOf(r.rt, "Deployment default/ident")
	if len(pods) != 3 {
		t.Fatalf("pods: %+v", pods)
	}
	addrs := map[string]bool{}
	for _, p := range pods {
		if addrs[p.Address] {
			t.Errorf("two replicas on %s", p.Address)
		}
		addrs[p.Address] = true
		if got := healthzName(t, p.Address); got != p.Name {
			t.Errorf("%s answers as %q, want %q", p.Address, got, p.Name)
		}
	}
	victim := pods[1]
	if err := syscall.Kill(int(victim.PID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the killed replica restarted and ready", func() bool {
		p := podNamed(r.rt, victim.Name)
		return p.Restarts >= 1 && p.Ready
	})
	again := podNamed(r.rt, victim.Name)
	if again.Address != victim.Address || healthzName(t, again.Address) != victim.Name {
		t.Errorf("after the restart %s is on %s (was %s)", victim.Name, again.Address, victim.Address)
	}
}

func healthzName(t *testing.T, addr string) string {
	t.Helper()
	resp, err := plain.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("X-Pod-Name")
}

// A replica's output is kept in its log under the state folder and read
// through GET /v1/logs: all, a tail, one replica, followed across a
// restart; bad requests get 400/404.
func TestReplicaLogs(t *testing.T) {
	state := t.TempDir()
	cmd := "echo out-1; echo err-1 >&2; echo out-2; exec " + graylaneBin + " sample"
	r := startWith(t, func(o *Options) { o.StateDir = state }, nil, "logger="+cmd)
	if _, err := r.rt.Apply(mustLoadBytes(t, deployment("logger", 2, "logger"))); err != nil {
		t.Fatal(err)
	}
	waitReady(t, r.rt)
	pods := podsOf(r.rt, "Deployment default/logger")
	p0 := pods[0]
	if want := filepath.Join(state, "logs", "default", p0.Name+".log"); p0.Log != want {
		t.Errorf("log file %s, want %s", p0.Log, want)
	}
	waitFor(t, "the samples' start logged", func() bool {
		for _, p := range pods {
			b, _ := os.ReadFile(p.Log)
			if !strings.Contains(string(b), "sample listening") || !strings.Contains(string(b), "\nlistening: ") {
				return false
			}
		}
		return true
	})
	admin := "http://" + r.rt.Addr() + "/v1/logs?"
	code, body := getText(t, admin+"workload=logger&replica=0")
	// Five lines: each stream's in its order; stdout and stderr are two
	// pipes, read apart, so how the two interleave is not defined.
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if code != 200 || len(lines) != 5 || !inOrder(lines, "out-1", "out-2", "listening: http://"+p0.Address) ||
		!inOrder(lines, "err-1", `msg="sample listening"`) {
		t.Errorf("replica 0: %d %q", code, body)
	}
	code, body = getText(t, admin+"workload=logger&namespace=default&tail=2")
	for i, p := range pods {
		_, all := getText(t, admin+"workload=logger&replica="+strconv.Itoa(i))
		last := strings.Split(strings.TrimSpace(all), "\n")
		last = last[max(0, len(last)-2):]
		for _, l := range last {
			if code != 200 || !strings.Contains(body, "["+p.Name+"] "+l+"\n") {
				t.Errorf("tail 2 of every replica: %d %q lacks [%s] %s (its last two lines: %q)", code, body, p.Name, l, last)
			}
		}
	}
	if n := strings.Count(body, "\n"); n != 4 {
		t.Errorf("tail 2 of 2 replicas: %d lines: %q", n, body)
	}
	for _, tc := range []struct {
		query string
		code  int
		want  string
	}{
		{"workload=nope", 404, `no workload or pod named \"nope\"`},
		{"workload=logger&replica=2", 400, "has 2 replicas (--replica 0..1)"},
		{"workload=logger&namespace=other", 404, "in namespace other"},
		{"workload=service/logger", 400, "want NAME, deployment/NAME"},
		{"workload=logger&tail=x", 400, `tail=\"x\": want a number`},
		// All five of its lines: how stdout and stderr interleave is not
		// fixed, so the last two may be either stream's.
		{"workload=pod/" + p0.Name + "&tail=5", 200, "listening: http://" + p0.Address},
	} {
		code, body := getText(t, admin+tc.query)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %q, want %d with %q", tc.query, code, body, tc.code, tc.want)
		}
	}

	// Follow replica 0 from now on; a restart writes its lines again.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, admin+"workload=deployment/logger&replica=0&tail=0&follow=true", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			got <- sc.Text()
		}
		close(got)
	}()
	if err := syscall.Kill(int(p0.PID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var seen []string
	want := map[string]bool{"err-1": true, "out-1": true, "out-2": true}
	for line := range got {
		seen = append(seen, line)
		delete(want, line)
		if len(want) == 0 {
			break
		}
	}
	var shell []string // the sample's own lines may come between
	for _, l := range seen {
		if l == "err-1" || l == "out-1" || l == "out-2" {
			shell = append(shell, l)
		}
	}
	if !cmp.Equal(sortedFirst(shell), []string{"err-1", "out-1", "out-2"}) || !inOrder(seen, "out-1", "out-2") {
		t.Errorf("followed after the restart: %q", seen)
	}
}

// inOrder reports whether lines hold lines containing each of want, in
// that order (other lines may come between).
func inOrder(lines []string, want ...string) bool {
	i := 0
	for _, l := range lines {
		if i < len(want) && strings.Contains(l, want[i]) {
			i++
		}
	}
	return i == len(want)
}

func getText(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := plain.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sortedFirst sorts lines (two streams come in either order).
func sortedFirst(lines []string) []string {
	out := append([]string(nil), lines...)
	sort.Strings(out)
	return out
}

// Options.Serving comes before every workload is ready and names those
// that are not; without a terminal the start-up is logged: starting,
// progress, and a crashing replica's exit with its last stderr lines.
func TestServingAndProgressLog(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app.yaml"), deployment("good", 1, "go-http-sample")+"---\n"+deployment("crasher", 1, "crasher"))
	var logBuf syncBuffer
	serving := make(chan adminapi.Addresses, 1)
	r := startServing(t, &logBuf, Options{Files: []string{dir}, Images: []string{"crasher=echo starting; echo boom >&2; exit 3"},
		Serving: func(a adminapi.Addresses) { serving <- a }})
	a := <-serving
	if a.Admin == "" || !cmp.Equal(a.NotReady, []string{"Deployment default/crasher", "Deployment default/good"}) {
		t.Errorf("Serving(%+v), want the admin address and both workloads not ready", a)
	}
	waitFor(t, "the crasher restarted twice", func() bool {
		for _, w := range r.Progress() {
			if w.Workload == "Deployment default/crasher" && w.Restarts >= 2 {
				return true
			}
		}
		return false
	})
	waitFor(t, "good ready", func() bool {
		return strings.Contains(logBuf.tail(1<<30), `workload progress" workload="Deployment default/good" ready=1/1`)
	})
	var crasher WorkloadProgress
	for _, w := range r.Progress() {
		if w.Workload == "Deployment default/crasher" {
			crasher = w
		}
	}
	if crasher.Ready != 0 || crasher.Replicas != 1 || crasher.Reason != "process: exit status 3" || !cmp.Equal(crasher.Stderr, []string{"boom"}) {
		t.Errorf("crasher progress: %+v", crasher)
	}
	log := logBuf.tail(1 << 30)
	for _, want := range []string{
		`msg="workload starting" workload="Deployment default/crasher" replicas=1`,
		`msg="workload starting" workload="Deployment default/good" replicas=1`,
		`msg="workload process exited; restarting" pod=crasher-`,
		`err="process: exit status 3"`,
		`stderr=boom`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	if strings.Contains(log, "all workloads ready") {
		t.Errorf("log says all ready while the crasher is not:\n%s", log)
	}
}

// startServing runs a runtime with o (free ports) and returns once it
// serves; it logs to w.
func startServing(t *testing.T, w io.Writer, o Options) *Runtime {
	t.Helper()
	o.GatewayAddr, o.AdminAddr, o.Executable, o.WatchInterval = "127.0.0.1:0", "127.0.0.1:0", graylaneBin, -1
	rt, err := New(o, slog.New(slog.NewTextHandler(w, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitListening(t, rt)
	return rt
}

func TestProgressBlock(t *testing.T) {
	ws := []WorkloadProgress{
		{Workload: "Deployment shop/order-v1", Ready: 2, Replicas: 2},
		{Workload: "Deployment shop/payment-v1", Ready: 0, Replicas: 1, Restarts: 3, Reason: "process: exit status 1", Stderr: []string{"a", "b", "c", "panic: no db"}},
		{Workload: "Rollout shop/logistics", Ready: 1, Replicas: 2, Reason: "readiness probe GET /ready: 503 Service Unavailable"},
	}
	want := []string{
		"  ready   Deployment shop/order-v1    2/2 ready",
		"  waiting Deployment shop/payment-v1  0/1 ready  restarts 3  process: exit status 1",
		"            | b",
		"            | c",
		"            | panic: no db",
		"  waiting Rollout shop/logistics      1/2 ready  readiness probe GET /ready: 503 Service Unavailable",
		"starting: 1 of 3 workloads ready (12s)",
	}
	if diff := cmp.Diff(want, progressBlock(ws, 12300*time.Millisecond, false)); diff != "" {
		t.Errorf("block (-want +got):\n%s", diff)
	}
	done := progressBlock(ws[:1], 1234*time.Millisecond, true)
	if diff := cmp.Diff([]string{"  ready   Deployment shop/order-v1  2/2 ready", "all 1 workloads ready (1.2s)"}, done); diff != "" {
		t.Errorf("finished block (-want +got):\n%s", diff)
	}
	if got := progressBlock(nil, time.Second, false); got != nil {
		t.Errorf("no workloads: %q", got)
	}
}

// The console redraws its block in place and writes other text above it;
// once finished it writes through.
func TestConsole(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "tty")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := &Console{out: f}
	var stdout strings.Builder
	c.set([]string{"a", "b\tc\x1b[2J"})
	io.WriteString(c, "log line\n")
	io.WriteString(c.Above(&stdout), "gateway: x\n")
	c.set([]string{"a", "b c[2J"}) // unchanged: not drawn again
	c.set([]string{"done"})
	c.finish()
	io.WriteString(c, "later\n")
	b, _ := os.ReadFile(f.Name())
	want := "a\nb c[2J\n" +
		"\r\x1b[2A\x1b[J" + "log line\n" + "a\nb c[2J\n" +
		"\r\x1b[2A\x1b[J" + "a\nb c[2J\n" +
		"\r\x1b[2A\x1b[J" + "done\n" +
		"later\n"
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("terminal output (-want +got):\n%s", diff)
	}
	if stdout.String() != "gateway: x\n" {
		t.Errorf("stdout = %q", stdout.String())
	}
}

// The bundled shop's temporary folder and the temporary state folder are
// removed when graylane up stops.
func TestBundledShopRemoved(t *testing.T) {
	tmp := t.TempDir()
	cmd := exec.Command(graylaneBin, "up", "--gateway-port", "0", "--admin", "127.0.0.1:0", "--client-proxy", "", "-o", "json")
	cmd.Dir = t.TempDir() // no examples/shop here: the embedded copy is written out
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	startUp(t, cmd)
	for _, pattern := range []string{"graylane-shop-*", "graylane-up-*"} {
		if m, _ := filepath.Glob(filepath.Join(tmp, pattern)); len(m) != 1 {
			t.Errorf("while running: %s = %v, want one", pattern, m)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("graylane up: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(tmp, "graylane-*")); len(m) > 0 {
		t.Errorf("left behind: %v", m)
	}
}

// startUp starts a `graylane up -o json` process and returns its admin
// address once it says every workload is ready.
func startUp(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	dec := json.NewDecoder(stdout)
	var info struct {
		Admin string
		Ready bool
	}
	for !info.Ready {
		if err := dec.Decode(&info); err != nil {
			t.Fatalf("graylane up: %v\n%s", err, stderr.tail(4000))
		}
	}
	go io.Copy(io.Discard, stdout)
	return info.Admin
}

func adminPods(t *testing.T, admin string) []adminapi.PodStatus {
	t.Helper()
	resp, err := plain.Get(admin + "/v1/workloads")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pods []adminapi.PodStatus
	if err := json.NewDecoder(resp.Body).Decode(&pods); err != nil {
		t.Fatal(err)
	}
	return pods
}

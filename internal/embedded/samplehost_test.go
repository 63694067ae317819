//go:build linux

package embedded

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/sample"
)

// The bundled shop's sample replicas run in one sample host process, a
// child of the runtime; each still serves its own socket as itself (its
// app and version, its POD_UID on /healthz), calls its upstreams through
// its own sidecar, and writes its own log.
func TestShopInSampleHost(t *testing.T) {
	r := start(t, []string{"../../examples/shop"})
	pods := r.rt.Workloads()
	if len(pods) != 9 {
		t.Fatalf("%d replicas, want the shop's 9: %+v", len(pods), pods)
	}
	hostPID := pods[0].PID
	for _, p := range pods {
		if !p.SharedProcess || p.PID != hostPID {
			t.Errorf("%s: pid %d sharedProcess %v, want the sample host's pid %d", p.Name, p.PID, p.SharedProcess, hostPID)
		}
	}
	if got, want := cmdline(t, int(hostPID)), graylaneBin+" "+sample.HostCommand; got != want {
		t.Errorf("the sample host runs %q, want %q", got, want)
	}
	if got := children(t, os.Getpid()); !cmp.Equal(got, []int{int(hostPID)}) {
		t.Errorf("the runtime's child processes = %v, want only the sample host %d", got, hostPID)
	}
	for _, p := range pods {
		resp, err := plain.Get("http://" + p.Address + "/healthz")
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Pod-Name"); got != p.Name {
			t.Errorf("%s answers /healthz as %q", p.Address, got)
		}
		resp, err = plain.Get("http://" + p.Address + "/")
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := p.Labels["app"] + "(" + p.Labels["version"] + ")"
		if first, _, _ := strings.Cut(strings.TrimSpace(string(body)), " -> "); first != want {
			t.Errorf("%s (%s) answers %q, want it to start with %q", p.Name, p.Address, body, want)
		}
		log, err := os.ReadFile(p.Log)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if !strings.Contains(string(log), "listening: http://"+p.Address+"\n") {
			t.Errorf("%s: log %s does not say it listens on %s:\n%s", p.Name, p.Log, p.Address, log)
		}
	}
	// Through the gateway, every hop goes through the caller's sidecar,
	// which routes by the caller's labels: order v1 calls payment and
	// logistics of the stable versions.
	code, body, err := r.try(false, "shop.example.com")
	if err != nil || code != http.StatusOK || !strings.Contains(body, " -> payment(") {
		t.Errorf("GET / through the gateway = %d %q %v, want order calling payment", code, body, err)
	}
}

// A replica the sample host cannot start (a bad environment value) is
// reported like a process that exits: crashed, restarted with backoff,
// its error in its log and in lastError; the host's other replicas go on.
func TestHostedReplicaCrash(t *testing.T) {
	r := start(t, nil)
	doc := deployment("good", 1, "graylane/sample") + "---\n" + deployment("bad", 1, "graylane/sample", "error_rate", "2")
	if _, err := r.rt.Apply(mustLoadBytes(t, doc)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bad replica crashed twice", func() bool {
		p := podsOf(r.rt, "Deployment default/bad")
		return len(p) == 1 && p[0].Restarts >= 2
	})
	bad := podsOf(r.rt, "Deployment default/bad")[0]
	if !strings.Contains(bad.LastError, "error_rate") {
		t.Errorf("lastError = %q, want the invalid error_rate", bad.LastError)
	}
	if log, _ := os.ReadFile(bad.Log); !strings.Contains(string(log), `invalid error_rate "2"`) {
		t.Errorf("log of %s:\n%s\nwant the invalid error_rate", bad.Name, log)
	}
	good := podsOf(r.rt, "Deployment default/good")[0]
	if !good.Ready || good.Restarts != 0 || good.PID != bad.PID {
		t.Errorf("good replica: %+v, want ready, never restarted, in the host (pid %d)", good, bad.PID)
	}
}

// Killing the sample host (kill -9 of the pid every hosted replica shows)
// ends all its replicas at once; each is restarted, in a new host, on the
// socket it had, as itself.
func TestSampleHostKilled(t *testing.T) {
	r := start(t, nil)
	if _, err := r.rt.Apply(mustLoadBytes(t, deployment("ident", 3, "go-http-sample"))); err != nil {
		t.Fatal(err)
	}
	waitReady(t, r.rt)
	before := podsOf(r.rt, "Deployment default/ident")
	if err := syscall.Kill(int(before[0].PID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every replica restarted in a new host", func() bool {
		for _, p := range podsOf(r.rt, "Deployment default/ident") {
			if p.Restarts < 1 || !p.Ready || p.PID == before[0].PID {
				return false
			}
		}
		return true
	})
	for i, p := range podsOf(r.rt, "Deployment default/ident") {
		if p.Address != before[i].Address || healthzName(t, p.Address) != p.Name {
			t.Errorf("%s after the restart: %s, was %s", p.Name, p.Address, before[i].Address)
		}
	}
	if got := children(t, os.Getpid()); len(got) != 1 {
		t.Errorf("the runtime's children = %v, want one sample host", got)
	}
}

// KillReplica refuses what it cannot kill: an unknown replica (404).
func TestKillUnknownReplica(t *testing.T) {
	r := start(t, nil)
	resp, err := plain.Post("http://"+r.rt.Addr()+"/v1/workloads/default/nope/kill", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("kill of an unknown replica: %s, want 404", resp.Status)
	}
}

func cmdline(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// children lists the live processes whose parent is pid.
func children(t *testing.T, pid int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 || fields[0] == "Z" || fields[1] != strconv.Itoa(pid) {
			continue
		}
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		out = append(out, n)
	}
	return out
}

package embedded

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The race of issue 14.12, forced: an external command's port is taken by
// another process while the command starts. The replica is not ready (the
// listening socket is not its own), no request reaches the other process,
// and once the port is free the replica binds it and serves.
func TestExternalPortTakenByAnother(t *testing.T) {
	dir := t.TempDir()
	goFile := filepath.Join(dir, "go")
	// The command waits for the test before it binds its port.
	cmd := fmt.Sprintf("while [ ! -e %s ]; do sleep 0.02; done; exec %s sample", goFile, graylaneBin)
	r := start(t, nil, "victim="+cmd)
	if _, err := r.rt.Apply(mustLoadBytes(t, deployment("victim", 1, "victim"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the victim's process started", func() bool {
		p := podsOf(r.rt, "Deployment default/victim")
		return len(p) == 1 && p[0].PID != 0 && p[0].State == "starting"
	})
	victim := podsOf(r.rt, "Deployment default/victim")[0]
	impostor, err := net.Listen("tcp", victim.Address)
	if err != nil {
		t.Fatalf("take the victim's port %s: %v", victim.Address, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "impostor\n") })}
	go srv.Serve(impostor)
	defer srv.Close()
	waitFor(t, "the victim reported as not ready because of the impostor", func() bool {
		return strings.Contains(podNamed(r.rt, victim.Name).LastError, "served by another process")
	})
	if p := podNamed(r.rt, victim.Name); p.Ready {
		t.Fatalf("the victim is ready while another process serves its port: %+v", p)
	}
	for i := 0; i < 20; i++ {
		code, body := r.get(t, true, "victim")
		if code != http.StatusServiceUnavailable || body == "impostor" {
			t.Fatalf("request to the victim: %d %q, want 503 (no ready replica)", code, body)
		}
	}
	srv.Close()
	writeFile(t, goFile, "")
	waitFor(t, "the victim ready on its port", func() bool { return podNamed(r.rt, victim.Name).Ready })
	if code, body := r.get(t, true, "victim"); code != 200 || body != "victim(v1)" {
		t.Errorf("request to the victim: %d %q, want 200 victim(v1)", code, body)
	}
}

// Every replica of a runtime killed with SIGKILL dies with it: the
// built-in sample by its parent-death signal, an external command's whole
// process group (here a shell that forked the server) by its supervisor.
func TestChildrenDieWithRuntime(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app.yaml"), deployment("forked", 2, "forked")+"---\n"+deployment("sample", 1, "go-http-sample"))
	writeFile(t, filepath.Join(dir, "images.yaml"), "images:\n  forked: cd . && "+graylaneBin+" sample\n")
	cmd := exec.Command(graylaneBin, "up", "-f", filepath.Join(dir, "app.yaml"), "--images", filepath.Join(dir, "images.yaml"),
		"--gateway-port", "0", "--admin", "127.0.0.1:0", "--client-proxy", "", "-o", "json")
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	admin := startUp(t, cmd)
	pods := adminPods(t, admin)
	if len(pods) != 3 {
		t.Fatalf("pods: %+v", pods)
	}
	groups := map[int][]int{}
	for _, p := range pods {
		groups[int(p.PID)] = groupMembers(int(p.PID))
	}
	for _, p := range pods {
		if strings.HasPrefix(p.Name, "forked-") && len(groups[int(p.PID)]) < 3 {
			t.Errorf("%s: group %d has %v, want the supervisor, the shell and the sample", p.Name, p.PID, groups[int(p.PID)])
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitFor(t, fmt.Sprintf("every replica's process group empty (%v)", groups), func() bool {
		for pgid := range groups {
			if len(groupMembers(pgid)) > 0 {
				return false
			}
		}
		return true
	})
	// The killed runtime could not remove its state folder; the next one does.
	t.Setenv("TMPDIR", tmp)
	left, _ := filepath.Glob(filepath.Join(tmp, "graylane-up-*"))
	if len(left) != 1 {
		t.Fatalf("state folders of the killed runtime: %v", left)
	}
	next, err := MakeTempDir("graylane-up-")
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := filepath.Glob(filepath.Join(tmp, "graylane-up-*")); len(now) != 1 || now[0] != next {
		t.Errorf("after the next start: %v, want only %s", now, next)
	}
}

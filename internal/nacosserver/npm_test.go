package nacosserver

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

// npmClientDir is where hack/install-npm-tools.sh installs the npm nacos
// client (make deps runs it).
func npmClientDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", ".cache", "npm", "nacos")
}

// TestNPMClient drives the npm nacos client 2.6.3 (testdata/npm_client.js,
// the v1 HTTP API) against the server with auth on, and reads what it
// registered and published with the Go SDK.
func TestNPMClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the npm nacos client cannot run")
	}
	dir := npmClientDir(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "nacos", "package.json")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the npm nacos client is missing (%v): make deps installs it (hack/install-npm-tools.sh)", err)
		}
		t.Skipf("the npm nacos client is missing (%v): run hack/install-npm-tools.sh", err)
	}
	s := startServer(t, Options{Username: "nacos", Password: "npm-pw"})
	script, err := filepath.Abs("testdata/npm_client.js")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"),
		"NACOS_ADDR="+s.HTTPAddr(), "NACOS_USERNAME=nacos", "NACOS_PASSWORD=npm-pw")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var steps []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if line == "done" {
			break
		}
		steps = append(steps, line)
	}
	want := []string{"step: naming ready", "step: registered and discovered", "step: subscribed and saw the change",
		"step: deregistered", "step: published and read", "step: listened and saw the change", "step: removed"}
	if diff := cmp.Diff(want, steps); diff != "" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("npm client steps (-want +got):\n%s\nstderr:\n%s", diff, stderr.String())
	}

	// What the npm client left, seen through the Go SDK.
	nc := namingClient(t, s, "nacos", "npm-pw")
	t.Cleanup(nc.CloseClient)
	ins, err := nc.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "npm-svc"})
	if err != nil || !cmp.Equal(endpoints(ins), []string{"10.1.0.2:8080"}) {
		t.Errorf("Go SDK sees npm-svc = %v, %v; want 10.1.0.2:8080", endpoints(ins), err)
	}
	cc := configClient(t, s, "nacos", "npm-pw")
	if got, err := cc.GetConfig(vo.ConfigParam{DataId: "npm-final", Group: "DEFAULT_GROUP"}); err != nil || got != "from=npm" {
		t.Errorf("Go SDK reads npm-final = %q, %v; want from=npm", got, err)
	}

	stdin.Close()
	io.Copy(io.Discard, stdout) //nolint:errcheck // drain
	if err := cmd.Wait(); err != nil {
		t.Errorf("npm client: %v\nstderr:\n%s", err, stderr.String())
	}
}

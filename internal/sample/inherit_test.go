package sample

import (
	"context"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadSocketActivation(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	tests := []struct {
		name    string
		env     map[string]string
		want    bool
		wantErr string
	}{
		{"none", nil, false, ""},
		{"one socket", map[string]string{"LISTEN_FDS": "1"}, true, ""},
		{"one socket for this process", map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": pid}, true, ""},
		{"meant for another process", map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": "1"}, false, ""},
		{"zero sockets", map[string]string{"LISTEN_FDS": "0"}, false, ""},
		{"two sockets", map[string]string{"LISTEN_FDS": "2"}, false, `invalid LISTEN_FDS "2": the sample app serves one socket`},
		{"not a number", map[string]string{"LISTEN_FDS": "x"}, false, `invalid LISTEN_FDS "x": must be a number of sockets`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := Load(envFunc(tc.env), nil)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Errorf("err = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || o.Inherited != tc.want {
				t.Errorf("Inherited = %v (err %v), want %v", o.Inherited, err, tc.want)
			}
		})
	}
	o, err := Load(envFunc(map[string]string{"POD_NAME": "a-1", "POD_UID": "u-1"}), nil)
	if err != nil || o.PodName != "a-1" || o.PodUID != "u-1" {
		t.Errorf("POD_NAME/POD_UID: %+v %v", o, err)
	}
}

// /healthz names the pod when the runtime set POD_NAME and POD_UID.
func TestHealthzIdentity(t *testing.T) {
	o := app("a")
	o.PodName, o.PodUID = "a-0", "1234"
	resp, err := testClient.Get(start(t, o) + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := []string{resp.Header.Get("X-Pod-Name"), resp.Header.Get("X-Pod-Uid")}
	if diff := cmp.Diff([]string{"a-0", "1234"}, got); diff != "" {
		t.Errorf("identity headers (-want +got):\n%s", diff)
	}
	resp, err = testClient.Get(start(t, app("b")) + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, ok := resp.Header["X-Pod-Name"]; ok {
		t.Error("X-Pod-Name without POD_NAME")
	}
}

// A process started with a listening socket as fd 3 and LISTEN_FDS=1
// serves it (this test binary, run again as the child).
func TestInheritedSocket(t *testing.T) {
	if os.Getenv("SAMPLE_TEST_CHILD") == "1" {
		inheritedChild(t)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // kept open here, as the runtime keeps it
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInheritedSocket$")
	cmd.Env = append(os.Environ(), "SAMPLE_TEST_CHILD=1", "LISTEN_FDS=1", "app=inh", "version=v3", "POD_NAME=inh-0", "POD_UID=u-9", "PORT=1")
	cmd.ExtraFiles = []*os.File{f}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v\n%s", err, out.String())
		}
	}()
	// The connection waits in the socket's queue until the child accepts.
	base := "http://" + ln.Addr().String() + "/"
	if got := get(t, base, nil); got != (answer{200, "inh(v3)\n"}) {
		t.Errorf("GET / = %+v", got)
	}
	resp, err := testClient.Get(base + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Pod-Uid") != "u-9" {
		t.Errorf("healthz X-Pod-Uid = %q", resp.Header.Get("X-Pod-Uid"))
	}
}

// inheritedChild is the child side: the sample as `graylane sample` runs it.
func inheritedChild(t *testing.T) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	o, err := Load(os.LookupEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Inherited {
		t.Fatal("LISTEN_FDS=1 not seen")
	}
	if err := Run(ctx, o, nil); err != nil {
		t.Fatal(err)
	}
	if v, ok := os.LookupEnv("LISTEN_FDS"); ok {
		t.Errorf("LISTEN_FDS=%s left in the environment", v)
	}
}

package kubetest

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// When another process holds the healthz port the Argo Rollouts controller
// is given, the controller only logs the failed bind: waitServing must say
// the port was taken (so startRollouts picks new ones), not take the other
// process' answer for the controller's.
func TestWaitServingRefusesAnotherListener(t *testing.T) {
	impostor, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
	go func() { _ = srv.Serve(impostor) }()
	t.Cleanup(func() { srv.Close() })
	port := impostor.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct {
		pid, port int
		want      bool
	}{
		{os.Getpid(), port, true},
		{os.Getpid(), freePort(t), false},
	} {
		got, err := listensOn(tc.pid, tc.port)
		if err != nil || got != tc.want {
			t.Errorf("listensOn(%d, %d) = %v, %v; want %v", tc.pid, tc.port, got, err, tc.want)
		}
	}

	env := Start(t)
	bin, err := BinDir()
	if err == nil {
		err = haveBinaries(bin, "rollouts-controller")
	}
	if err != nil {
		missing(t, err)
	}
	p := startProcess(t, filepath.Join(bin, "rollouts-controller"), "--kubeconfig="+env.Kubeconfig, "--leader-elect=false",
		"--metricsport="+strconv.Itoa(freePort(t)), "--healthzPort="+strconv.Itoa(port))
	defer p.stop()
	if err := waitServing(p, port); !errors.Is(err, errPortTaken) {
		t.Errorf("waitServing with the healthz port taken = %v, want %v\n%s", err, errPortTaken, p.logs)
	}
	if ours, err := listensOn(p.cmd.Process.Pid, port); ours || err != nil {
		t.Errorf("listensOn(controller, taken port) = %v, %v; want false", ours, err)
	}
}

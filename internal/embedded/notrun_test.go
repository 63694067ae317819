package embedded

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/cli"
)

// lockedBuffer is a log sink the test reads while the runtime writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNotRunAndIgnored: `graylane up` says at start which documents it
// does not run, and refuses the Argo Rollouts features it does not run at
// their field, without changing what runs.
func TestNotRunAndIgnored(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "shop.yaml")
	err := os.WriteFile(file, []byte(`apiVersion: v1
kind: Service
metadata: {name: order, namespace: shop}
spec: {selector: {app: order}, ports: [{port: 8080}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
---
apiVersion: networking.istio.io/v1
kind: VirtualServce
metadata: {name: order, namespace: shop}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	rt, err := New(Options{Files: []string{file}, GatewayAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ClientAddr: "127.0.0.1:0",
		Executable: graylaneBin, WatchInterval: -1}, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() { done <- rt.Run(ctx, func(string, string, string) { close(ready) }) }()
	defer func() { cancel(); <-done }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("runtime stopped: %v", err)
	}
	for _, want := range []string{
		file + ":6: apps/v1 StatefulSet shop/db is not run by graylane up",
		file + ":10: networking.istio.io/v1 VirtualServce shop/order is not run by graylane up; did you mean networking.istio.io/v1 VirtualService?",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}

	set := mustLoadBytes(t, `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order, namespace: shop}
spec:
  selector: {matchLabels: {app: order}}
  template:
    metadata: {labels: {app: order}}
    spec: {containers: [{name: order, image: "nginx:1.25"}]}
  strategy:
    canary:
      steps:
      - experiment: {templates: [{name: baseline, specRef: stable}]}
      - setWeight: 50
`)
	_, err = rt.Apply(set)
	var ie *cli.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("Apply: %v, want an input error", err)
	}
	want := "test.yaml:12: spec.strategy.canary.steps[0].experiment: an experiment step is not run by graylane up (runs on a cluster); compare versions with an analysis step"
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("Apply error (-want +got):\n%s", diff)
	}
	if got := rt.Rollouts(); len(got) != 0 {
		t.Errorf("a refused Rollout runs: %+v", got)
	}
}

package localapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/embedded"
	"github.com/graylane/graylane/internal/manifest"
)

// startRuntime runs an embedded runtime with no workloads (routing only).
// startRuntime runs an embedded runtime (workload processes run exe) until
// the test ends, applies set when given, and returns the admin address.
func startRuntime(t *testing.T, exe string, set *manifest.Set) string {
	t.Helper()
	rt, err := embedded.New(embedded.Options{AdminAddr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", Executable: exe, WatchInterval: -1},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx, func(_, admin, _ string) { ready <- admin }) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case admin := <-ready:
		if set != nil {
			if _, err := rt.Apply(set); err != nil {
				t.Fatal(err)
			}
		}
		return admin
	case err := <-done:
		t.Fatalf("runtime stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("runtime not ready")
	}
	return ""
}

func TestApplyAndGet(t *testing.T) {
	admin := startRuntime(t, "/bin/false", nil)
	ctx := context.Background()
	var out bytes.Buffer
	err := Apply(ctx, ApplyOptions{Files: []string{"../../examples/seed004/routing.yaml", "../../examples/seed004/gateway.yaml"}, Admin: admin}, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := `DestinationRule default/dr-appa created
DestinationRule default/dr-appb created
VirtualService istio-system/vs-gateway-appa created
VirtualService default/vs-appa created
VirtualService default/vs-appb created
Gateway istio-system/app-gw created
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("apply output (-want +got):\n%s", diff)
	}
	out.Reset()
	if err := Apply(ctx, ApplyOptions{Files: []string{"../../examples/seed004-headers"}, Admin: admin}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "VirtualService default/vs-appa configured\n" {
		t.Errorf("re-apply output %q", got)
	}
	// Documents the runtime does not run are named on stderr, each at its line.
	out.Reset()
	var warn bytes.Buffer
	if err := Apply(ctx, ApplyOptions{Files: []string{"../../examples/kubernetes/testdata/ignored-kinds.yaml"}, Admin: admin}, &out, &warn); err != nil {
		t.Fatal(err)
	}
	// The runtime now holds a Service, so the VirtualServices applied
	// before, whose hosts have none, are reported: Envoy would answer 503.
	if got := out.String(); !strings.HasPrefix(got, "Service shop/order created\n") ||
		!strings.Contains(got, "vs-appa.yaml:17: VirtualService default/vs-appa: spec.http[0].route[0].destination.host: no Service or ServiceEntry for host appa.default.svc.cluster.local") {
		t.Errorf("apply output %q", got)
	}
	for _, want := range []string{
		"warning: ../../examples/kubernetes/testdata/ignored-kinds.yaml:10: apps/v1 StatefulSet shop/db is not run by graylane up\n",
		"warning: ../../examples/kubernetes/testdata/ignored-kinds.yaml:20: networking.istio.io/v1 VirtualServce shop/order is not run by graylane up; did you mean networking.istio.io/v1 VirtualService?\n",
	} {
		if !strings.Contains(warn.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, warn.String())
		}
	}
	// A ServiceEntry applied like the others is listed by get serviceentries.
	dir := t.TempDir()
	se := filepath.Join(dir, "se.yaml")
	if err := os.WriteFile(se, []byte(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: pg, namespace: shop}
spec:
  hosts: [pg.nacos]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 192.168.7.7}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Apply(ctx, ApplyOptions{Files: []string{se}, Admin: admin}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := Get(ctx, GetOptions{Kind: "se", Admin: admin}, &out); err != nil {
		t.Fatal(err)
	}
	wantSE := "NAME     HOSTS     PORTS     RESOLUTION  ENDPOINTS\nshop/pg  pg.nacos  5432/TCP  STATIC      192.168.7.7\n"
	if diff := cmp.Diff(wantSE, out.String()); diff != "" {
		t.Errorf("get serviceentries (-want +got):\n%s", diff)
	}
	out.Reset()
	if err := Get(ctx, GetOptions{Kind: "routes", Admin: admin}, &out); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"istio-system/app-gw  192.168.1.106", "mesh                 appb.default.svc.cluster.local  default/vs-appb               3"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("get routes lacks %q:\n%s", line, out.String())
		}
	}
}

func TestErrors(t *testing.T) {
	admin := startRuntime(t, "/bin/false", nil)
	ctx := context.Background()
	var ie *cli.InputError
	err := Apply(ctx, ApplyOptions{Files: []string{"../../examples/seed004-broken"}, Admin: admin}, io.Discard, io.Discard)
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "routing.yaml:115") {
		t.Errorf("broken manifest: %v", err)
	}
	err = Apply(ctx, ApplyOptions{Files: []string{"../../examples/kubernetes/testdata/unsafe-rollout.yaml"}, Admin: admin}, io.Discard, io.Discard)
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "unsafe-rollout.yaml:23: spec.strategy.canary.steps[0].setWeight: Invalid value: 150: must be between 0 and 100") {
		t.Errorf("setWeight 150: %v", err)
	}
	// What graylane up does not run is refused here, at its field, before
	// anything is sent.
	err = Apply(ctx, ApplyOptions{Files: []string{"../../examples/kubernetes/testdata/not-local.yaml"}, Admin: admin}, io.Discard, io.Discard)
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "not-local.yaml:27: spec.strategy.blueGreen: the blueGreen strategy is not run by graylane up (runs on a cluster)") {
		t.Errorf("blue-green: %v", err)
	}
	err = Get(ctx, GetOptions{Kind: "pods", Admin: "127.0.0.1:1"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "is `graylane up` running?") {
		t.Errorf("unreachable runtime: %v", err)
	}
	if err := Get(ctx, GetOptions{Kind: "nodes", Admin: admin}, io.Discard); !errors.As(err, &ie) {
		t.Errorf("unknown kind: %v", err)
	}
}

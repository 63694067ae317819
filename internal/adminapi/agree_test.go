package adminapi_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/analysis"
	"github.com/graylane/graylane/internal/embedded"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/plan"
	"github.com/graylane/graylane/internal/testbin"
)

var graylaneBin string

func TestMain(m *testing.M) { testbin.Main(m, &graylaneBin) }

// web is a Rollout of the built-in sample whose canary pauses at 50%.
const web = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ro}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: ro}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: graylane/sample:1.0
        env: [{name: app, value: web}]
        ports: [{containerPort: 8080}]
  strategy:
    canary:
      steps: [{setWeight: 50}, {pause: {}}]
`

// deadGate is a gate where nothing listens.
const deadGate = "http://127.0.0.1:9"

// grayLane is a lane over examples/lanes/shop.yaml whose plan pauses at 20%,
// with the whitelist of a gate that cannot be reached.
const grayLane = `
apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members: [{service: order, workload: order-v2}, {service: logistics, workload: logistics-v2}]
  entry: {whitelist: {gate: "` + deadGate + `"}}
  plan:
    judge: false
    steps: [{setWeight: 20}, {pause: {}}, {setWeight: 60}]
`

// hello is a workload that logs one line and never gets ready (sleep
// listens nowhere).
const hello = `apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, namespace: logs}
spec:
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec: {containers: [{name: c, image: hello}]}
`

// wire compares what the server returns with what came over the wire:
// JSON does not tell an empty list from an absent one, and a metric's next
// measurement time is not sent.
var wire = cmp.Options{cmpopts.EquateEmpty(), cmpopts.IgnoreUnexported(analysis.MetricStatus{})}

// startRuntime runs a runtime on files until the test ends and returns it
// with its gateway address, once every replica is ready.
func startRuntime(t *testing.T, files ...string) (*embedded.Runtime, string) {
	t.Helper()
	rt, err := embedded.New(embedded.Options{Files: files, AdminAddr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", WatchInterval: -1,
		Executable: graylaneBin, Images: []string{"hello=echo hello from $POD_NAME; exec sleep 600"}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- rt.Run(ctx, func(gateway, _, _ string) {
			select {
			case ready <- gateway:
			default:
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case gateway := <-ready:
		return rt, gateway
	case err := <-done:
		t.Fatalf("runtime stopped: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatalf("runtime not ready: %v", rt.NotReady())
	}
	return nil, ""
}

// eventually calls check until it returns "" or a minute passes, then
// fails with its last answer. The runtime's state moves on between two
// reads (a replica starts, a step passes): a comparison waits until both
// reads see the same state.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// agree waits until the server's value and the client's answer are equal.
func agree[T any](t *testing.T, what string, server func() T, client func(context.Context) (T, error)) T {
	t.Helper()
	var got T
	eventually(t, what+" (-server +client)", func() string {
		want := server()
		var err error
		if got, err = client(context.Background()); err != nil {
			return err.Error()
		}
		return cmp.Diff(want, got, wire)
	})
	return got
}

// wantStatus checks that err is the runtime's answer status, matched by
// the sentinel the CLI branches on, and bad input (exit 2) for a 4xx.
func wantStatus(t *testing.T, what string, err error, status int, sentinel error, msg string) {
	t.Helper()
	var api *adminapi.APIError
	switch {
	case !errors.As(err, &api):
		t.Errorf("%s: %v, want an *adminapi.APIError", what, err)
	case api.Status != status || !errors.Is(err, sentinel) || api.BadInput() != (status < 500):
		t.Errorf("%s: status %d (errors.Is %v: %v, bad input %v), want %d", what, api.Status, sentinel, errors.Is(err, sentinel), api.BadInput(), status)
	case !strings.Contains(api.Message, msg):
		t.Errorf("%s: message %q, want it to contain %q", what, api.Message, msg)
	}
}

// Every endpoint of the admin API, called with the client against a real
// runtime: the answers are what the runtime's own methods return, and the
// error statuses reach the caller as the typed errors it branches on.
func TestClientAgreesWithRuntime(t *testing.T) {
	dir := t.TempDir()
	shop, err := os.ReadFile("../../examples/lanes/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{"shop.yaml": string(shop), "lane.yaml": grayLane, "web.yaml": web} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rt, gateway := startRuntime(t, dir)
	c := adminapi.New(rt.Addr())
	ctx := context.Background()

	// GET /readyz: every replica is ready.
	agree(t, "ready", func() adminapi.Readiness { return adminapi.Readiness{Ready: len(rt.NotReady()) == 0} }, c.Ready)

	addrs := agree(t, "GET /v1/addresses", rt.Addresses, c.Addresses)
	if addrs.Gateway != gateway || addrs.Admin != rt.Addr() {
		t.Errorf("addresses %+v, want gateway %s and admin %s", addrs, gateway, rt.Addr())
	}

	// The lane waits at its pause, the Rollout is Healthy: the lists stay.
	eventually(t, "lane paused at 20%", func() string {
		for _, l := range rt.Lanes() {
			if l.Name == "gray" && l.Plan != nil && l.Plan.Step == 1 && l.Weight == 20 {
				return ""
			}
		}
		return fmt.Sprint(rt.Lanes())
	})
	agree(t, "GET /v1/workloads", rt.Workloads, c.Workloads)
	agree(t, "GET /v1/services", rt.Services, c.Services)
	agree(t, "GET /v1/routes", rt.Routes, c.Routes)
	agree(t, "GET /v1/rollouts", rt.Rollouts, c.Rollouts)
	lanes := agree(t, "GET /v1/lanes", rt.Lanes, c.Lanes)
	if len(lanes) != 1 || lanes[0].Phase != lane.Active || len(lanes[0].Members) != 2 {
		t.Errorf("lanes: %+v", lanes)
	}

	// GET /v1/gates: the lane's gate, followed but never reached.
	gates := agree(t, "GET /v1/gates", rt.Gates, c.Gates)
	if len(gates) != 1 || gates[0].Gate != deadGate || gates[0].Loaded {
		t.Errorf("gates: %+v", gates)
	}

	// GET /metrics after a request through the gateway.
	resp, err := http.Get("http://" + gateway + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	eventually(t, "GET /metrics", func() string {
		m, err := c.Metrics(ctx)
		switch {
		case err != nil:
			return err.Error()
		case !strings.Contains(m, `istio_requests_total{`) || !strings.Contains(m, `destination_service="order.shop.svc.cluster.local"`):
			return "no istio_requests_total to order:\n" + m
		}
		return ""
	})

	// POST /apply: created, then unchanged; a bad manifest is refused.
	res, err := c.Apply(ctx, "hello.yaml", []byte(hello))
	if diff := cmp.Diff(adminapi.ApplyResult{Created: []string{"Deployment logs/hello"}}, res); err != nil || diff != "" {
		t.Errorf("apply: %v (-want +got):\n%s", err, diff)
	}
	res, err = c.Apply(ctx, "hello.yaml", []byte(hello))
	if diff := cmp.Diff(adminapi.ApplyResult{Unchanged: []string{"Deployment logs/hello"}}, res); err != nil || diff != "" {
		t.Errorf("apply again: %v (-want +got):\n%s", err, diff)
	}
	_, err = c.Apply(ctx, "bad.yaml", []byte("kind: Deployment\napiVersion: apps/v1\nspec: {replicas: 1}\n"))
	wantStatus(t, "apply a bad manifest", err, http.StatusBadRequest, adminapi.ErrBadRequest, `bad.yaml:1: missing required field "metadata.name"`)

	// GET /v1/serviceentries: each with the runtime's resourceVersion.
	// DELETE /v1/serviceentries/{ns}/{name}: a ServiceEntry applied,
	// deleted, gone; only as read (409) once it changed since that version.
	const entry = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: db, namespace: logs}\n" +
		"spec:\n  hosts: [db.example.com]\n  ports: [{number: 5432, name: tcp, protocol: TCP}]\n  resolution: DNS\n"
	if _, err := c.Apply(ctx, "entry.yaml", []byte(entry)); err != nil {
		t.Fatalf("apply a ServiceEntry: %v", err)
	}
	versions := agree(t, "GET /v1/serviceentries", func() []string { return entryVersions(rt.ServiceEntries()) },
		func(ctx context.Context) ([]string, error) {
			ses, err := c.ServiceEntries(ctx)
			return entryVersions(ses), err
		})
	read, ok := strings.CutPrefix(strings.Join(versions, " "), "logs/db@")
	if !ok || read == "" || strings.Contains(read, " ") {
		t.Fatalf("ServiceEntries: %q, want logs/db with a resourceVersion", versions)
	}
	if _, err := c.Apply(ctx, "entry.yaml", []byte(strings.Replace(entry, "5432", "5433", 1))); err != nil {
		t.Fatalf("apply the ServiceEntry changed: %v", err)
	}
	_, err = c.DeleteServiceEntry(ctx, "logs", "db", read)
	wantStatus(t, "delete a ServiceEntry changed since it was read", err, http.StatusConflict, adminapi.ErrConflict,
		"ServiceEntry logs/db: changed since it was read (resourceVersion "+read+", now ")
	del, err := c.DeleteServiceEntry(ctx, "logs", "db", "")
	if diff := cmp.Diff(adminapi.DeleteResult{Deleted: "ServiceEntry logs/db"}, del); err != nil || diff != "" {
		t.Errorf("delete a ServiceEntry: %v (-want +got):\n%s", err, diff)
	}
	_, err = c.DeleteServiceEntry(ctx, "logs", "db", "")
	wantStatus(t, "delete it again", err, http.StatusNotFound, adminapi.ErrNotFound, "logs/db")

	// GET /readyz: hello is not ready, with its state.
	rd := agree(t, "readyz with hello", func() adminapi.Readiness { return adminapi.Readiness{NotReady: rt.NotReady()} }, c.Ready)
	if len(rd.NotReady) != 1 || !strings.HasPrefix(rd.NotReady[0], "hello-") {
		t.Errorf("not ready: %q", rd.NotReady)
	}

	// GET /v1/logs: the lines the runtime writes.
	lr := adminapi.LogsRequest{Workload: "hello", Namespace: "logs", Replica: -1, Tail: -1}
	serverLogs := func() string {
		var b bytes.Buffer
		if err := rt.Logs(ctx, lr, bufio.NewWriter(&b), nil); err != nil {
			return err.Error()
		}
		return b.String()
	}
	eventually(t, "hello's line logged", func() string {
		if l := serverLogs(); !strings.HasPrefix(l, "hello from hello-") {
			return fmt.Sprintf("%q", l)
		}
		return ""
	})
	logs := agree(t, "GET /v1/logs", serverLogs, func(ctx context.Context) (string, error) {
		body, err := c.Logs(ctx, lr)
		if err != nil {
			return "", err
		}
		defer body.Close()
		b, err := io.ReadAll(body)
		return string(b), err
	})
	if !strings.HasPrefix(logs, "hello from hello-") || !strings.HasSuffix(logs, "\n") {
		t.Errorf("logs: %q", logs)
	}
	_, err = c.Logs(ctx, adminapi.LogsRequest{Workload: "nope", Replica: -1, Tail: -1})
	wantStatus(t, "logs of an unknown workload", err, http.StatusNotFound, adminapi.ErrNotFound, `no workload or pod named "nope"`)
	_, err = c.Logs(ctx, adminapi.LogsRequest{Workload: "hello", Replica: 3, Tail: -1})
	wantStatus(t, "logs of replica 3 of 1", err, http.StatusBadRequest, adminapi.ErrBadRequest, "has 1 replicas")

	// POST /v1/rollouts/{ns}/{name}/set-image and commands.
	set, err := c.SetImage(ctx, "ro", "web", "web", "graylane/sample:2.0")
	if err != nil {
		t.Fatal(err)
	}
	ros := agree(t, "GET /v1/rollouts after set-image", rt.Rollouts, c.Rollouts)
	want := adminapi.SetImageResult{Image: "graylane/sample:2.0",
		Message: `rollout ro/web: container "web" image graylane/sample:1.0 -> graylane/sample:2.0 (Rollout ro/web): the canary ` + ros[0].CanaryHash + " starts"}
	if diff := cmp.Diff(want, set); diff != "" {
		t.Errorf("set-image (-want +got):\n%s", diff)
	}
	_, err = c.SetImage(ctx, "ro", "web", "nope", "graylane/sample:2.0")
	wantStatus(t, "set-image of an unknown container", err, http.StatusBadRequest, adminapi.ErrBadRequest, `no container "nope"`)
	_, err = c.SetImage(ctx, "ro", "nope", "web", "graylane/sample:2.0")
	wantStatus(t, "set-image of an unknown Rollout", err, http.StatusNotFound, adminapi.ErrNotFound, "rollout ro/nope not found")
	eventually(t, "web paused at 50%", func() string {
		if ro := rt.Rollouts(); ro[0].Phase != plan.Paused || ro[0].Step != 1 {
			return fmt.Sprintf("%+v", ro[0])
		}
		return ""
	})
	_, err = c.RolloutCommand(ctx, "ro", "web", plan.Resume)
	wantStatus(t, "resume in a pause step", err, http.StatusConflict, adminapi.ErrConflict, "nothing to resume")
	_, err = c.RolloutCommand(ctx, "ro", "web", plan.Command("jump"))
	wantStatus(t, "an unknown command", err, http.StatusBadRequest, adminapi.ErrBadRequest, `unknown command "jump"`)
	_, err = c.RolloutCommand(ctx, "ro", "nope", plan.Promote)
	wantStatus(t, "promote an unknown Rollout", err, http.StatusNotFound, adminapi.ErrNotFound, "rollout ro/nope not found")
	cmd, err := c.RolloutCommand(ctx, "ro", "web", plan.Promote)
	if diff := cmp.Diff(adminapi.CommandResult{Accepted: plan.Promote, Message: "rollout ro/web promoted: left the pause of step 1 (pause)"}, cmd); err != nil || diff != "" {
		t.Errorf("promote: %v (-want +got):\n%s", err, diff)
	}

	// POST /v1/lanes/{ns}/{name}/{command}.
	cmd, err = c.LaneCommand(ctx, "shop", "gray", plan.Abort)
	if diff := cmp.Diff(adminapi.CommandResult{Accepted: plan.Abort, Message: "lane shop/gray aborted: every member goes back to its stable version"}, cmd); err != nil || diff != "" {
		t.Errorf("lane abort: %v (-want +got):\n%s", err, diff)
	}
	_, err = c.LaneCommand(ctx, "shop", "blue", plan.Abort)
	wantStatus(t, "abort an unknown lane", err, http.StatusNotFound, adminapi.ErrNotFound, "lane shop/blue not found")
	agree(t, "GET /v1/lanes after abort", rt.Lanes, c.Lanes)

	// POST /v1/workloads/{ns}/{name}/kill: the replica as it was.
	var victim adminapi.PodStatus
	for _, p := range rt.Workloads() {
		if p.Workload == "Deployment shop/payment-v1" {
			victim = p
		}
	}
	killed, err := c.Kill(ctx, "shop", victim.Name)
	if diff := cmp.Diff(victim, killed, wire); err != nil || diff != "" {
		t.Errorf("kill: %v (-want +got):\n%s", err, diff)
	}
	_, err = c.Kill(ctx, "shop", "nope")
	wantStatus(t, "kill an unknown replica", err, http.StatusNotFound, adminapi.ErrNotFound, "no such replica")
}

// entryVersions names ServiceEntries as "namespace/name@resourceVersion".
func entryVersions(ses []*networkingv1.ServiceEntry) []string {
	out := []string{}
	for _, se := range ses {
		out = append(out, se.Namespace+"/"+se.Name+"@"+se.ResourceVersion)
	}
	return out
}

// An admin address where nothing listens: the error says what to check.
func TestClientUnreachable(t *testing.T) {
	c := adminapi.New("127.0.0.1:1")
	_, err := c.Rollouts(context.Background())
	var api *adminapi.APIError
	if err == nil || errors.As(err, &api) || !strings.Contains(err.Error(), "reach the runtime at http://127.0.0.1:1 (is `graylane up` running?") {
		t.Errorf("unreachable: %v", err)
	}
}

// A logs request goes over the wire as a query and back unchanged.
func TestLogsQueryRoundTrip(t *testing.T) {
	for _, lr := range []adminapi.LogsRequest{
		{Workload: "hello", Replica: -1, Tail: -1},
		{Workload: "rollout/web", Namespace: "ro", Replica: 0, Tail: 10, Follow: true},
	} {
		got, err := adminapi.ParseLogsQuery(lr.Query())
		if diff := cmp.Diff(lr, got); err != nil || diff != "" {
			t.Errorf("%+v: %v (-want +got):\n%s", lr, err, diff)
		}
	}
	for q, want := range map[string]string{
		"tail=3":                 "want ?workload=NAME",
		"workload=a&replica=x":   `replica="x": want a number`,
		"workload=a&tail=-2":     `tail="-2": want a number`,
		"workload=a&replica=1.5": `replica="1.5": want a number`,
	} {
		v, _ := url.ParseQuery(q)
		if _, err := adminapi.ParseLogsQuery(v); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", q, err, want)
		}
	}
}

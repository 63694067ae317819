package localapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/embedded"
	"github.com/graylane/graylane/internal/manifest"
)

const talkers = `apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec: {containers: [{name: c, image: hello}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ticker, namespace: shop}
spec:
  selector: {matchLabels: {app: ticker}}
  template:
    metadata: {labels: {app: ticker}}
    spec: {containers: [{name: c, image: ticker}]}
`

// graylane logs reads a running runtime's replica logs: all lines, one
// replica's tail, and a followed stream that ends with the context.
func TestLogsWithCLI(t *testing.T) {
	rt, err := embedded.New(embedded.Options{AdminAddr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", WatchInterval: -1, Executable: graylaneBin,
		Images: []string{"hello=echo hello from $POD_NAME; echo oops >&2; exec sleep 600", "ticker=i=0; while :; do i=$((i+1)); echo tick-$i; sleep 0.05; done"}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	<-rt.Started()
	set, err := manifest.LoadBytes("talkers.yaml", []byte(talkers))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Apply(set); err != nil {
		t.Fatal(err)
	}
	admin := rt.Addr()
	var pods []string
	for _, p := range rt.Workloads() {
		if p.Workload == "Deployment shop/hello" {
			pods = append(pods, p.Name)
		}
	}
	// Both replicas have written both lines (they are not ready: sleep listens nowhere).
	var out bytes.Buffer
	deadline := time.Now().Add(time.Minute)
	for strings.Count(out.String(), "\n") < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("logs of hello: %q", out.String())
		}
		out.Reset()
		if err := Logs(context.Background(), LogsOptions{Workload: "hello", Replica: -1, Tail: -1, Admin: admin}, &out); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range pods {
		for _, want := range []string{"[" + p + "] hello from " + p + "\n", "[" + p + "] oops\n"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("logs of hello lack %q:\n%s", want, out.String())
			}
		}
	}
	out.Reset()
	if err := Logs(context.Background(), LogsOptions{Workload: "hello", Namespace: "shop", Replica: 1, Tail: 1, Admin: admin}, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "oops\n" && got != "hello from "+pods[1]+"\n" {
		t.Errorf("tail 1 of replica 1: %q", got)
	}

	// Follow: new lines arrive until the context ends.
	fctx, stop := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	followed := make(chan error, 1)
	go func() {
		followed <- Logs(fctx, LogsOptions{Workload: "ticker", Replica: -1, Tail: 0, Follow: true, Admin: admin}, pw)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for i := 0; i < 3; i++ {
		if !sc.Scan() {
			t.Fatalf("follow ended early: %v", sc.Err())
		}
		if !strings.HasPrefix(sc.Text(), "tick-") {
			t.Errorf("followed line %q", sc.Text())
		}
	}
	stop()
	go io.Copy(io.Discard, pr)
	if err := <-followed; err != nil {
		t.Errorf("follow after cancel: %v", err)
	}

	err = Logs(context.Background(), LogsOptions{Workload: "nope", Replica: -1, Tail: -1, Admin: admin}, &out)
	var in *cli.InputError
	if !errors.As(err, &in) || !strings.Contains(err.Error(), `no workload or pod named "nope"`) {
		t.Errorf("unknown workload: %v, want an input error", err)
	}
}

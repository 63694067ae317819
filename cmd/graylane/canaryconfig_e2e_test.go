package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/graylane/graylane/internal/canaryconfig"
	"github.com/graylane/graylane/internal/kubetest"
	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosserver"
	"github.com/graylane/graylane/internal/tlstest"
)

// canaryRelease is Release default/order (its Rollout default/order, pods
// bound to the kwok node) with the sample image tag and, when rate is set,
// a canaryConfig publishing feature.discount-rate to Nacos' order.yaml.
func canaryRelease(node, tag, rate string) string {
	s := `apiVersion: graylane.io/v1alpha1
kind: Release
metadata: {name: order, namespace: default}
spec:
  services:
  - name: order
    replicas: 1
    template:
      metadata: {labels: {app: order}}
      spec:
        nodeName: ` + node + `
        containers: [{name: order, image: "graylane/sample:` + tag + `"}]
`
	if rate != "" {
		s += `    canaryConfig:
      properties: {feature.discount-rate: "` + rate + `"}
      nacos: {dataId: order.yaml}
`
	}
	return s + `  steps:
  - setWeight: 50
  - pause: {}
`
}

// podEnv is FEATURE_DISCOUNTRATE of every pod of the Rollout, by its
// pod-template-hash: the ReplicaSets' pods as the cluster holds them.
func podEnv(ctx context.Context, t *testing.T, c client.Client) map[string]string {
	t.Helper()
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace("default"), client.MatchingLabels{"app": "order"}); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		v := "(unset)"
		for _, e := range p.Spec.Containers[0].Env {
			if e.Name == "FEATURE_DISCOUNTRATE" {
				v = e.Value
			}
		}
		out[p.Labels[rolloutsv1alpha1.DefaultRolloutUniqueLabelKey]] = v
	}
	return out
}

// Canary configuration on a cluster with the real Argo Rollouts
// controller: the canary's pods run with the property, the stable's
// without; `apply --wait` publishes it to Nacos (a real local server)
// once the Rollout is fully promoted, records that on the Rollout, and
// does not publish again; an aborted update publishes nothing. Nacos
// serves mutual TLS: apply reaches it with --nacos-ca-file,
// --nacos-cert-file and --nacos-key-file.
func TestApplyCanaryConfigEndToEnd(t *testing.T) {
	env := kubetest.Start(t)
	ctrl := kubetest.StartControllers(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // bounds a hang, not speed
	defer cancel()
	ca := tlstest.NewCA(t, "nacos-ca")
	client := ca.Client("graylane")
	srv, err := nacosserver.Start(ctx, nacosserver.Options{Addr: "127.0.0.1:0", TLS: ca.ServerConfig(ca.Server("nacos", "127.0.0.1"), true)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	trust := nacosclient.TLSOptions{CAFile: ca.File, CertFile: client.CertFile, KeyFile: client.KeyFile}
	nc, err := nacosclient.New(ctx, nacosclient.Options{Server: srv.URL(), TLS: trust})
	if err != nil {
		t.Fatal(err)
	}
	content := func() string {
		cfg, err := nc.GetConfig(ctx, "order.yaml", "")
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Content
	}
	before := "feature:\n  discount-rate: 0.1\n"
	if err := nc.PublishConfig(ctx, "order.yaml", "", before, "yaml", ""); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	apply := func(tag, rate string, args ...string) (int, string) {
		file := filepath.Join(dir, tag+".yaml")
		if err := os.WriteFile(file, []byte(canaryRelease(ctrl.Node, tag, rate)), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if len(args) > 0 { // --wait: publishes (--nacos-server needs --wait)
			args = append(args, "--nacos-server", srv.URL(), "--nacos-ca-file", trust.CAFile, "--nacos-cert-file", trust.CertFile, "--nacos-key-file", trust.KeyFile)
		}
		args = append([]string{"apply", "-f", file, "--kubeconfig", env.Kubeconfig}, args...)
		code := run(ctx, args, &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	if code, out := apply("1.0", "", "--wait", "--timeout", "8m"); code != 0 || !strings.Contains(out, "Rollout default/order: Healthy") || strings.Contains(out, "canary configuration") {
		t.Fatalf("first apply --wait: exit %d\n%s", code, out)
	}
	var ro rolloutsv1alpha1.Rollout
	if err := env.Client.Get(ctx, rolloutKey(), &ro); err != nil {
		t.Fatal(err)
	}
	stable := ro.Status.StableRS

	if code, out := apply("2.0", "0.2"); code != 0 {
		t.Fatalf("apply of 2.0 with canaryConfig: exit %d\n%s", code, out)
	}
	waitPaused(ctx, t, env)
	if err := env.Client.Get(ctx, rolloutKey(), &ro); err != nil {
		t.Fatal(err)
	}
	canary := ro.Status.CurrentPodHash
	if d := cmp.Diff(map[string]string{stable: "(unset)", canary: "0.2"}, podEnv(ctx, t, env.Client)); d != "" {
		t.Errorf("FEATURE_DISCOUNTRATE of the pods by template hash (-want +got):\n%s", d)
	}
	if got := content(); got != before {
		t.Errorf("Nacos during the canary: %q, want it untouched", got)
	}

	promote(ctx, t, env)
	code, out := apply("2.0", "0.2", "--wait", "--timeout", "8m")
	if code != 0 || !strings.Contains(out, "Rollout default/order: canary configuration Published - published to nacos order.yaml (group DEFAULT_GROUP)") {
		t.Fatalf("apply --wait after promote: exit %d\n%s", code, out)
	}
	merged := "feature:\n  discount-rate: \"0.2\"\n"
	if d := cmp.Diff(merged, content()); d != "" {
		t.Errorf("Nacos after the promotion (-want +got):\n%s", d)
	}
	if err := env.Client.Get(ctx, rolloutKey(), &ro); err != nil {
		t.Fatal(err)
	}
	if got := ro.Annotations[canaryconfig.PublishedAnnotation]; got != canary {
		t.Errorf("annotation %s = %q, want the promoted hash %s", canaryconfig.PublishedAnnotation, got, canary)
	}

	// Somebody edits Nacos; applying the same Release again keeps the edit.
	edited := "feature:\n  discount-rate: \"0.25\"\n"
	if err := nc.PublishConfig(ctx, "order.yaml", "", edited, "yaml", ""); err != nil {
		t.Fatal(err)
	}
	if code, out := apply("2.0", "0.2", "--wait", "--timeout", "8m"); code != 0 || !strings.Contains(out, "canary configuration AlreadyPublished") {
		t.Fatalf("apply --wait again: exit %d\n%s", code, out)
	}
	if got := content(); got != edited {
		t.Errorf("Nacos after applying again: %q, want the edit %q kept", got, edited)
	}

	// An aborted update publishes nothing.
	if code, out := apply("3.0", "0.5"); code != 0 {
		t.Fatalf("apply of 3.0: exit %d\n%s", code, out)
	}
	waitPaused(ctx, t, env)
	abort(ctx, t, env)
	code, out = apply("3.0", "0.5", "--wait", "--timeout", "8m")
	if code != 1 || !strings.Contains(out, "Degraded") || !strings.Contains(out, "canary configuration NotPublished - the rollout was aborted") {
		t.Fatalf("apply --wait of an aborted update: exit %d, want 1\n%s", code, out)
	}
	if got := content(); got != edited {
		t.Errorf("Nacos after the abort: %q, want %q", got, edited)
	}
}

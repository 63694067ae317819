package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRenderGolden runs render, convert and lint and compares
// stdout+stderr with testdata/NAME.golden.
func TestRenderGolden(t *testing.T) {
	const ex = "../../examples/"
	tests := []struct {
		name     string
		args     []string
		wantCode int
	}{
		{"render-seed001", []string{"render", "-f", ex + "kubernetes/seed001.yaml"}, 0},
		{"render-seed000-json", []string{"render", "-f", ex + "kubernetes/seed000.yaml", "-o", "json"}, 0},
		{"render-layout-services", []string{"render", "-f", ex + "kubernetes/seed001.yaml", "--layout", "services"}, 0},
		{"convert-seed001", []string{"convert", "-f", ex + "kubernetes/testdata/deployment.yaml", "--steps", "10,pause,50,pause=5m", "--header", "x-gray"}, 0},
		{"lint-seed001-ok", []string{"lint", "-f", ex + "seed001"}, 0},
		{"lint-broken", []string{"lint", "-f", ex + "kubernetes/testdata/broken.yaml"}, 1},
		{"lint-broken-json", []string{"lint", "-f", ex + "kubernetes/testdata/broken.yaml", "-o", "json"}, 1},
		{"error-render-invalid", []string{"render", "-f", ex + "kubernetes/testdata/invalid-release.yaml"}, 2},
		{"error-render-no-release", []string{"render", "-f", ex + "seed001"}, 2},
		{"error-render-layout", []string{"render", "-f", ex + "kubernetes/seed001.yaml", "--layout", "hosts"}, 2},
		{"render-lanes", []string{"render", "-f", ex + "lanes"}, 0},
		{"simulate-lanes", []string{"simulate", "-f", ex + "lanes", "--url", "http://shop.example/", "--gateway", "shop/shop-gateway",
			"--calls", "order->payment,payment->logistics", "--propagate", "x-graylane", "--requests", "2000"}, 0},
		{"route-lanes-header", []string{"route", "-f", ex + "lanes", "--url", "http://shop.example/", "--gateway", "shop/shop-gateway", "-H", "x-canary: true"}, 0},
		{"lane-sign-no-key", []string{"lane", "sign", "gray"}, 2},
		{"error-convert-steps", []string{"convert", "-f", ex + "kubernetes/testdata/deployment.yaml", "--steps", "10,wait"}, 2},
		// A Rollout Argo Rollouts finds invalid is refused by every command
		// that reads it, at its line.
		{"lint-unsafe-rollout", []string{"lint", "-f", ex + "kubernetes/testdata/unsafe-rollout.yaml"}, 2},
		{"route-unsafe-rollout", []string{"route", "-f", ex + "kubernetes/testdata/unsafe-rollout.yaml", "--url", "http://order.shop:8080/"}, 2},
		{"simulate-unsafe-rollout", []string{"simulate", "-f", ex + "kubernetes/testdata/unsafe-rollout.yaml", "--url", "http://order.shop:8080/"}, 2},
		{"render-unsafe-rollout", []string{"render", "-f", ex + "kubernetes/testdata/unsafe-rollout.yaml"}, 2},
		{"convert-unsafe-rollout", []string{"convert", "-f", ex + "kubernetes/testdata/unsafe-rollout.yaml"}, 2},
		{"up-unsafe-rollout", []string{"up", "-f", ex + "kubernetes/testdata/unsafe-rollout.yaml", "--admin", "127.0.0.1:0", "--client-proxy", "", "--gateway-port", "0"}, 2},
		// Documents no command evaluates: a located warning each, with a
		// "did you mean" for near misses.
		{"route-ignored-kinds", []string{"route", "-f", ex + "kubernetes/testdata/ignored-kinds.yaml", "--url", "http://order.shop:8080/"}, 0},
		{"simulate-ignored-kinds", []string{"simulate", "-f", ex + "kubernetes/testdata/ignored-kinds.yaml", "--url", "http://order.shop:8080/", "--requests", "10"}, 0},
		{"lint-ignored-kinds", []string{"lint", "-f", ex + "kubernetes/testdata/ignored-kinds.yaml"}, 0},
		{"render-ignored-kinds", []string{"render", "-f", ex + "kubernetes/testdata/ignored-kinds.yaml"}, 2},
		{"convert-ignored-kinds", []string{"convert", "-f", ex + "kubernetes/testdata/ignored-kinds.yaml"}, 2},
		// Rollout features graylane up does not run: information for lint
		// (a failure with --local), refused by up at their field.
		{"lint-not-local", []string{"lint", "-f", ex + "kubernetes/testdata/not-local.yaml"}, 0},
		{"lint-not-local-strict", []string{"lint", "-f", ex + "kubernetes/testdata/not-local.yaml", "--local"}, 1},
		{"up-not-local", []string{"up", "-f", ex + "kubernetes/testdata/not-local.yaml", "--admin", "127.0.0.1:0", "--client-proxy", "", "--gateway-port", "0"}, 2},
		{"convert-seed004", []string{"convert", "-f", ex + "seed004"}, 0},
		{"convert-seed004-first-apply", []string{"convert", "-f", ex + "seed004/v1.yaml", "-f", ex + "seed004/v2.yaml", "--first-apply"}, 0},
		{"convert-seed004-choose", []string{"convert", "-f", ex + "seed004/v1.yaml", "-f", ex + "seed004/v2.yaml", "--canary-version", "appa=v1", "--no-analysis", "-d", "{dir}", "-o", "json"}, 0},
		{"error-convert-collide", []string{"convert", "-f", "testdata/convert-collide.yaml"}, 2},
		{"error-convert-version", []string{"convert", "-f", ex + "seed004/v1.yaml", "-f", ex + "seed004/v2.yaml", "--stable-version", "v3"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			dir := t.TempDir()
			args := slices.Clone(tc.args)
			for i := range args {
				args[i] = strings.ReplaceAll(args[i], "{dir}", dir)
			}
			code := run(context.Background(), args, &out, &out)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tc.wantCode, out.String())
			}
			compareGolden(t, filepath.Join("testdata", tc.name+".golden"), bytes.ReplaceAll(out.Bytes(), []byte(dir), []byte("DIR")))
		})
	}
}

func compareGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

// TestRenderOutputDir writes one file per object, removes stale generated
// files of an earlier run, and keeps other files.
func TestRenderOutputDir(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "99-shop-rollout-gone.yaml")
	mine := filepath.Join(dir, "README.md")
	for _, p := range []string{stale, mine} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	args := []string{"render", "-f", "../../examples/kubernetes/seed001.yaml", "-d", dir, "--kustomization"}
	if code := run(context.Background(), args, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	var got []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			got = append(got, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"1-shop-analysistemplate-shop-success-rate.yaml", "2-shop-analysistemplate-shop-latency.yaml",
		"3-shop-analysistemplate-shop-request-rate.yaml", "4-shop-service-order.yaml", "5-shop-destinationrule-order.yaml",
		"6-shop-virtualservice-order.yaml", "7-shop-poddisruptionbudget-order.yaml", "8-shop-rollout-order.yaml",
		"README.md", "argocd/9-argocd-application-shop.yaml", "kustomization.yaml",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	// The folder lints clean, the Application included.
	out.Reset()
	if code := run(context.Background(), []string{"lint", "-f", dir}, &out, &out); code != 0 || !strings.Contains(out.String(), "no findings") {
		t.Errorf("lint of the output: exit %d\n%s", code, out.String())
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/gateclient"
)

func writeSecret(t *testing.T, path, secret string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServe runs graylane-gate serve on SQLite until its context ends: it
// prints the address it listens on (JSON with -o json), answers there, and
// stops cleanly (exit 0) when told to.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	token, key := filepath.Join(dir, "token"), filepath.Join(dir, "key")
	writeSecret(t, token, "serve-test-token-0123456789\n")
	writeSecret(t, key, strings.Repeat("k", 40))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"serve", "--db", "sqlite://" + filepath.Join(dir, "gate.db"), "--listen", "127.0.0.1:0",
			"--admin-token-file", token, "--cookie-key-file", key, "-o", "json"}, pw, &errb)
		pw.Close()
		done <- code
	}()
	var info struct{ Listen string }
	if err := json.NewDecoder(pr).Decode(&info); err != nil {
		t.Fatalf("serve printed no JSON address: %v", err) // the pipe closes when serve ends
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if !strings.HasPrefix(info.Listen, "http://127.0.0.1:") {
		t.Fatalf("listen %q, want http://127.0.0.1:PORT", info.Listen)
	}
	c := &gateclient.Client{Base: info.Listen, Token: "serve-test-token-0123456789"}
	got, err := c.Decide(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	want := gateclient.Decision{Lane: "base", Reason: "none", Source: "hash", Bucket: 72}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decide (-want +got):\n%s", diff)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d after its context ended, want 0: %s", code, errb.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop within a minute of its context ending")
	}
}

// TestBadCommandLine: a word that is no command and an unknown flag are bad
// input (exit 2) with a message.
func TestBadCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nosuch"}, `unknown command "nosuch" for "graylane-gate"`},
		{[]string{"--nope"}, "unknown flag: --nope"},
		{[]string{"serve", "extra"}, `graylane-gate serve: unknown command "extra"`},
		{[]string{"serve", "-o", "xml"}, `--output "xml"`},
		{[]string{"serve", "--listen", "8470"}, `--listen "8470": missing port`},
		{[]string{"serve", "--listen", ":99999"}, `port "99999" is not a number 0..65535`},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), tc.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("graylane-gate %v = %d, %q; want 2 with %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

// TestGateLinksNoManifests: graylane-gate reads no manifests, so it links
// neither the loader nor the Kubernetes, Istio and Argo types (about 25 MB
// of the binary when internal/cli still held the loader).
func TestGateLinksNoManifests(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, no := range []string{"github.com/graylane/graylane/internal/manifest", "k8s.io/api/", "istio.io/", "github.com/argoproj/"} {
			if dep == no || strings.HasPrefix(dep, no) {
				t.Errorf("cmd/graylane-gate links %s", dep)
			}
		}
	}
}

// TestNoSQLDriverInGraylane: the SQL drivers are graylane-gate's alone;
// the graylane binary links none of them (issue #15: about 12 MB).
func TestNoSQLDriverInGraylane(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../graylane").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, driver := range []string{"modernc.org/sqlite", "github.com/jackc/pgx/", "github.com/go-sql-driver/mysql", "database/sql"} {
			if dep == driver || strings.HasPrefix(dep, driver) {
				t.Errorf("cmd/graylane links %s", dep)
			}
		}
	}
}

// Bad serve configuration is bad input (exit 2), each case refused for its
// own reason, every other setting valid; secrets are refused before the
// store is opened, so no database is created.
func TestGateServeBadConfig(t *testing.T) {
	dir := t.TempDir()
	token, key, short := filepath.Join(dir, "token"), filepath.Join(dir, "key"), filepath.Join(dir, "short")
	writeSecret(t, token, "cli-test-token-0123456789\n")
	writeSecret(t, key, strings.Repeat("k", 40))
	writeSecret(t, short, "short")
	db := "sqlite://" + filepath.Join(dir, "g.db")
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"bad DSN", []string{"--db", "redis://x", "--admin-token-file", token, "--cookie-key-file", key}, `unknown scheme "redis"`},
		{"missing token file", []string{"--db", db, "--admin-token-file", filepath.Join(dir, "nope"), "--cookie-key-file", key}, "admin token: read secret: open " + filepath.Join(dir, "nope")},
		{"short token", []string{"--db", db, "--admin-token-file", short, "--cookie-key-file", key}, "admin token: want at least"},
		{"short cookie key", []string{"--db", db, "--admin-token-file", token, "--cookie-key-file", short}, "cookie key: want at least 32 bytes"},
		{"unknown flag", []string{"--nope"}, "unknown flag: --nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"serve", "--listen", "127.0.0.1:0"}, tc.args...), &out, &errb)
			if code != 2 || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("graylane-gate serve %v = %d, want 2 with %q in:\n%s", tc.args, code, tc.want, errb.String())
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "g.db")); !os.IsNotExist(err) {
		t.Errorf("graylane-gate serve with bad secrets created its SQLite database (stat: %v)", err)
	}
}

// graylane-gate serve listens on loopback unless told otherwise (docs/gate.md).
func TestGateServeListensOnLoopback(t *testing.T) {
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{})
	serve, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	if got := serve.Flags().Lookup("listen").DefValue; got != "127.0.0.1:8470" {
		t.Errorf("--listen default %q, want 127.0.0.1:8470", got)
	}
}

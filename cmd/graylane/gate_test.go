package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/gate"
)

// runGate runs `graylane gate ARGS` the way run does, with a CSV line on
// standard input.
func runGate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetIn(strings.NewReader("user,carol,v2\n"))
	root.SetArgs(append([]string{"gate"}, args...))
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "graylane: %v\n", err)
	}
	return exitCode(err)
}

// serveGate runs a gate (the server of graylane-gate serve, in this
// process) on SQLite in dir until the test ends and returns the address
// it listens on: the server binds the port itself and says which, so no
// other process can take it in between.
func serveGate(t *testing.T, dir, token, key string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	o := gate.ServeOptions{
		DSN: "sqlite://" + filepath.Join(dir, "gate.db"), Listen: "127.0.0.1:0",
		AdminTokenFile: token, CookieKeyFile: key,
		Cookie: gate.CookieOptions{MaxAge: 24 * time.Hour, Secure: true, LaneName: "graylane-lane", BucketName: "graylane-bucket"},
	}
	ready := make(chan string, 1)
	o.Ready = func(addr string) { ready <- addr }
	done := make(chan error, 1)
	go func() { done <- gate.Serve(ctx, o, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gate: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("gate did not stop within a minute of its context ending")
		}
	})
	select {
	case addr := <-ready:
		return addr
	case err := <-done:
		t.Fatalf("gate ended before serving: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatalf("gate not serving after 2m")
	}
	return ""
}

// TestGateCLI starts a gate on SQLite and drives it with the client
// commands.
func TestGateCLI(t *testing.T) {
	dir := t.TempDir()
	token, key := filepath.Join(dir, "token"), filepath.Join(dir, "key")
	writeSecret(t, token, "cli-test-token-0123456789\n")
	writeSecret(t, key, strings.Repeat("k", 40))
	addr := serveGate(t, dir, token, key)
	cl := []string{"--server", "http://" + addr, "--token-file", token}
	tests := []struct {
		args     []string
		wantCode int
		want     string // substring of stdout (or stderr on failure)
	}{
		{[]string{"lane", "set", "v2", "0"}, 0, "lane v2 weight 0"},
		{[]string{"whitelist", "add", "user", "alice", "v2", "--note", "qa"}, 0, "user alice -> v2"},
		{[]string{"whitelist", "add", "user", "bob", "v9"}, 2, "unknown_lane"},
		{[]string{"whitelist", "add", "user", "b b", "v2"}, 2, "bad_request"},
		{[]string{"whitelist", "import", "-"}, 0, "imported 1 entry (version"},
		{[]string{"whitelist", "ls", "-o", "json"}, 0, `"id": "carol"`},
		{[]string{"decide", "--user", "alice"}, 0, "lane: v2\nreason: whitelist (user)\nbucket: 72\n"},
		{[]string{"decide", "--user", "dave", "-o", "yaml"}, 0, "lane: base"},
		{[]string{"decide"}, 2, "give --user"},
		{[]string{"decide", "--user", "x", "-o", "xml"}, 2, "--output"},
		{[]string{"whitelist", "rm", "user", "alice"}, 0, "deleted user/alice"},
		{[]string{"whitelist", "rm", "user", "alice"}, 2, "not_found"},
		{[]string{"lane", "ls"}, 0, "v2    0       0%"},
		{[]string{"whitelist", "add", "user"}, 2, "accepts 3 arg(s)"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := runGate(context.Background(), append(tt.args, cl...), &out, &errb)
		got := out.String() + errb.String()
		if code != tt.wantCode || !strings.Contains(got, tt.want) {
			t.Errorf("gate %v = %d %q; want %d containing %q", tt.args, code, got, tt.wantCode, tt.want)
		}
	}
	var out, errb bytes.Buffer
	if code := runGate(context.Background(), append([]string{"decide", "--user", "alice", "-o", "json"}, cl...), &out, &errb); code != 0 {
		t.Fatalf("decide: %d %s", code, errb.String())
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"lane": "base", "reason": "none", "source": "hash", "bucket": float64(72)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decide json (-want +got):\n%s", diff)
	}
}

func writeSecret(t *testing.T, path, secret string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
}

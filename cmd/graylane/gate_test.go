package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// runGate runs `graylane gate ARGS` the way run does, with a CSV line on
// standard input.
func runGate(ctx context.Context, args []string, stdout, stderr *bytes.Buffer) int {
	root := newRootCmd(stdout, stderr)
	root.SetIn(strings.NewReader("user,carol,v2\n"))
	root.SetArgs(append([]string{"gate"}, args...))
	err := root.ExecuteContext(ctx)
	if err != nil {
		stderr.WriteString("graylane: " + err.Error() + "\n")
	}
	return exitCode(err)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestGateCLI starts `gate serve` on SQLite and drives it with the client
// commands.
func TestGateCLI(t *testing.T) {
	dir := t.TempDir()
	token, key := filepath.Join(dir, "token"), filepath.Join(dir, "key")
	os.WriteFile(token, []byte("cli-test-token-0123456789\n"), 0o600)
	os.WriteFile(key, []byte(strings.Repeat("k", 40)), 0o600)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var serveOut, serveErr bytes.Buffer
	go func() {
		done <- runGate(ctx, []string{"serve", "--db", "sqlite://" + filepath.Join(dir, "gate.db"), "--listen", addr,
			"--admin-token-file", token, "--cookie-key-file", key}, &serveOut, &serveErr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, serveErr.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gate did not listen: %s", serveErr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
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

func TestGateServeBadConfig(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	os.WriteFile(key, []byte("short"), 0o600)
	for _, args := range [][]string{
		{"serve", "--db", "redis://x", "--admin-token-file", key, "--cookie-key-file", key},
		{"serve", "--db", "sqlite://" + filepath.Join(dir, "g.db"), "--admin-token-file", filepath.Join(dir, "nope"), "--cookie-key-file", key},
		{"serve", "--db", "sqlite://" + filepath.Join(dir, "g.db"), "--admin-token-file", key, "--cookie-key-file", key},
		{"serve", "--nope"},
	} {
		var out, errb bytes.Buffer
		if code := runGate(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("gate %v = %d, want 2; %s", args, code, errb.String())
		}
	}
	// The secrets are refused before the store is opened: no database.
	if _, err := os.Stat(filepath.Join(dir, "g.db")); !os.IsNotExist(err) {
		t.Errorf("gate serve with bad secrets created its SQLite database (stat: %v)", err)
	}
}

// gate serve listens on loopback unless told otherwise (docs/gate.md).
func TestGateServeListensOnLoopback(t *testing.T) {
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{})
	serve, _, err := root.Find([]string{"gate", "serve"})
	if err != nil {
		t.Fatal(err)
	}
	if got := serve.Flags().Lookup("listen").DefValue; got != "127.0.0.1:8470" {
		t.Errorf("--listen default %q, want 127.0.0.1:8470", got)
	}
}

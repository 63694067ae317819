package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveGate runs `graylane gate serve ARGS --listen 127.0.0.1:0 -o json`
// until the test ends and returns the address it listens on: the server
// binds the port itself and says which, so no other process can take it
// in between.
func serveGate(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	pr, pw := io.Pipe()
	serveErr := &syncBuffer{}
	go func() {
		code := runGate(ctx, append(append([]string{"serve"}, args...), "--listen", "127.0.0.1:0", "-o", "json"), pw, serveErr)
		pw.Close()
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d: %s", code, serveErr.String())
			}
		case <-time.After(time.Minute):
			t.Errorf("serve did not stop within a minute of its context ending")
		}
	})
	listening := make(chan string, 1)
	go func() {
		var info struct{ Listen string }
		err := json.NewDecoder(pr).Decode(&info)
		if err != nil {
			info.Listen = "(" + err.Error() + ")"
		}
		listening <- info.Listen
		_, _ = io.Copy(io.Discard, pr) // whatever else serve prints, so it never blocks
	}()
	select {
	case l := <-listening:
		if !strings.HasPrefix(l, "http://127.0.0.1:") {
			t.Fatalf("serve printed no listening address (%q): %s", l, serveErr.String())
		}
		return strings.TrimPrefix(l, "http://")
	case <-time.After(2 * time.Minute):
		t.Fatalf("gate not serving after 2m: %s", serveErr.String())
		return ""
	}
}

// TestGateCLI starts `gate serve` on SQLite and drives it with the client
// commands.
func TestGateCLI(t *testing.T) {
	dir := t.TempDir()
	token, key := filepath.Join(dir, "token"), filepath.Join(dir, "key")
	writeSecret(t, token, "cli-test-token-0123456789\n")
	writeSecret(t, key, strings.Repeat("k", 40))
	addr := serveGate(t, "--db", "sqlite://"+filepath.Join(dir, "gate.db"), "--admin-token-file", token, "--cookie-key-file", key)
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
			code := runGate(context.Background(), append([]string{"serve", "--listen", "127.0.0.1:0"}, tc.args...), &out, &errb)
			if code != 2 || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("gate serve %v = %d, want 2 with %q in:\n%s", tc.args, code, tc.want, errb.String())
			}
		})
	}
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

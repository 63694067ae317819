package gateclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/gate"
	"github.com/graylane/graylane/internal/gate/store"
	"github.com/graylane/graylane/internal/gateclient"
)

const token = "follower-test-token-0123456789"

// gateServer is a real gate over a SQLite file, served on loopback.
type gateServer struct {
	g    *gate.Gate
	srv  *http.Server
	addr string
	done chan struct{}
}

// startGate serves a gate over dsn on addr ("127.0.0.1:0" for any port;
// an address a stopped gate used, to bring it back).
func startGate(t *testing.T, dsn, addr string, o gate.HandlerOptions) *gateServer {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := store.Open(ctx, dsn, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	signer, err := gate.NewSigner(gate.CookieOptions{Key: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	o.AdminToken = token
	g, err := gate.New(ctx, st, signer, log, o)
	if err != nil {
		t.Fatal(err)
	}
	go g.Snapshots.Run(ctx, 200*time.Millisecond, time.Second)
	ln := listen(t, addr)
	s := &gateServer{g: g, srv: &http.Server{Handler: g.Handler}, addr: ln.Addr().String(), done: make(chan struct{})}
	s.srv.RegisterOnShutdown(g.Snapshots.Close)
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	t.Cleanup(s.stop)
	return s
}

// listen binds addr, retrying while a just-closed listener still holds it.
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop closes the listener and every connection, held long polls too.
func (s *gateServer) stop() {
	_ = s.srv.Close()
	<-s.done
}

func (s *gateServer) client() *gateclient.Client {
	return &gateclient.Client{Base: "http://" + s.addr, Token: token}
}

// logBuffer is a slog destination tests read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// waitFor polls cond until it holds or a generous deadline passes; it
// returns how long that took.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 60*time.Second {
			t.Fatalf("%s: not within 60s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func follow(t *testing.T, base string, log *slog.Logger) *gateclient.Follower {
	t.Helper()
	f := gateclient.NewFollower(base, token, log, gateclient.FollowerOptions{Retry: 50 * time.Millisecond, MaxRetry: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

func laneOf(f *gateclient.Follower, user string) string {
	if w := f.Whitelist(); w != nil {
		return w.Users[user].Lane
	}
	return ""
}

// TestFollowerFollowsChanges: a change made through the gate, and one made
// by another replica on the same store, reach the follower without a
// restart; the test logs how long each took (the design bound is a long
// poll answered at once, plus the 200ms store poll for the other replica).
func TestFollowerFollowsChanges(t *testing.T) {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "gate.db")
	g := startGate(t, dsn, "127.0.0.1:0", gate.HandlerOptions{})
	other := startGate(t, dsn, "127.0.0.1:0", gate.HandlerOptions{})
	ctx := context.Background()
	if _, err := g.client().SetLane(ctx, "gray", 10); err != nil {
		t.Fatal(err)
	}
	f := follow(t, "http://"+g.addr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	waitFor(t, "first snapshot", func() bool { return f.Status().Loaded })

	if _, err := g.client().AddEntry(ctx, gateclient.EntryRequest{Kind: "user", ID: "bob", Lane: "gray"}); err != nil {
		t.Fatal(err)
	}
	same := waitFor(t, "bob through the followed gate", func() bool { return laneOf(f, "bob") == "gray" })

	if _, err := other.client().AddEntry(ctx, gateclient.EntryRequest{Kind: "user", ID: "carol", Lane: "base"}); err != nil {
		t.Fatal(err)
	}
	replica := waitFor(t, "carol through another replica", func() bool { return laneOf(f, "carol") == "base" })
	st := f.Status()
	if st.Stale || st.Entries != 2 || st.Version != g.g.Snapshots.Current().Version {
		t.Errorf("status %+v, want fresh with 2 entries at version %d", st, g.g.Snapshots.Current().Version)
	}
	t.Logf("change seen by the follower %v after the write returned (same replica), %v (other replica)",
		same.Round(time.Millisecond), replica.Round(time.Millisecond))
}

// TestFollowerKeepsLastKnown: with the gate down the follower keeps the
// last whitelist, says so once in the log however often it retries, and
// picks up changes again once the gate is back.
func TestFollowerKeepsLastKnown(t *testing.T) {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "gate.db")
	g := startGate(t, dsn, "127.0.0.1:0", gate.HandlerOptions{})
	ctx := context.Background()
	if _, err := g.client().SetLane(ctx, "gray", 10); err != nil {
		t.Fatal(err)
	}
	if _, err := g.client().AddEntry(ctx, gateclient.EntryRequest{Kind: "user", ID: "bob", Lane: "gray"}); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	f := follow(t, "http://"+g.addr, slog.New(slog.NewTextHandler(&logs, nil)))
	waitFor(t, "bob", func() bool { return laneOf(f, "bob") == "gray" })
	version := f.Whitelist().Version

	g.stop()
	waitFor(t, "three failed refreshes", func() bool { return f.Status().Failures >= 3 })
	st := f.Status()
	if !st.Stale || st.Error == "" || f.Whitelist() == nil || f.Whitelist().Version != version || laneOf(f, "bob") != "gray" {
		t.Errorf("gate down: status %+v, whitelist version %d; want stale, the last-known whitelist (version %d) kept", st, f.Whitelist().Version, version)
	}
	if n := logs.count("gate unreachable"); n != 1 {
		t.Errorf("%d log lines say the gate is unreachable, want 1:\n%s", n, logs.b.String())
	}

	back := startGate(t, dsn, g.addr, gate.HandlerOptions{})
	if _, err := back.client().AddEntry(ctx, gateclient.EntryRequest{Kind: "user", ID: "carol", Lane: "gray"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "carol after the gate came back", func() bool { return laneOf(f, "carol") == "gray" })
	if st := f.Status(); st.Stale || st.Failures != 0 {
		t.Errorf("gate back: status %+v, want fresh", st)
	}
	if n := logs.count("gate reachable again"); n != 1 {
		t.Errorf("%d log lines say the gate is back, want 1", n)
	}
}

// TestFollowerBeforeFirstSnapshot: a gate that cannot be reached from the
// start leaves no whitelist (it admits nobody) and a stale status.
func TestFollowerBeforeFirstSnapshot(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there
	var logs logBuffer
	f := follow(t, "http://"+addr, slog.New(slog.NewTextHandler(&logs, nil)))
	waitFor(t, "two failed refreshes", func() bool { return f.Status().Failures >= 2 })
	if st := f.Status(); f.Whitelist() != nil || st.Loaded || !st.Stale {
		t.Errorf("status %+v, whitelist %v: want none loaded, stale", st, f.Whitelist())
	}
	if n := logs.count("admits nobody"); n != 1 {
		t.Errorf("%d log lines say the whitelist admits nobody, want 1", n)
	}
}

// TestSnapshotClient: the client's conditional fetch.
func TestSnapshotClient(t *testing.T) {
	g := startGate(t, "sqlite://"+filepath.Join(t.TempDir(), "gate.db"), "127.0.0.1:0", gate.HandlerOptions{})
	ctx := context.Background()
	c := g.client()
	snap, changed, err := c.Snapshot(ctx, -1, 0)
	if err != nil || !changed {
		t.Fatalf("first fetch: changed %v, %v", changed, err)
	}
	if _, changed, err := c.Snapshot(ctx, snap.Version, 0); err != nil || changed {
		t.Errorf("current version: changed %v, %v; want unchanged", changed, err)
	}
	bad := &gateclient.Client{Base: c.Base, Token: "wrong-token-0123456789"}
	var se *gateclient.StatusError
	if _, _, err := bad.Snapshot(ctx, -1, 0); !errors.As(err, &se) || se.Status != 401 {
		t.Errorf("wrong token: %v, want a 401 StatusError", err)
	}
}

package embedded

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/gate"
	gatestore "github.com/graylane/graylane/internal/gate/store"
	"github.com/graylane/graylane/internal/gateclient"
)

// TestNoSQLInRuntime: the runtime links no SQL driver, nor database/sql,
// nor the gate's server and store: it reaches gates through
// internal/gateclient. (database/sql/driver, the standard library's
// interfaces, comes with github.com/google/uuid and oklog/ulid, which the
// Prometheus libraries of the embedded Prometheus use; it is no driver.)
func TestNoSQLInRuntime(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	bad := regexp.MustCompile(`(?i)sql|mysql|pgx|lib/pq|/internal/gate$|/internal/gate/`)
	var found []string
	for _, p := range strings.Fields(string(out)) {
		if bad.MatchString(p) && p != "database/sql/driver" {
			found = append(found, p)
		}
	}
	if len(found) > 0 {
		t.Errorf("internal/embedded links %v", found)
	}
}

// countingGate is a real gate over SQLite on loopback that counts the
// requests it serves by path.
type countingGate struct {
	g    *gate.Gate
	srv  *http.Server
	addr string
	done chan struct{}
	mu   sync.Mutex
	hits map[string]int
}

const gateTestToken = "runtime-gate-token-0123456789"

func startCountingGate(t *testing.T, dsn, addr string) *countingGate {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := gatestore.Open(ctx, dsn, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	signer, err := gate.NewSigner(gate.CookieOptions{Key: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(ctx, st, signer, log, gate.HandlerOptions{AdminToken: gateTestToken})
	if err != nil {
		t.Fatal(err)
	}
	go g.Snapshots.Run(ctx, 200*time.Millisecond, time.Second)
	var ln net.Listener
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	c := &countingGate{g: g, addr: ln.Addr().String(), done: make(chan struct{}), hits: map[string]int{}}
	c.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.hits[r.URL.Path]++
		c.mu.Unlock()
		g.Handler.ServeHTTP(w, r)
	})}
	c.srv.RegisterOnShutdown(g.Snapshots.Close)
	go func() {
		defer close(c.done)
		_ = c.srv.Serve(ln)
	}()
	t.Cleanup(c.stop)
	return c
}

func (c *countingGate) stop() {
	_ = c.srv.Close()
	<-c.done
}

func (c *countingGate) count(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits[path]
}

func (c *countingGate) client() *gateclient.Client {
	return &gateclient.Client{Base: "http://" + c.addr, Token: gateTestToken}
}

// TestLaneGateWhitelist: a lane whose whitelist names a real gate admits
// the users the gate's whitelist puts in it; a whitelist change reaches
// the edge without a restart; with the gate down, lane entry keeps the
// last-known whitelist (and says so in the metrics); no gateway request
// makes a call to the gate.
func TestLaneGateWhitelist(t *testing.T) {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "gate.db")
	g := startCountingGate(t, dsn, "127.0.0.1:0")
	ctx := context.Background()
	if _, err := g.client().SetLane(ctx, "gray", 0); err != nil {
		t.Fatal(err)
	}
	base := "http://" + g.addr
	doc := strings.Replace(laneYAMLNoUsers(t), "    whitelist:\n", "    whitelist:\n      gate: "+base+"\n", 1)
	r := startWith(t, func(o *Options) { o.GateToken = gateTestToken }, []string{laneShop(t, doc)})
	path := func(user string) string {
		t.Helper()
		code, body, err := r.try(false, "shop.example", "x-user-id", user)
		if err != nil || code != 200 {
			t.Fatalf("%s: %d %q %v", user, code, body, err)
		}
		return body
	}
	if got := path("bob"); got != basePath {
		t.Fatalf("bob before the whitelist: %q, want %q", got, basePath)
	}
	if _, err := g.client().AddEntry(ctx, gateclient.EntryRequest{Kind: "user", ID: "bob", Lane: "gray"}); err != nil {
		t.Fatal(err)
	}
	added := time.Now()
	waitUntil(t, "bob in the lane", func() bool { return path("bob") == lanePath })
	t.Logf("whitelist change reached the edge %v after the write returned", time.Since(added).Round(time.Millisecond))
	if got := path("carol"); got != basePath {
		t.Errorf("carol: %q, want %q", got, basePath)
	}

	g.stop()
	waitUntil(t, "the runtime to see the gate down", func() bool {
		st := r.rt.gates.statuses()
		return len(st) == 1 && st[0].Stale && st[0].Failures >= 2
	})
	for range 20 {
		if got := path("bob"); got != lanePath {
			t.Fatalf("bob with the gate down: %q, want %q (the last-known whitelist)", got, lanePath)
		}
	}
	if !metricsContain(t, r, `graylane_gate_whitelist_stale{gate="`+base+`"} 1`) {
		t.Error("metrics do not say the whitelist is stale")
	}

	back := startCountingGate(t, dsn, g.addr)
	if _, err := back.client().AddEntry(ctx, gateclient.EntryRequest{Kind: "user", ID: "carol", Lane: "gray"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "carol in the lane once the gate is back", func() bool { return path("carol") == lanePath })
	if !metricsContain(t, r, `graylane_gate_whitelist_stale{gate="`+base+`"} 0`) {
		t.Error("metrics still say the whitelist is stale")
	}
	if n := g.count("/v1/decide") + back.count("/v1/decide"); n != 0 {
		t.Errorf("the runtime called /v1/decide %d times: lane entry must not ask the gate per request", n)
	}
}

// laneYAMLNoUsers is examples/lanes' Lane at weight 0 with an empty
// inline whitelist.
func laneYAMLNoUsers(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/lanes/lane.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(b), "users: [alice]", "users: []", 1)
	return strings.Replace(doc, "weight: 50", "weight: 0", 1)
}

// waitUntil polls cond until it holds or a generous deadline passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metricsContain reports whether the runtime's metrics hold line.
func metricsContain(t *testing.T, r *running, line string) bool {
	t.Helper()
	mfs, err := r.rt.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			b.WriteString(mf.GetName() + "{")
			for i, l := range m.GetLabel() {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(l.GetName() + `="` + l.GetValue() + `"`)
			}
			b.WriteString("} ")
			if g := m.GetGauge(); g != nil {
				b.WriteString(strconv.FormatFloat(g.GetValue(), 'g', -1, 64))
			}
			b.WriteString("\n")
		}
	}
	return strings.Contains(b.String(), line)
}

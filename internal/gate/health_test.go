package gate

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// healthGate is a test gate over a SQLite file that also runs the write
// checks, every 100ms.
func healthGate(t *testing.T, path string) *testGate {
	t.Helper()
	g := newTestGate(t, "sqlite://"+path, HandlerOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go g.Snapshots.RunWriteChecks(ctx, 100*time.Millisecond, 10*time.Second)
	g.mustDo(t, 201, "PUT", "/v1/lanes/v2", `{"weight":0}`)
	g.mustDo(t, 201, "POST", "/v1/whitelist", `{"kind":"user","id":"alice","lane":"v2"}`)
	return g
}

// checkDegraded: /readyz says degraded (200) for check with an error
// containing want, the metrics say so, and decisions are still served
// from the snapshot.
func checkDegraded(t *testing.T, g *testGate, check, want string) {
	t.Helper()
	waitFor(t, "readyz degraded by "+check, 60*time.Second, func() bool { return g.Snapshots.Failing(check) })
	body := readyz(t, g)
	if !strings.Contains(body, `"status":"degraded"`) || !strings.Contains(body, `"`+check+`":`) || !strings.Contains(body, want) {
		t.Errorf("readyz = %s, want degraded by %s: %s", body, check, want)
	}
	m := g.mustDo(t, 200, "GET", "/metrics", "")
	for _, line := range []string{"graylane_gate_degraded 1", `graylane_gate_store_check_failing{check="` + check + `"} 1`} {
		if !strings.Contains(m, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
	if d := decision(t, g.mustDo(t, 200, "GET", "/v1/decide?user=alice", "")); d.Lane != "v2" {
		t.Errorf("decide alice while degraded = %+v, want v2 from the snapshot", d)
	}
}

// checkRecovered: /readyz is ready again and the metrics say so.
func checkRecovered(t *testing.T, g *testGate) {
	t.Helper()
	waitFor(t, "readyz ready again", 60*time.Second, func() bool { return strings.Contains(readyz(t, g), `"status":"ready"`) })
	m := g.mustDo(t, 200, "GET", "/metrics", "")
	for _, check := range Checks {
		if line := `graylane_gate_store_check_failing{check="` + check + `"} 0`; !strings.Contains(m, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
	if !strings.Contains(m, "graylane_gate_degraded 0") {
		t.Error("metrics still say degraded")
	}
}

// TestHealthLockedDatabase: while another connection holds SQLite's write
// lock, writes answer 503, /readyz and the metrics say degraded (write),
// decisions keep coming; once the lock is released the write check clears
// it.
func TestHealthLockedDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.db")
	g := healthGate(t, path)
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	ctx := context.Background()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	code, body := g.do(t, "POST", "/v1/whitelist", `{"kind":"user","id":"bob","lane":"v2"}`)
	if code != 503 || !strings.Contains(body, "store_unavailable") || !strings.Contains(body, "locked") {
		t.Errorf("write while locked = %d %s, want 503 store_unavailable (locked)", code, body)
	}
	checkDegraded(t, g, CheckWrite, "locked")
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	checkRecovered(t, g)
	g.mustDo(t, 201, "POST", "/v1/whitelist", `{"kind":"user","id":"bob","lane":"v2"}`)
}

// TestHealthFile: a SQLite file made unreadable (chmod 000), moved away or
// replaced keeps working through the open connection, but the gate says
// degraded (file) until it is back.
func TestHealthFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gate.db")
	g := healthGate(t, path)
	aside := filepath.Join(dir, "gate.db.aside")
	steps := []struct {
		name        string
		break_, fix func() error
		want        string
	}{
		{"chmod 000", func() error { return os.Chmod(path, 0) }, func() error { return os.Chmod(path, 0o600) }, "read and write"},
		{"moved away", func() error { return os.Rename(path, aside) }, func() error { return os.Rename(aside, path) }, "no such file"},
		{"replaced", func() error {
			if err := os.Rename(path, aside); err != nil {
				return err
			}
			return os.WriteFile(path, nil, 0o600)
		}, func() error { return os.Rename(aside, path) }, "replaced by another file"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.break_(); err != nil {
				t.Fatal(err)
			}
			checkDegraded(t, g, CheckFile, st.want)
			if err := st.fix(); err != nil {
				t.Fatal(err)
			}
			checkRecovered(t, g)
		})
	}
}

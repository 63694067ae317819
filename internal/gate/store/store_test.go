package store_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/graylane/graylane/internal/gate/store"
	"github.com/graylane/graylane/internal/gate/testdb"
)

// backends are the databases the suite runs on. Each starts what it needs
// (a server, for MariaDB and PostgreSQL) and returns a function that makes
// an empty database and returns its DSN.
var backends = []struct {
	name  string
	start func(t *testing.T) func(t *testing.T) string
}{
	{"sqlite", func(*testing.T) func(t *testing.T) string {
		return func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "gate.db") }
	}},
	{"mariadb", func(t *testing.T) func(t *testing.T) string {
		srv := testdb.MariaDB(t)
		return func(*testing.T) string { return srv.NewDatabase() }
	}},
	{"postgres", func(t *testing.T) func(t *testing.T) string {
		srv := testdb.Postgres(t)
		return func(*testing.T) string { return srv.NewDatabase() }
	}},
}

func open(t *testing.T, dsn string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, dsn, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStore runs the same suite against every backend. Every subtest has
// an empty database of its own and sets up what it needs.
func TestStore(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			empty := b.start(t)
			t.Run("migrations", func(t *testing.T) { testMigrations(t, empty(t)) })
			t.Run("crud", func(t *testing.T) { testCRUD(t, open(t, empty(t))) })
			t.Run("import", func(t *testing.T) { testImport(t, open(t, empty(t))) })
			t.Run("ids", func(t *testing.T) { testIDs(t, open(t, empty(t))) })
		})
	}
}

func testMigrations(t *testing.T, dsn string) {
	ctx := context.Background()
	s := open(t, dsn)
	got, err := s.SchemaVersion(ctx)
	if err != nil || got != 2 {
		t.Fatalf("SchemaVersion = %d, %v; want 2", got, err)
	}
	// A second Open (another replica) applies nothing and keeps the data.
	again := open(t, dsn)
	if v, err := again.SchemaVersion(ctx); err != nil || v != 2 {
		t.Fatalf("reopen: SchemaVersion = %d, %v; want 2", v, err)
	}
	// The health write (migration 2's row) works and moves no change
	// counter, so no replica reloads for it.
	for range 2 {
		if err := again.CheckWrite(ctx); err != nil {
			t.Fatalf("CheckWrite: %v", err)
		}
	}
	if v, err := again.Version(ctx); err != nil || v != 0 {
		t.Fatalf("reopen: Version = %d, %v; want 0", v, err)
	}
}

var ignoreTimes = cmpopts.IgnoreFields(store.Lane{}, "UpdatedAt")

func testCRUD(t *testing.T, s *store.Store) {
	ctx := context.Background()
	v0, err := s.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutEntry(ctx, store.Entry{Kind: store.KindUser, ID: "u1", Lane: "v2"}); !errors.Is(err, store.ErrUnknownLane) {
		t.Fatalf("PutEntry to a missing lane: err = %v, want ErrUnknownLane", err)
	}
	for _, l := range []struct {
		name   string
		weight int
		want   bool
	}{{"v2", 10, true}, {"v3", 0, true}, {"v2", 20, false}, {"v2", 20, false}} {
		created, err := s.SetLane(ctx, l.name, l.weight)
		if err != nil || created != l.want {
			t.Fatalf("SetLane(%s, %d) = %v, %v; want %v", l.name, l.weight, created, err, l.want)
		}
	}
	created := time.UnixMilli(1_700_000_000_000).UTC()
	expires := created.Add(time.Hour)
	entries := []store.Entry{ // in Load's order: kind, id
		{Kind: store.KindTenant, ID: "t-1", Lane: "v3", CreatedAt: created},
		{Kind: store.KindUser, ID: "Alice", Lane: "v2", Note: "qa 测试", CreatedBy: "ops", CreatedAt: created},
		{Kind: store.KindUser, ID: "alice", Lane: "base", CreatedAt: created, ExpiresAt: &expires},
	}
	for _, e := range entries {
		if isNew, err := s.PutEntry(ctx, e); err != nil || !isNew {
			t.Fatalf("PutEntry(%+v) = %v, %v; want true", e, isNew, err)
		}
	}
	if isNew, err := s.PutEntry(ctx, entries[1]); err != nil || isNew {
		t.Fatalf("PutEntry again = %v, %v; want false, nil", isNew, err)
	}
	st, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantLanes := []store.Lane{{Name: "v2", Weight: 20}, {Name: "v3", Weight: 0}}
	if diff := cmp.Diff(wantLanes, st.Lanes, ignoreTimes); diff != "" {
		t.Errorf("lanes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(entries, st.Entries); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if st.Version <= v0 {
		t.Errorf("Version %d did not grow from %d", st.Version, v0)
	}
	if err := s.DeleteLane(ctx, "v3"); !errors.Is(err, store.ErrLaneInUse) {
		t.Errorf("DeleteLane in use: err = %v, want ErrLaneInUse", err)
	}
	if err := s.DeleteEntry(ctx, store.KindTenant, "t-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEntry(ctx, store.KindTenant, "t-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteEntry twice: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteLane(ctx, "v3"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLane(ctx, "v3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteLane twice: err = %v, want ErrNotFound", err)
	}
	v1, _ := s.Version(ctx)
	if v1 != st.Version+2 { // the failed calls changed nothing
		t.Errorf("Version = %d, want %d (one bump per change)", v1, st.Version+2)
	}
}

func testImport(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if _, err := s.SetLane(ctx, "v2", 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutEntry(ctx, store.Entry{Kind: store.KindUser, ID: "already", Lane: "v2", CreatedAt: time.UnixMilli(1_700_000_000_000).UTC()}); err != nil {
		t.Fatal(err)
	}
	before, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_700_000_000_000).UTC()
	bad := []store.Entry{
		{Kind: store.KindUser, ID: "imp-1", Lane: "v2", CreatedAt: now},
		{Kind: store.KindUser, ID: "imp-2", Lane: "nope", CreatedAt: now},
	}
	if err := s.ImportEntries(ctx, bad); !errors.Is(err, store.ErrUnknownLane) {
		t.Fatalf("ImportEntries with an unknown lane: err = %v, want ErrUnknownLane", err)
	}
	after, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Fatalf("a failed import changed the store (-before +after):\n%s", diff)
	}
	var good []store.Entry
	for i := range 500 {
		good = append(good, store.Entry{Kind: store.KindTenant, ID: "imp-" + strconv.Itoa(i), Lane: "v2", CreatedAt: now})
	}
	if err := s.ImportEntries(ctx, good); err != nil {
		t.Fatal(err)
	}
	after, err = s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(after.Entries), len(before.Entries)+500; got != want {
		t.Errorf("entries after import = %d, want %d", got, want)
	}
	if after.Version != before.Version+1 {
		t.Errorf("Version = %d, want %d (one bump per import)", after.Version, before.Version+1)
	}
}

// testIDs checks that ids are stored byte for byte: case-sensitive, and
// SQL metacharacters are data.
func testIDs(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if _, err := s.SetLane(ctx, "v2", 10); err != nil {
		t.Fatal(err)
	}
	ids := []string{"x'; DROP TABLE gate_whitelist; --", "CASE", "case", "a\"b"}
	for _, id := range ids {
		if _, err := s.PutEntry(ctx, store.Entry{Kind: store.KindUser, ID: id, Lane: "v2", CreatedAt: time.Now()}); err != nil {
			t.Fatalf("PutEntry(%q): %v", id, err)
		}
	}
	st, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range st.Entries {
		got[e.ID] = true
	}
	for _, id := range ids {
		if !got[id] {
			t.Errorf("id %q not read back", id)
		}
	}
}

func TestOpenBadDSN(t *testing.T) {
	for _, dsn := range []string{"", "nope", "redis://x", "sqlite://", "mysql://u@h:1/", "postgres:///db"} {
		_, err := store.Open(context.Background(), dsn, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if !errors.Is(err, store.ErrBadDSN) {
			t.Errorf("Open(%q): err = %v, want ErrBadDSN", dsn, err)
		}
	}
}

func TestOpenSQLiteMakesDirectory(t *testing.T) {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "a", "b", "gate.db")
	s := open(t, dsn)
	if v, err := s.Version(context.Background()); err != nil || v != 0 {
		t.Errorf("Version = %d, %v; want 0", v, err)
	}
	mem := open(t, "sqlite::memory:")
	if _, err := mem.SetLane(context.Background(), "v2", 5); err != nil {
		t.Errorf("memory store: %v", err)
	}
}

// TestUpgradeFromV1: a store made before the health write (schema 1) gets
// its table and row at the next start, and keeps its data.
func TestUpgradeFromV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gate.db")
	s := open(t, "sqlite://"+path)
	if _, err := s.SetLane(ctx, "v2", 10); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"DROP TABLE gate_health", "DELETE FROM gate_schema_migrations WHERE version = 2"} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()
	again := open(t, "sqlite://"+path)
	if v, err := again.SchemaVersion(ctx); err != nil || v != 2 {
		t.Fatalf("SchemaVersion = %d, %v; want 2", v, err)
	}
	if err := again.CheckWrite(ctx); err != nil {
		t.Fatalf("CheckWrite after the upgrade: %v", err)
	}
	st, err := again.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.Lane{{Name: "v2", Weight: 10}}, st.Lanes, ignoreTimes); diff != "" {
		t.Errorf("lanes after the upgrade (-want +got):\n%s", diff)
	}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dialect holds what differs between the SQL databases.
type dialect struct {
	name string
	// text is the column type of an ASCII identifier of up to n bytes,
	// compared byte for byte.
	text func(n int) string
	// note is the column type of free UTF-8 text.
	note string
	// dollar: placeholders are $1, $2 (PostgreSQL) instead of ?.
	dollar bool
	// tableSuffix ends every CREATE TABLE.
	tableSuffix string
}

var (
	sqliteDialect = dialect{
		name: "sqlite",
		text: func(int) string { return "TEXT" },
		note: "TEXT",
	}
	mysqlDialect = dialect{
		name:        "mysql",
		text:        func(n int) string { return "VARCHAR(" + strconv.Itoa(n) + ") CHARACTER SET ascii COLLATE ascii_bin" },
		note:        "VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
		tableSuffix: " ENGINE=InnoDB",
	}
	postgresDialect = dialect{
		name:   "postgres",
		text:   func(n int) string { return "VARCHAR(" + strconv.Itoa(n) + ")" },
		note:   "VARCHAR(512)",
		dollar: true,
	}
)

// bind rewrites ? placeholders for the dialect. Queries are constants of
// this package, so a ? never occurs inside a literal.
func (d dialect) bind(q string) string {
	if !d.dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// expand fills {id N}, {note} and {table} in DDL.
func (d dialect) expand(ddl string) string {
	for _, n := range []int{8, 63, 128} {
		ddl = strings.ReplaceAll(ddl, "{id "+strconv.Itoa(n)+"}", d.text(n))
	}
	ddl = strings.ReplaceAll(ddl, "{note}", d.note)
	return strings.ReplaceAll(ddl, "{table}", d.tableSuffix)
}

// migration is one schema version: statements run in order.
type migration struct {
	version int
	stmts   []string
}

// migrations, oldest first. Never edit a released one; append.
var migrations = []migration{
	{1, []string{
		`CREATE TABLE IF NOT EXISTS gate_changes (
			id INTEGER NOT NULL PRIMARY KEY,
			counter BIGINT NOT NULL
		){table}`,
		`CREATE TABLE IF NOT EXISTS gate_lanes (
			name {id 63} NOT NULL PRIMARY KEY,
			weight INTEGER NOT NULL,
			updated_at BIGINT NOT NULL
		){table}`,
		`CREATE TABLE IF NOT EXISTS gate_whitelist (
			kind {id 8} NOT NULL,
			id {id 128} NOT NULL,
			lane {id 63} NOT NULL,
			note {note} NOT NULL,
			created_by {id 128} NOT NULL,
			created_at BIGINT NOT NULL,
			expires_at BIGINT NULL,
			PRIMARY KEY (kind, id)
		){table}`,
	}},
	{2, []string{
		// One row the health check writes (CheckWrite): a write that
		// moves no change counter, so no replica reloads for it.
		`CREATE TABLE IF NOT EXISTS gate_health (
			id INTEGER NOT NULL PRIMARY KEY,
			checked_at BIGINT NOT NULL
		){table}`,
	}},
}

const schemaTable = `CREATE TABLE IF NOT EXISTS gate_schema_migrations (
	version INTEGER NOT NULL PRIMARY KEY,
	applied_at BIGINT NOT NULL
){table}`

// migrate applies every migration newer than the recorded version. Several
// replicas may start at once: DDL is idempotent (IF NOT EXISTS) and the
// version row insert of a loser fails on its primary key, which is fine.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, s.dialect.expand(schemaTable)); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	var current int
	row := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM gate_schema_migrations")
	if err := row.Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		for _, stmt := range m.stmts {
			if _, err := s.db.ExecContext(ctx, s.dialect.expand(stmt)); err != nil {
				return fmt.Errorf("migration %d: %w", m.version, err)
			}
		}
		switch m.version {
		case 1:
			if err := s.seedRow(ctx, "gate_changes", "counter"); err != nil {
				return err
			}
		case 2:
			if err := s.seedRow(ctx, "gate_health", "checked_at"); err != nil {
				return err
			}
		}
		_, err := s.db.ExecContext(ctx, s.dialect.bind("INSERT INTO gate_schema_migrations (version, applied_at) VALUES (?, ?)"),
			m.version, time.Now().UnixMilli())
		if err != nil && !s.isDuplicate(ctx, m.version) {
			return fmt.Errorf("record migration %d: %w", m.version, err)
		}
		s.log.Info("gate store migrated", "dialect", s.dialect.name, "version", m.version)
	}
	return nil
}

// seedRow inserts row id 1 of a one-row table (column = 0) unless a
// replica starting at the same time did. table and column are constants
// of this package.
func (s *Store) seedRow(ctx context.Context, table, column string) error {
	exists := func() (bool, error) {
		var n int
		err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE id = 1").Scan(&n)
		return n > 0, err
	}
	ok, err := exists()
	if err != nil {
		return fmt.Errorf("read %s: %w", table, err)
	}
	if ok {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, "INSERT INTO "+table+" (id, "+column+") VALUES (1, 0)"); err != nil {
		if ok, _ := exists(); ok {
			return nil
		}
		return fmt.Errorf("seed %s: %w", table, err)
	}
	return nil
}

func (s *Store) isDuplicate(ctx context.Context, version int) bool {
	var n int
	err := s.db.QueryRowContext(ctx, s.dialect.bind("SELECT COUNT(*) FROM gate_schema_migrations WHERE version = ?"), version).Scan(&n)
	return err == nil && n == 1
}

// SchemaVersion is the newest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM gate_schema_migrations").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

var errNoCounter = errors.New("change counter row missing")

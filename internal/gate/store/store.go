// Package store keeps the gate's whitelist and lane weights in SQL: SQLite
// (embedded, pure Go, the default), MySQL/MariaDB or PostgreSQL, chosen by
// DSN. Every change bumps a one-row change counter in the same transaction,
// so replicas notice changes made elsewhere by polling Version.
//
// All queries are parameterised; schema migrations are versioned and
// applied by Open.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Kind is what a whitelist entry names: a user or a tenant.
type Kind string

// Kinds of whitelist entry.
const (
	KindUser   Kind = "user"
	KindTenant Kind = "tenant"
)

// Entry is one whitelist row: callers with this user or tenant id go to
// Lane.
type Entry struct {
	Kind      Kind       `json:"kind"`
	ID        string     `json:"id"`
	Lane      string     `json:"lane"`
	Note      string     `json:"note,omitempty"`
	CreatedBy string     `json:"createdBy,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// Lane is a lane and its bucket weight, 0..100.
type Lane struct {
	Name      string    `json:"name"`
	Weight    int       `json:"weight"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// State is everything the store holds, read in one transaction: Version is
// the change counter the rows belong to.
type State struct {
	Version int64
	Lanes   []Lane  // ordered by name
	Entries []Entry // ordered by kind, id
}

// BaseLane is the implicit lane of everyone not in another lane. It has no
// row in the lanes table and whitelist entries may name it.
const BaseLane = "base"

// Errors callers branch on.
var (
	ErrNotFound    = errors.New("not found")
	ErrUnknownLane = errors.New("unknown lane")
	ErrLaneInUse   = errors.New("lane is still named by whitelist entries")
	ErrBadDSN      = errors.New("invalid database DSN")
)

// Store is an open SQL store.
type Store struct {
	db      *sql.DB
	dialect dialect
	log     *slog.Logger
	// path and opened are the SQLite file and what it was when opened
	// (CheckFile compares); empty for memory and server databases.
	path   string
	opened os.FileInfo
}

// Open parses dsn, connects, and applies pending migrations. DSNs:
//
//	sqlite:///abs/path/gate.db   sqlite://rel/path.db   sqlite::memory:
//	mysql://user:pass@host:port/db?socket=/path.sock
//	postgres://user:pass@host:port/db?sslmode=disable   (postgresql:// too)
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	driver, source, d, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if d.name == "sqlite" {
		if dir := sqliteDir(source); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("create sqlite directory: %w", err)
			}
		}
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", d.name, err)
	}
	if d.name == "sqlite" {
		db.SetMaxOpenConns(1) // one writer; WAL readers gain nothing behind one pool
	} else {
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(4)
		db.SetConnMaxIdleTime(time.Minute)
	}
	s := &Store{db: db, dialect: d, log: log}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if d.name == "sqlite" {
		if s.path = sqlitePath(source); s.path != "" {
			if s.opened, err = os.Stat(s.path); err != nil {
				db.Close()
				return nil, fmt.Errorf("sqlite file: %w", err)
			}
		}
	}
	return s, nil
}

// Dialect names the SQL dialect in use: sqlite, mysql or postgres.
func (s *Store) Dialect() string { return s.dialect.name }

// Close closes the connection pool.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func parseDSN(dsn string) (driver, source string, d dialect, err error) {
	scheme, rest, ok := strings.Cut(dsn, ":")
	if !ok {
		return "", "", d, fmt.Errorf("%w %q: want sqlite:///path, mysql://... or postgres://...", ErrBadDSN, redact(dsn))
	}
	switch scheme {
	case "sqlite":
		return sqliteSource(rest)
	case "mysql":
		return mysqlSource(dsn)
	case "postgres", "postgresql":
		u, err := url.Parse(dsn)
		if err != nil || u.Host == "" {
			return "", "", d, fmt.Errorf("%w %q: want postgres://user:pass@host:port/db", ErrBadDSN, redact(dsn))
		}
		q := u.Query()
		if q.Get("connect_timeout") == "" {
			q.Set("connect_timeout", "2")
			u.RawQuery = q.Encode()
		}
		return "pgx", u.String(), postgresDialect, nil
	}
	return "", "", d, fmt.Errorf("%w: unknown scheme %q: want sqlite, mysql or postgres", ErrBadDSN, scheme)
}

func sqliteSource(rest string) (string, string, dialect, error) {
	path := strings.TrimPrefix(rest, "//")
	if path == "" {
		return "", "", dialect{}, fmt.Errorf("%w: sqlite DSN without a path: want sqlite:///abs/path.db", ErrBadDSN)
	}
	if path == ":memory:" {
		return "sqlite", "file::memory:?_pragma=foreign_keys(1)", sqliteDialect, nil
	}
	path, _, _ = strings.Cut(path, "?")
	src := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	return "sqlite", src, sqliteDialect, nil
}

func mysqlSource(dsn string) (string, string, dialect, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", "", dialect{}, fmt.Errorf("%w %q: %v", ErrBadDSN, redact(dsn), err)
	}
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if cfg.DBName == "" {
		return "", "", dialect{}, fmt.Errorf("%w %q: mysql DSN without a database name", ErrBadDSN, redact(dsn))
	}
	if sock := u.Query().Get("socket"); sock != "" {
		cfg.Net, cfg.Addr = "unix", sock
	} else {
		host := u.Host
		if host == "" {
			return "", "", dialect{}, fmt.Errorf("%w %q: mysql DSN without host (or ?socket=)", ErrBadDSN, redact(dsn))
		}
		if u.Port() == "" {
			host += ":3306"
		}
		cfg.Net, cfg.Addr = "tcp", host
	}
	cfg.Timeout = 2 * time.Second
	cfg.ReadTimeout = 5 * time.Second
	cfg.WriteTimeout = 5 * time.Second
	return "mysql", cfg.FormatDSN(), mysqlDialect, nil
}

// sqliteDir is the directory of a file: source, "" for memory.
func sqliteDir(source string) string {
	if path := sqlitePath(source); path != "" {
		return filepath.Dir(path)
	}
	return ""
}

// sqlitePath is the file of a file: source, "" for memory.
func sqlitePath(source string) string {
	path, _, _ := strings.Cut(strings.TrimPrefix(source, "file:"), "?")
	if path == ":memory:" {
		return ""
	}
	return path
}

// redact hides the password of a URL-shaped DSN for error messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	return u.Redacted()
}

// Package testdb starts real database servers for tests: MariaDB (or MySQL)
// and PostgreSQL from installed binaries, on loopback, each in a fresh
// temporary data directory removed by t.Cleanup.
//
// When a server binary is missing the test is skipped with install
// instructions, or fails when CI=true (CI must run every store test).
package testdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const installHint = "install with hack/install-deps.sh (Debian: apt-get install -y mariadb-server postgresql)"

// Server is a database server started for one test.
type Server struct {
	t        testing.TB
	name     string
	dataDir  string // the temporary directory: data/, server.log, sockets
	data     string // the server's data directory, which identifies it
	bin      string
	cred     *syscall.Credential
	database string // the database DSN names
	flavor   flavor

	mu     sync.Mutex
	port   int // chosen by the first Start; a restart keeps it
	cmd    *exec.Cmd
	exited chan error // the process' Wait, once it has run
	out    *os.File
	next   int // NewDatabase's counter
}

// flavor is what differs between the servers.
type flavor struct {
	args   func(port int) []string
	driver string
	// source is the driver's data source for database db ("" for none).
	source func(port int, db string) string
	// dsn is the Graylane DSN of database db.
	dsn func(port int, db string) string
	// dataDirQuery asks the server for its data directory.
	dataDirQuery string
}

// DSN is the Graylane DSN (mysql://... or postgres://...) of the server's
// database.
func (s *Server) DSN() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flavor.dsn(s.port, s.database)
}

// NewDatabase creates an empty database on the server and returns its
// Graylane DSN: a test or subtest that needs an empty store gets one of its
// own without a server of its own.
func (s *Server) NewDatabase() string {
	s.t.Helper()
	s.mu.Lock()
	s.next++
	name, port := fmt.Sprintf("gate_%d", s.next), s.port
	s.mu.Unlock()
	s.exec("CREATE DATABASE " + name)
	return s.flavor.dsn(port, name)
}

// adminDB is the database to connect to outside the test databases.
func (s *Server) adminDB() string {
	if s.flavor.driver == "pgx" {
		return "postgres"
	}
	return ""
}

// exec runs a statement on the server, outside any test database.
func (s *Server) exec(stmt string) {
	s.t.Helper()
	s.mu.Lock()
	source := s.flavor.source(s.port, s.adminDB())
	s.mu.Unlock()
	db, err := sql.Open(s.flavor.driver, source)
	if err != nil {
		s.t.Fatalf("open %s: %v", s.name, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		s.t.Fatalf("%s: %s: %v", s.name, stmt, err)
	}
}

// missing skips or fails the test for a missing binary.
func missing(t testing.TB, what string) {
	t.Helper()
	msg := fmt.Sprintf("%s not found; %s", what, installHint)
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s", msg)
	}
	t.Skip(msg)
}

// findBin returns the first existing executable among names in PATH and
// the given directories.
func findBin(names []string, dirs ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, d := range dirs {
			matches, _ := filepath.Glob(filepath.Join(d, n))
			for _, m := range matches {
				if st, err := os.Stat(m); err == nil && st.Mode()&0o111 != 0 {
					return m
				}
			}
		}
	}
	return ""
}

// freePort asks the kernel for a loopback port that is free now. Another
// process may take it before the server binds it: Start retries then.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tempDir makes a data directory the server's user can own; t.TempDir's
// parents are private to the test user, which breaks servers run as
// another user when the tests run as root.
func tempDir(t testing.TB, pattern string, cred *syscall.Credential) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatalf("make data directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatalf("chown data directory: %v", err)
		}
	}
	return dir
}

// run runs a set-up command to completion, failing the test with its
// output.
func run(t testing.TB, cred *syscall.Credential, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
}

// errPortTaken: another process had the server's port.
var errPortTaken = errors.New("address already in use")

// Start starts (or restarts, after Stop) the server and waits until it
// answers as itself (its data directory, not another server's on the same
// port). The first start picks a free port and, when another process takes
// it first, a new one; a restart keeps its port (the DSNs handed out name
// it) and waits for it to be free again.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	restart := s.port != 0
	deadline := time.Now().Add(2 * time.Minute) // a bound for a port that never comes free
	for attempt := 1; ; attempt++ {
		if !restart {
			s.port = freePort(s.t)
		}
		err := s.launch()
		if err == nil {
			return
		}
		if !errors.Is(err, errPortTaken) || (!restart && attempt == 5) || time.Now().After(deadline) {
			s.t.Fatalf("%s on port %d (attempt %d): %v", s.name, s.port, attempt, err)
		}
		if !restart {
			s.t.Logf("%s: port %d was taken; trying another", s.name, s.port)
			continue
		}
		s.t.Logf("%s: port %d is taken; waiting for it", s.name, s.port)
		time.Sleep(200 * time.Millisecond) // back-off while another process holds the port
	}
}

// launch runs the server once on s.port and waits until it answers as
// itself. Called with s.mu held. An error wrapping errPortTaken means the
// port was another process'.
func (s *Server) launch() error {
	cmd := exec.Command(s.bin, s.flavor.args(s.port)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	logPath := filepath.Join(s.dataDir, "server.log")
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.cmd, s.out, s.exited = cmd, out, exited
	logged := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	deadline := time.Now().Add(2 * time.Minute) // a bound for a hang, not a slow start
	for {
		ours, err := s.answers()
		switch {
		case err == nil && ours:
			return nil
		case err == nil:
			// Another server answers on the port: ours cannot bind it.
			s.kill()
			return fmt.Errorf("another server answers on the port: %w", errPortTaken)
		}
		select {
		case werr := <-exited:
			exited <- werr
			s.kill()
			log := logged()
			if strings.Contains(strings.ToLower(log), "address already in use") {
				return fmt.Errorf("exited during start: %v: %w", werr, errPortTaken)
			}
			return fmt.Errorf("exited during start: %v\n%s", werr, log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("not ready after 2m: %v\n%s", err, logged())
		}
	}
}

// answers reports whether a server answers on s.port, and whether it is
// this one (its data directory is s.data). Called with s.mu held.
func (s *Server) answers() (ours bool, err error) {
	db, err := sql.Open(s.flavor.driver, s.flavor.source(s.port, s.adminDB()))
	if err != nil {
		return false, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var dir string
	if err := db.QueryRowContext(ctx, s.flavor.dataDirQuery).Scan(&dir); err != nil {
		return false, err
	}
	got, err1 := os.Stat(dir)
	want, err2 := os.Stat(s.data)
	return err1 == nil && err2 == nil && os.SameFile(got, want), nil
}

// Stop stops the server (a fast shutdown) and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	p := s.cmd.Process
	_ = p.Signal(syscall.SIGINT)
	_ = p.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		s.exited <- err // for kill
	case <-time.After(30 * time.Second):
	}
	s.kill()
}

// kill ends what is left of the server's process group, waits for the
// process and closes its log. Called with s.mu held.
func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	select {
	case err := <-s.exited: // gone already: its group id may be reused
		s.exited <- err
	default:
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		err := <-s.exited
		s.exited <- err
	}
	s.out.Close()
	s.cmd, s.out = nil, nil
}

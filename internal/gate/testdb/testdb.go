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
	"sync"
	"syscall"
	"testing"
	"time"
)

const installHint = "install with hack/install-deps.sh (Debian: apt-get install -y mariadb-server postgresql)"

// Server is a database server started for one test.
type Server struct {
	t       testing.TB
	name    string
	dsn     string
	dataDir string // the temporary directory: data/, server.log, sockets
	args    []string
	bin     string
	cred    *syscall.Credential
	ping    func(ctx context.Context) error

	mu  sync.Mutex
	cmd *exec.Cmd
	out *os.File
}

// DSN is the Graylane DSN (mysql://... or postgres://...) of the server.
func (s *Server) DSN() string { return s.dsn }

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

// freePort asks the kernel for a free loopback port.
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

// Start starts (or restarts, after Stop) the server and waits until it
// answers.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	logPath := filepath.Join(s.dataDir, "server.log")
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatalf("open %s log: %v", s.name, err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		s.t.Fatalf("start %s: %v", s.name, err)
	}
	s.cmd, s.out = cmd, out
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := s.ping(ctx)
		cancel()
		if err == nil {
			go func() { <-exited }()
			return
		}
		select {
		case werr := <-exited:
			log, _ := os.ReadFile(logPath)
			s.cmd = nil
			s.t.Fatalf("%s exited during start: %v\n%s", s.name, werr, log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			s.t.Fatalf("%s not ready after 60s: %v\n%s", s.name, err, log)
		}
	}
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
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err := p.Signal(syscall.Signal(0)); errors.Is(err, os.ErrProcessDone) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.Signal(syscall.Signal(0)); !errors.Is(err, os.ErrProcessDone) {
		_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	}
	s.out.Close()
	s.cmd, s.out = nil, nil
}

// sqlPing opens the driver source and pings it.
func sqlPing(driver, source string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		db, err := sql.Open(driver, source)
		if err != nil {
			return err
		}
		defer db.Close()
		return db.PingContext(ctx)
	}
}

package testdb

import (
	"context"
	"database/sql"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // "mysql" driver for the readiness ping
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for the readiness ping
)

// Postgres starts a PostgreSQL server (initdb + postgres from PATH,
// /usr/local/bin or /usr/lib/postgresql/*/bin) on a free loopback port with
// trust authentication. As root the server runs as the "postgres" user
// (PostgreSQL refuses root); that user must exist.
func Postgres(t testing.TB) *Server {
	t.Helper()
	dirs := []string{"/usr/local/bin", "/usr/lib/postgresql/*/bin"}
	initdb := findBin([]string{"initdb"}, dirs...)
	postgres := findBin([]string{"postgres"}, dirs...)
	if initdb == "" || postgres == "" {
		missing(t, "PostgreSQL server (initdb, postgres)")
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			missing(t, "user \"postgres\" (PostgreSQL will not run as root)")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir := tempDir(t, "graylane-pg-", cred)
	data := filepath.Join(dir, "data")
	run(t, cred, initdb, "-D", data, "-U", "graylane", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-locale")
	port := strconv.Itoa(freePort(t))
	source := "postgres://graylane@127.0.0.1:" + port + "/postgres?sslmode=disable&connect_timeout=2"
	s := &Server{
		t: t, name: "postgres", dsn: source, dataDir: dir, bin: postgres, cred: cred,
		args: []string{"-D", data, "-p", port, "-k", dir, "-c", "listen_addresses=127.0.0.1",
			"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"},
		ping: sqlPing("pgx", source),
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// MariaDB starts a MariaDB (or MySQL) server (mariadbd or mysqld, with
// mariadb-install-db or mysql_install_db) on a free loopback port, without
// grant tables, and creates the database "gate".
func MariaDB(t testing.TB) *Server {
	t.Helper()
	dirs := []string{"/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/mysql/bin"}
	server := findBin([]string{"mariadbd", "mysqld"}, dirs...)
	install := findBin([]string{"mariadb-install-db", "mysql_install_db"}, dirs...)
	if server == "" || install == "" {
		missing(t, "MariaDB server (mariadbd, mariadb-install-db)")
	}
	dir := tempDir(t, "graylane-mariadb-", nil)
	data := filepath.Join(dir, "data")
	asRoot := []string{}
	if os.Geteuid() == 0 {
		asRoot = []string{"--user=root"}
	}
	args := append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal",
		"--skip-test-db"}, asRoot...)
	run(t, nil, install, args...)
	port := strconv.Itoa(freePort(t))
	ping := "root@tcp(127.0.0.1:" + port + ")/?timeout=2s"
	s := &Server{
		t: t, name: "mariadb", dsn: "mysql://root@127.0.0.1:" + port + "/gate", dataDir: dir, bin: server,
		args: append([]string{"--no-defaults", "--datadir=" + data, "--port=" + port, "--bind-address=127.0.0.1",
			"--socket=" + filepath.Join(dir, "mysqld.sock"), "--pid-file=" + filepath.Join(dir, "mysqld.pid"),
			"--skip-grant-tables", "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
			"--innodb-flush-log-at-trx-commit=0", "--tmpdir=" + dir}, asRoot...),
		ping: sqlPing("mysql", ping),
	}
	s.Start()
	t.Cleanup(s.Stop)
	db, err := sql.Open("mysql", ping)
	if err != nil {
		t.Fatalf("open mariadb: %v", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS gate"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return s
}

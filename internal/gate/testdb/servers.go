package testdb

import (
	"fmt"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

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
	s := &Server{
		t: t, name: "postgres", dataDir: dir, data: data, bin: postgres, cred: cred, database: "postgres",
		flavor: flavor{
			args: func(port int) []string {
				return []string{"-D", data, "-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1",
					"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"}
			},
			driver: "pgx",
			source: func(port int, db string) string {
				return "postgres://graylane@127.0.0.1:" + strconv.Itoa(port) + "/" + url.PathEscape(db) + "?sslmode=disable&connect_timeout=2"
			},
			dsn: func(port int, db string) string {
				return "postgres://graylane@127.0.0.1:" + strconv.Itoa(port) + "/" + url.PathEscape(db) + "?sslmode=disable&connect_timeout=2"
			},
			dataDirQuery: "SHOW data_directory",
		},
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
	s := &Server{
		t: t, name: "mariadb", dataDir: dir, data: data, bin: server, database: "gate",
		flavor: flavor{
			args: func(port int) []string {
				return append([]string{"--no-defaults", "--datadir=" + data, "--port=" + strconv.Itoa(port), "--bind-address=127.0.0.1",
					"--socket=" + filepath.Join(dir, "mysqld.sock"), "--pid-file=" + filepath.Join(dir, "mysqld.pid"),
					"--skip-grant-tables", "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
					"--innodb-flush-log-at-trx-commit=0", "--tmpdir=" + dir}, asRoot...)
			},
			driver: "mysql",
			source: func(port int, db string) string {
				return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s?timeout=2s", port, db)
			},
			dsn: func(port int, db string) string {
				return "mysql://root@127.0.0.1:" + strconv.Itoa(port) + "/" + db
			},
			dataDirQuery: "SELECT @@datadir",
		},
	}
	s.Start()
	t.Cleanup(s.Stop)
	s.exec("CREATE DATABASE IF NOT EXISTS gate")
	return s
}

package testdb

import (
	"context"
	"database/sql"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A restarted server keeps its port (the DSNs handed out name it): when
// another process holds the port, Start waits for it instead of failing,
// and the server answers on it again as itself.
func TestRestartWaitsForTakenPort(t *testing.T) {
	s := Postgres(t)
	dsn := s.NewDatabase()
	s.Stop()
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(s.port))
	if err != nil {
		t.Fatalf("take the stopped server's port: %v", err)
	}
	// Let go of the port once the server has tried and failed to bind it.
	refused := make(chan bool, 1)
	go func() {
		defer l.Close()
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(filepath.Join(s.dataDir, "server.log"))
			if strings.Contains(strings.ToLower(string(b)), "address already in use") {
				refused <- true
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		refused <- false
	}()
	s.Start()
	if !<-refused { // sent at the latest at the goroutine's deadline
		t.Error("the server never found its port taken: the test did not test the wait")
	}
	if got := s.DSN(); !strings.Contains(got, ":"+strconv.Itoa(s.port)+"/") {
		t.Errorf("DSN %q does not name the port %d", got, s.port)
	}
	// The database made before the stop is there: the same server, and
	// the DSN handed out still reaches it.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open(s.flavor.driver, s.flavor.source(s.port, strings.TrimPrefix(u.Path, "/")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Errorf("%s after the restart: %v", dsn, err)
	}
	if ours, err := s.answers(); err != nil || !ours {
		t.Errorf("the server on the port is ours: %v, %v; want true", ours, err)
	}
}

package dataplane

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestEdgeOptions: the defaults, and bad values refused.
func TestEdgeOptions(t *testing.T) {
	lim, err := EdgeOptions{}.Limits()
	if err != nil {
		t.Fatal(err)
	}
	want := &Limits{maxHead: 60 << 10, maxFields: 100, maxLine: 16 << 10, maxField: 16 << 10, maxBody: 1 << 30,
		headersTimeout: 30 * time.Second, streamIdle: 5 * time.Minute, idle: 90 * time.Second, maxConns: 10000}
	if diff := cmp.Diff(want, lim, cmp.AllowUnexported(Limits{})); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	lim, err = EdgeOptions{MaxRequestBodyBytes: -1, StreamIdleTimeout: -1, RequestHeadersTimeout: -1, IdleTimeout: -1, MaxConnections: -1}.Limits()
	if err != nil {
		t.Fatal(err)
	}
	want = &Limits{maxHead: 60 << 10, maxFields: 100, maxLine: 16 << 10, maxField: 16 << 10, maxBody: -1}
	if diff := cmp.Diff(want, lim, cmp.AllowUnexported(Limits{})); diff != "" {
		t.Errorf("all off (-want +got):\n%s", diff)
	}
	_, err = EdgeOptions{MaxRequestHeadersBytes: -1, MaxHeadersCount: -5, MaxRequestLineBytes: 9 << 20}.Limits()
	wantErr := "edge options: MaxRequestHeadersBytes -1: must be between 1 and 8388608\n" +
		"MaxHeadersCount -5: must be between 1 and 1048576\n" +
		"MaxRequestLineBytes 9437184: must be between 1 and 8388608"
	if err == nil || err.Error() != wantErr {
		t.Errorf("error %v, want %q", err, wantErr)
	}
}

// TestUpstreamSweep: idle upstream connections are closed after a full
// sweep period, and the sweeper stops when none are left.
func TestUpstreamSweep(t *testing.T) {
	u := &upstreams{}
	a, b := net.Pipe()
	defer b.Close()
	c := &UpstreamConn{addr: "x", c: a, br: bufio.NewReader(a)}
	u.release(c, true)
	u.mu.Lock()
	scheduled := u.swept
	u.mu.Unlock()
	if !scheduled {
		t.Fatal("no sweep scheduled")
	}
	u.sweep() // went idle in this period: kept
	if got := u.get("x"); got != c {
		t.Fatalf("kept connection: %v", got)
	}
	u.release(c, true)
	u.sweep()
	u.sweep() // idle for a whole period: closed
	if got := u.get("x"); got != nil {
		t.Errorf("stale connection still pooled")
	}
	if _, err := a.Write([]byte("x")); err == nil {
		t.Errorf("stale connection not closed")
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.swept || u.nidle != 0 {
		t.Errorf("sweeper still scheduled (%v) or connections counted (%d)", u.swept, u.nidle)
	}
}

// TestMemRelief: memory is given back once connections (or states in
// use) have fallen by releaseCount from their peak, to half of it at
// most; then the peak starts over.
func TestMemRelief(t *testing.T) {
	released := make(chan struct{}, 10)
	m := &memRelief{release: func() { released <- struct{}{} }}
	for range 3000 {
		m.add(gaugeConns, 1)
	}
	for range 1499 {
		m.add(gaugeConns, -1)
		m.add(gaugeStates, 1)
	}
	select {
	case <-released:
		t.Fatal("released before half the peak")
	default:
	}
	m.add(gaugeConns, -1) // 1500 left of 3000
	<-released
	waitFor(t, "the release to end", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return !m.releasing
	})
	m.mu.Lock()
	peak := m.peak
	m.mu.Unlock()
	if peak != [2]int{1500, 1499} {
		t.Errorf("peaks after the release %v, want the levels then", peak)
	}
	for range 1000 {
		m.add(gaugeStates, -1)
	}
	<-released // 499 of 1499 states
}

// waitFor polls cond until it holds (or fails the test after minutes: a
// loaded machine is slow, never this slow).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package sample

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestConnRelief: memory is given back once the connections have fallen by
// releaseConns from their peak, to half of it at most, once per burst;
// active and idle transitions do not count.
func TestConnRelief(t *testing.T) {
	released := make(chan struct{}, 10)
	done := make(chan struct{}, 10)
	m := &connRelief{release: func() { released <- struct{}{} }, released: func() { done <- struct{}{} }}
	for range 600 {
		m.connState(nil, http.StateNew)
		m.connState(nil, http.StateActive)
		m.connState(nil, http.StateIdle)
	}
	for range 299 {
		m.connState(nil, http.StateClosed)
	}
	select {
	case <-released:
		t.Fatal("released before half the peak")
	default:
	}
	m.connState(nil, http.StateHijacked) // 300 left of 600
	receive(t, released, "release")
	receive(t, done, "end of the release")
	m.mu.Lock()
	n, peak := m.n, m.peak
	m.mu.Unlock()
	if n != 300 || peak != 300 {
		t.Errorf("after the release: %d open, peak %d; want 300 and 300 (the peak starts over)", n, peak)
	}
	for range 149 { // 151 left: more than half the new peak
		m.connState(nil, http.StateClosed)
	}
	select {
	case <-released:
		t.Fatal("released again before half the new peak")
	default:
	}
	m.connState(nil, http.StateClosed)
	receive(t, released, "release")
	receive(t, done, "end of the release")
}

// receive waits for a value on ch (a minute at most: the release runs on
// its own goroutine).
func receive(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("no %s within a minute", what)
	}
}

// TestServeCountsConnections: a sample server's connections reach the
// counter, opened and closed (servers started before keep theirs).
func TestServeCountsConnections(t *testing.T) {
	counter := &connRelief{release: func() {}}
	defer func(h func(net.Conn, http.ConnState)) { connStateHook = h }(connStateHook)
	connStateHook = counter.connState
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, Options{App: "relief", Version: "v1"}, nil) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	open := func() int {
		counter.mu.Lock()
		defer counter.mu.Unlock()
		return counter.n
	}
	var conns []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitCount(t, open, 5)
	for _, c := range conns {
		c.Close()
	}
	waitCount(t, open, 0)
}

// waitCount waits until count() is want (a minute at most: the server sees
// the connections on its own goroutines).
func waitCount(t *testing.T, count func() int, want int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for count() != want {
		if time.Now().After(deadline) {
			t.Fatalf("connections counted: %d, want %d", count(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDialCounts: an outbound connection counts from its dial until its
// first Close.
func TestDialCounts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	m := &connRelief{release: func() {}}
	dial := m.dial((&net.Dialer{}).DialContext)
	c, err := dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if m.n != 1 {
		t.Errorf("after the dial: %d counted, want 1", m.n)
	}
	c.Close()
	c.Close()
	if m.n != 0 {
		t.Errorf("after two closes: %d counted, want 0", m.n)
	}
	if _, err := dial(context.Background(), "tcp", "127.0.0.1:0"); err == nil || m.n != 0 {
		t.Errorf("a failed dial: err %v, %d counted; want an error and 0", err, m.n)
	}
}

package embedded

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

// A port given to a replica that binds it itself is free while the
// replica starts; no pick may return it then, even when the random picks
// can only hit it and the kernel's own pick lands on it (forced here by a
// range of one port), and it stays free for the replica to bind.
func TestPortSetNeverReusesAReplicaPort(t *testing.T) {
	s := &portSet{taken: map[int]bool{}}
	ln, err := s.reserve()
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // handed to the replica, which has not bound it yet
	s.lo, s.hi = port, port
	for i := 0; i < 20; i++ {
		other, err := s.listen("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if got := other.Addr().(*net.TCPAddr).Port; got == port {
			t.Fatalf("pick %d returned the replica's port %d", i, port)
		}
		defer other.Close()
	}
	child, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("the replica cannot bind its port after the picks: %v", err)
	}
	child.Close()
	s.release(port)
	if s.taken[port] {
		t.Error("port still taken after release")
	}
}

// Concurrent reservations never share a port.
func TestPortSetConcurrentReserve(t *testing.T) {
	s := &portSet{taken: map[int]bool{}}
	const n = 64
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ln, err := s.reserve()
			if err != nil {
				t.Error(err)
				return
			}
			port := ln.Addr().(*net.TCPAddr).Port
			ln.Close() // released to a "child" at once: the set still holds it
			mu.Lock()
			defer mu.Unlock()
			if seen[port] {
				t.Errorf("port %d reserved twice", port)
			}
			seen[port] = true
		}()
	}
	wg.Wait()
}

// Replica ports lie below the kernel's ephemeral range, so that no
// outgoing connection's source port can take one while its external
// command restarts (TestKilledOnlyReplica once failed with "bind: address
// already in use" that way); other listeners still pick in the ephemeral
// range.
func TestReplicaPortsOutsideEphemeralRange(t *testing.T) {
	s := &portSet{taken: map[int]bool{}}
	lo, hi := s.ephemeralRange()
	if lo-1024 < 4096 {
		t.Skipf("ephemeral range %d-%d leaves no room below it", lo, hi)
	}
	for i := 0; i < 16; i++ {
		ln, err := s.reserve()
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if port := ln.Addr().(*net.TCPAddr).Port; port >= lo || port < 1024 {
			t.Errorf("replica port %d, want one in 1024..%d (below the ephemeral range %d-%d)", port, lo-1, lo, hi)
		}
		other, err := s.listen("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if port := other.Addr().(*net.TCPAddr).Port; port < lo || port > hi {
			t.Errorf("listener port %d, want one in the ephemeral range %d-%d", port, lo, hi)
		}
	}
}

package embedded

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// replicaPorts are the loopback ports given to replicas. A replica whose
// command binds its port itself (an external command) gets the port free
// for a moment while it starts; in that moment no other pick of this
// process - another replica, a sidecar, a gateway - may take it. The set
// is process-wide because ports are: two runtimes in one process (tests)
// must not hand out the same port either.
var replicaPorts = &portSet{taken: map[int]bool{}}

// portSet picks free loopback ports that no replica holds or was given.
type portSet struct {
	mu    sync.Mutex
	taken map[int]bool
	// lo, hi bound the random picks (the kernel's ephemeral range, where a
	// bind to port 0 picks too); 0 means not read yet.
	lo, hi int
}

// listenConfig opens the runtime's listeners: accepted connections get no
// TCP keep-alive probes (Envoy's default for downstream connections too):
// the idle timeout closes a silent connection, and the four socket options
// keep-alive needs would cost four system calls on every new connection.
var listenConfig = net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{Enable: false}, KeepAlive: -1}

// listen opens a TCP listener on a free port of host that is not a
// replica's, picked in the kernel's ephemeral range.
func (s *portSet) listen(host string) (*net.TCPListener, error) {
	lo, hi := s.ephemeralRange()
	return s.listenIn(host, lo, hi)
}

// listenIn opens a TCP listener on a free port of host in lo..hi that is
// not a replica's; when that range is crowded, on a port the kernel picks.
func (s *portSet) listenIn(host string, lo, hi int) (*net.TCPListener, error) {
	var lastErr error
	for i := 0; i < 64; i++ {
		port := lo + rand.IntN(hi-lo+1)
		s.mu.Lock()
		busy := s.taken[port]
		s.mu.Unlock()
		if busy {
			continue
		}
		ln, err := listenConfig.Listen(context.Background(), "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err == nil {
			return ln.(*net.TCPListener), nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
		lastErr = err
	}
	// The range is crowded: let the kernel pick, and check its pick.
	var rejected []net.Listener
	defer func() {
		for _, ln := range rejected {
			ln.Close()
		}
	}()
	for i := 0; i < 64; i++ {
		ln, err := listenConfig.Listen(context.Background(), "tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		busy := s.taken[ln.Addr().(*net.TCPAddr).Port]
		s.mu.Unlock()
		if !busy {
			return ln.(*net.TCPListener), nil
		}
		rejected = append(rejected, ln)
	}
	return nil, fmt.Errorf("no free port on %s: %w", host, lastErr)
}

// reserve opens a listener on a free loopback port and marks the port as a
// replica's until release. The port is below the kernel's ephemeral range
// when there is room: while an external command restarts, its port is free
// for a moment, and a port of the ephemeral range could then become the
// source port of any outgoing connection on the machine (the runtime's own
// proxies make many), so that the command's bind would fail with "address
// already in use".
func (s *portSet) reserve() (*net.TCPListener, error) {
	lo, hi := s.replicaRange()
	ln, err := s.listenIn("127.0.0.1", lo, hi)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.taken[ln.Addr().(*net.TCPAddr).Port] = true
	s.mu.Unlock()
	return ln, nil
}

// rebind takes a reserved port again after its process exited, so that
// nothing else takes it before the next start.
func (s *portSet) rebind(port int) (*net.TCPListener, error) {
	ln, err := listenConfig.Listen(context.Background(), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}

// release forgets a replica's port once its processes are gone.
func (s *portSet) release(port int) {
	s.mu.Lock()
	delete(s.taken, port)
	s.mu.Unlock()
}

// replicaRange is where replica ports are picked: the 16,384 ports below
// the ephemeral range (from 1024 up), or the ephemeral range itself when
// fewer than 4,096 ports lie below it.
func (s *portSet) replicaRange() (int, int) {
	lo, hi := s.ephemeralRange()
	if lo-1024 < 4096 {
		return lo, hi
	}
	return max(1024, lo-16384), lo - 1
}

// ephemeralRange is where random picks are made: Linux's
// ip_local_port_range, else the IANA dynamic range.
func (s *portSet) ephemeralRange() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lo == 0 {
		s.lo, s.hi = 49152, 65535
		if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
			if f := strings.Fields(string(b)); len(f) == 2 {
				lo, err1 := strconv.Atoi(f[0])
				hi, err2 := strconv.Atoi(f[1])
				if err1 == nil && err2 == nil && 1024 <= lo && lo < hi && hi <= 65535 {
					s.lo, s.hi = lo, hi
				}
			}
		}
	}
	return s.lo, s.hi
}

// listen opens one of the runtime's TCP listeners (admin, gateways,
// sidecars). An address with port 0 gets a free port that is not a
// replica's.
func listen(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && port == "0" {
		return replicaPorts.listen(host)
	}
	ln, err := listenConfig.Listen(context.Background(), "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s is already in use (is another graylane up running? pick another port)", addr)
		}
		return nil, err
	}
	return ln, nil
}

//go:build linux

package dataplane

import (
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The event loop: one goroutine per process waiting on an epoll instance
// of its own, as an nginx worker does, serving the proxy
// listeners of every Proxy of the process that can use it (see
// loopable). It accepts their connections, reads request heads, asks the
// FastHandler where a request goes, and runs the exchange with the pod
// as a state machine on non-blocking sockets it owns (loopconn_linux.go,
// loopup_linux.go), with no goroutine switch per request. A goroutine
// per connection, woken by the runtime's network poller for every
// request, costs 1.5 to 2.5 µs a request that the loop does not pay
// (bench/README.md, "The floor"). A connection whose request the loop
// does not take is handed to a goroutine of today's connection server
// (connserver.go) for the rest of its life, with the bytes read so far.
//
// Every socket is registered once, edge-triggered, for reading, writing
// and the peer's close, and never modified: a read that returns less
// than asked has emptied the socket, so none is made to find nothing.
//
// The loop's system calls are raw (no runtime bookkeeping around them):
// through the runtime's system call path, a wait that blocks hands the
// thread's processor to another thread and takes it back on every wake,
// which at 1000 requests a second cost 6 context switches and 88 µs of
// CPU per request. The loop holds its thread and processor while it
// waits, as a busy goroutine would: the runtime's preemption signal
// interrupts the wait (EINTR), so a collection's stop-the-world and the
// scheduler's time slices are not held up. With one processor
// (GOMAXPROCS=1) it would starve every other goroutine, so the loop is
// used only with two or more. It is not locked to its thread: after a
// preemption (every 10 ms while it waits) the scheduler runs it again on
// the thread at hand, where a locked goroutine would cost a hand-over of
// threads, two more context switches.
type evloop struct {
	ep     int
	wakefd int
	mu     sync.Mutex
	cmds   []func()
	done   chan struct{}
	stop   bool
	fds    []loopFD // by descriptor number
	// gens tells a descriptor's registrations apart: an event that a
	// batch holds for a descriptor closed (and its number reused) while
	// the batch was handled is dropped.
	gens []int32
	gen  int32
	evs  []syscall.EpollEvent
	now  time.Time
	// conns is every client connection the loop serves; idle the
	// pooled connections to pods by address.
	conns map[*loopConn]struct{}
	idle  map[string][]*upConn
	bufs  [][]byte // free buffers of loopBufSize
	xs    []*loopReq
	next  time.Time // when timers next run; zero: no deadline
	// raw: the last wait found events, so the next one holds the
	// processor (traffic is flowing); after a tick with none, waits go
	// through the runtime and give it back, as while nothing is served.
	// (Atomic for the tests, which read it from outside.) moved is when
	// a wait last found events.
	raw   atomic.Bool
	moved time.Time
}

// loopFD is what a registered descriptor is: a listener, a client
// connection, a connection to a pod, the wake-up eventfd.
type loopFD interface{ event(ev uint32) }

const (
	// loopBufSize is a connection's read buffer, held only while a
	// request or answer is under way.
	loopBufSize = 16 << 10
	// maxFreeBufs bounds the loop's free buffers (2 MiB).
	maxFreeBufs = 128
	// loopTick is how often deadlines are checked: the idle, header and
	// stream idle timeouts, a connect that takes too long, a client gone
	// while its answer is awaited (CloseWatch's WatchDelay).
	loopTick = 100 * time.Millisecond
)

// The process's loop, started by the first server that uses it and
// stopped with the last.
var theLoop struct {
	mu   sync.Mutex
	l    *evloop
	refs int
}

// loopable reports whether a listener can be served by the event loop:
// a TCP listener, two processors or more.
func loopable(ln net.Listener) bool {
	_, tcp := ln.(*net.TCPListener)
	return tcp && runtime.GOMAXPROCS(0) >= 2
}

// acquireLoop returns the process's loop, starting it when none runs.
func acquireLoop() (*evloop, error) {
	theLoop.mu.Lock()
	defer theLoop.mu.Unlock()
	if theLoop.l == nil {
		l, err := startLoop()
		if err != nil {
			return nil, err
		}
		theLoop.l = l
	}
	theLoop.refs++
	return theLoop.l, nil
}

// releaseLoop stops the loop once no server uses it.
func releaseLoop() {
	theLoop.mu.Lock()
	defer theLoop.mu.Unlock()
	theLoop.refs--
	if theLoop.refs > 0 {
		return
	}
	l := theLoop.l
	theLoop.l = nil
	l.run(func() { l.stop = true })
	<-l.done
}

func startLoop() (*evloop, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wfd, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		syscall.Close(ep)
		return nil, errno
	}
	l := &evloop{ep: ep, wakefd: int(wfd), done: make(chan struct{}), evs: make([]syscall.EpollEvent, 256),
		conns: map[*loopConn]struct{}{}, idle: map[string][]*upConn{}}
	if err := l.add(l.wakefd, wakeFD{l}, syscall.EPOLLIN); err != nil {
		syscall.Close(ep)
		syscall.Close(l.wakefd)
		return nil, err
	}
	go l.serve()
	return l, nil
}

// run has f run on the loop's thread, and waits for it.
func (l *evloop) run(f func()) {
	ran := make(chan struct{})
	l.post(func() { f(); close(ran) })
	<-ran
}

// post has f run on the loop's thread, soon.
func (l *evloop) post(f func()) {
	l.mu.Lock()
	l.cmds = append(l.cmds, f)
	l.mu.Unlock()
	one := uint64(1)
	_, _, _ = syscall.RawSyscall(syscall.SYS_WRITE, uintptr(l.wakefd), uintptr(unsafe.Pointer(&one)), 8)
}

type wakeFD struct{ l *evloop }

func (w wakeFD) event(uint32) {
	var b [8]byte
	_, _, _ = syscall.RawSyscall(syscall.SYS_READ, uintptr(w.l.wakefd), uintptr(unsafe.Pointer(&b[0])), 8)
	w.l.mu.Lock()
	cmds := w.l.cmds
	w.l.cmds = nil
	w.l.mu.Unlock()
	for _, f := range cmds {
		f()
	}
}

// add registers fd with the loop.
func (l *evloop) add(fd int, f loopFD, events uint32) error {
	for fd >= len(l.fds) {
		l.fds = append(l.fds, nil)
		l.gens = append(l.gens, 0)
	}
	l.gen++
	l.fds[fd], l.gens[fd] = f, l.gen
	return syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: events, Fd: int32(fd), Pad: l.gen})
}

// forget unregisters fd (which the caller then closes or hands over).
func (l *evloop) forget(fd int) {
	_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, fd, nil)
	l.fds[fd] = nil
}

// edge is the interest of every connection's socket.
const edge = syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | syscall.EPOLLET&0xffffffff

func (l *evloop) serve() {
	defer close(l.done)
	for !l.stop {
		// A raw wait is bounded by a tick: a tick with no event, even
		// with no connection left, hands waiting back to the runtime. A
		// wait through the runtime lasts until the next deadline: with
		// only idle connections, one wake-up a second or fewer.
		timeout := -1
		raw := l.raw.Load()
		if !l.next.IsZero() {
			// (epoll_wait takes an int: an hour at most, then look again.)
			timeout = int((min(max(l.next.Sub(l.now), 0), time.Hour) + time.Millisecond - 1) / time.Millisecond)
		}
		if raw && (timeout < 0 || timeout > int(loopTick/time.Millisecond)) {
			timeout = int(loopTick / time.Millisecond)
		}
		var n int
		var errno syscall.Errno
		if raw {
			n, errno = epollWait(l.ep, l.evs, timeout)
		} else {
			// Idle: wait giving the processor back (no wake-up every
			// 10 ms for a preemption while nothing moves).
			var err error
			n, err = syscall.EpollWait(l.ep, l.evs, timeout)
			errno, _ = err.(syscall.Errno)
		}
		l.now = time.Now()
		// The tick without events is counted in time, not in waits: the
		// runtime's preemption signal cuts a raw wait every 10 ms (EINTR).
		if n > 0 {
			l.raw.Store(true)
			l.moved = l.now
			// What the events changed is checked within a tick.
			if next := l.now.Add(loopTick); l.next.IsZero() || next.Before(l.next) {
				l.next = next
			}
		} else if raw && l.now.Sub(l.moved) >= loopTick {
			l.raw.Store(false)
		}
		if errno != 0 && errno != syscall.EINTR {
			panic("dataplane: epoll_wait: " + errno.Error()) // EBADF, EFAULT, EINVAL: a bug
		}
		for _, ev := range l.evs[:max(n, 0)] {
			if fd := int(ev.Fd); fd < len(l.fds) && l.fds[fd] != nil && l.gens[fd] == ev.Pad {
				l.fds[fd].event(ev.Events)
			}
		}
		if !l.next.IsZero() && !l.now.Before(l.next) {
			l.next = l.timers()
		}
	}
	for c := range l.conns {
		c.close()
	}
	l.closeIdle("")
	syscall.Close(l.wakefd)
	syscall.Close(l.ep)
}

// timers checks every connection's deadlines, and says when they are
// next to be checked (zero: nothing has one).
func (l *evloop) timers() time.Time {
	var next time.Time
	sooner := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for c := range l.conns {
		sooner(c.timers(l.now))
	}
	for addr, list := range l.idle {
		i := 0
		for i < len(list) && l.now.Sub(list[i].idleAt) >= upIdleSweep {
			list[i].close()
			i++
		}
		if i > 0 {
			rest := append(list[:0], list[i:]...)
			clear(list[len(rest):])
			if len(rest) == 0 {
				delete(l.idle, addr)
				continue
			}
			l.idle[addr] = rest
			list = rest
		}
		// (A pod's list stays in the map, empty, once its last
		// connection is taken or closed.)
		if len(list) > 0 {
			sooner(list[0].idleAt.Add(upIdleSweep))
		}
	}
	return next
}

// getBuf and putBuf keep a bounded list of free read buffers.
func (l *evloop) getBuf() []byte {
	if n := len(l.bufs); n > 0 {
		b := l.bufs[n-1]
		l.bufs[n-1] = nil
		l.bufs = l.bufs[:n-1]
		return b
	}
	return make([]byte, loopBufSize)
}

func (l *evloop) putBuf(b []byte) {
	if cap(b) == loopBufSize && len(l.bufs) < maxFreeBufs {
		l.bufs = append(l.bufs, b[:loopBufSize])
	}
}

// sockaddr is addr's socket address; ok is false for anything but an
// IP:port (a pod's address), which the loop does not dial.
func sockaddr(addr string) (syscall.Sockaddr, bool) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Addr().Zone() != "" {
		return nil, false
	}
	if a := ap.Addr(); a.Is4() || a.Is4In6() {
		return &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}, true
	}
	return &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}, true
}

// closeIdle closes the pooled connections to addr ("": to every pod).
func (l *evloop) closeIdle(addr string) {
	for a, list := range l.idle {
		if addr != "" && a != addr {
			continue
		}
		for _, u := range list {
			u.close()
		}
		delete(l.idle, a)
	}
}

// takeIdle takes a pooled connection to addr, the most recently used.
func (l *evloop) takeIdle(addr string) *upConn {
	list := l.idle[addr]
	if len(list) == 0 {
		return nil
	}
	u := list[len(list)-1]
	list[len(list)-1] = nil
	l.idle[addr] = list[:len(list)-1]
	return u
}

// pool keeps a connection whose exchange ended cleanly for the next
// request to its pod.
func (l *evloop) pool(u *upConn) {
	list := l.idle[u.addr]
	if len(list) >= maxIdlePerAddr {
		u.close()
		return
	}
	u.idleAt = l.now
	l.idle[u.addr] = append(list, u)
}

// unpool removes u, which its pod closed, from the idle pool.
func (l *evloop) unpool(u *upConn) {
	list := l.idle[u.addr]
	for i, v := range list {
		if v == u {
			copy(list[i:], list[i+1:])
			list[len(list)-1] = nil
			l.idle[u.addr] = list[:len(list)-1]
			return
		}
	}
}

// epollWait waits for events with a raw system call (see evloop).
func epollWait(ep int, evs []syscall.EpollEvent, msec int) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), uintptr(msec), 0, 0)
	return int(n), e
}

// rawRead and rawWrite move bytes on a non-blocking socket.
func rawRead(fd int, b []byte) (int, syscall.Errno) {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if e != syscall.EINTR {
			return int(n), e
		}
	}
}

func rawWrite(fd int, b []byte) (int, syscall.Errno) {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if e != syscall.EINTR {
			return int(n), e
		}
	}
}

// loopDropIdle has the loop close its pooled connections to addr, when
// it runs (soon: it does not wait).
func loopDropIdle(addr string) {
	theLoop.mu.Lock()
	defer theLoop.mu.Unlock()
	if l := theLoop.l; l != nil {
		l.post(func() { l.closeIdle(addr) })
	}
}

// loopIdleConns is how many pooled connections to addr the loop keeps.
func loopIdleConns(addr string) int {
	theLoop.mu.Lock()
	defer theLoop.mu.Unlock()
	n := 0
	if l := theLoop.l; l != nil {
		l.run(func() { n = len(l.idle[addr]) })
	}
	return n
}

// loopListener is a Server's listening socket on the loop: a duplicate
// of the net.Listener's descriptor (non-blocking, as the runtime made
// it), level-triggered.
type loopListener struct {
	l  *evloop
	s  *Server
	fd int
}

// serveLoop starts serving s on the loop; false when it cannot be (then
// s is served the goroutine way).
func (s *Server) serveLoop() bool {
	rc, err := s.ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	if rc.Control(func(f uintptr) { fd, err = syscall.Dup(int(f)) }) != nil || err != nil {
		return false
	}
	syscall.CloseOnExec(fd)
	l, err := acquireLoop()
	if err != nil {
		syscall.Close(fd)
		return false
	}
	ll := &loopListener{l: l, s: s, fd: fd}
	l.run(func() { err = l.add(fd, ll, syscall.EPOLLIN) })
	if err != nil {
		syscall.Close(fd)
		releaseLoop()
		return false
	}
	s.loop = ll
	return true
}

// close stops accepting, and closes the server's loop connections (an
// exchange under way ends as if its client went away).
func (ll *loopListener) close() {
	ll.l.run(func() {
		ll.l.forget(ll.fd)
		syscall.Close(ll.fd)
		for c := range ll.l.conns {
			if c.s == ll.s {
				c.close()
			}
		}
	})
	releaseLoop()
}

func (ll *loopListener) event(uint32) {
	s := ll.s
	for range 64 {
		fd, sa, err := syscall.Accept4(ll.fd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN: none left; anything else: the next event says
		}
		if s.lim.maxConns > 0 && s.LiveConns() >= s.lim.maxConns {
			// Counted before the close, which the client may see at once.
			if s.hooks.Overflow != nil {
				s.hooks.Overflow()
			}
			syscall.Close(fd) // as Envoy does at its connection limit
			continue
		}
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		c := &loopConn{l: ll.l, s: s, fd: fd, remote: sockaddrString(sa), idleAt: ll.l.now}
		if err := ll.l.add(fd, c, edge); err != nil {
			syscall.Close(fd)
			continue
		}
		ll.l.conns[c] = struct{}{}
		s.loopConns.Add(1)
		s.p.mem.add(gaugeConns, 1)
	}
}

// sockaddrString is a peer's address as net.Conn's RemoteAddr prints it.
func sockaddrString(sa syscall.Sockaddr) string {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port)).String()
	}
	return ""
}

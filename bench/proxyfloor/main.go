// Command proxyfloor is the cheapest HTTP/1.1 keep-alive forwarder Go can
// be, in two designs, so that bench/proxy.sh can say what a proxy hop
// costs in Go before any proxy work is done (issue #15 item 16):
//
//	go run ./bench/proxyfloor -mode goroutine -listen 127.0.0.1:0 -upstream 127.0.0.1:8080
//	go run ./bench/proxyfloor -mode epoll -listen 127.0.0.1:0 -upstream 127.0.0.1:8080
//
// goroutine: one goroutine per client connection with its own upstream
// connection, net.Conn reads and writes (the runtime's network poller):
// the design of internal/dataplane without any of its work.
//
// epoll: one thread, one epoll instance of its own (level-triggered,
// non-blocking sockets, raw system calls that keep the thread's processor
// while blocked), no goroutine switch per request: the design of nginx's
// worker.
//
// Neither is a proxy: a request is forwarded as it came once its head has
// arrived (requests with a body are not supported), an answer once its
// head and Content-Length body have (chunked answers are not supported),
// nothing is parsed beyond that, routed, checked or counted. Each client
// connection gets one upstream connection, made when it is accepted. It
// prints "listening: ADDR" once it serves, and stops on SIGTERM or SIGINT.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"unsafe"
)

func main() {
	mode := flag.String("mode", "goroutine", "goroutine or epoll")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	upstream := flag.String("upstream", "", "address of the backend (host:port)")
	flag.Parse()
	if *upstream == "" {
		log.Fatal("proxyfloor: -upstream is required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("proxyfloor: %v", err)
	}
	fmt.Printf("listening: %s\n", ln.Addr())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	switch *mode {
	case "goroutine":
		go func() {
			if err := serveGoroutines(ln, *upstream); err != nil {
				log.Fatalf("proxyfloor: %v", err)
			}
		}()
	case "epoll":
		go func() {
			runtime.LockOSThread() // one thread, as nginx's worker
			if err := serveEpoll(ln, *upstream); err != nil {
				log.Fatalf("proxyfloor: %v", err)
			}
		}()
	default:
		log.Fatalf("proxyfloor: -mode %q: want goroutine or epoll", *mode)
	}
	<-stop
}

var headEnd = []byte("\r\n\r\n")

// answerLen is the length of the whole answer at the start of b (head
// and Content-Length body), or 0 while it has not all arrived.
func answerLen(b []byte) int {
	i := bytes.Index(b, headEnd)
	if i < 0 {
		return 0
	}
	n := i + len(headEnd) + contentLength(b[:i])
	if len(b) < n {
		return 0
	}
	return n
}

// contentLength reads the Content-Length field of a head (0 without one).
func contentLength(head []byte) int {
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(name), []byte("content-length")) {
			continue
		}
		n := 0
		for _, c := range bytes.TrimSpace(value) {
			if c < '0' || c > '9' {
				return 0
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	return 0
}

func serveGoroutines(ln net.Listener, upstream string) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go forwardConn(c, upstream)
	}
}

func forwardConn(c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	req, ans := make([]byte, 16<<10), make([]byte, 16<<10)
	for {
		n, ok := readUntil(c, req, func(b []byte) bool { return bytes.Contains(b, headEnd) })
		if !ok {
			return
		}
		if _, err := u.Write(req[:n]); err != nil {
			return
		}
		m, ok := readUntil(u, ans, func(b []byte) bool { return answerLen(b) > 0 })
		if !ok {
			return
		}
		if _, err := c.Write(ans[:m]); err != nil {
			return
		}
	}
}

// readUntil reads into buf until done says what it holds is complete.
func readUntil(c net.Conn, buf []byte, done func([]byte) bool) (int, bool) {
	n := 0
	for n < len(buf) {
		k, err := c.Read(buf[n:])
		if err != nil {
			return 0, false
		}
		n += k
		if done(buf[:n]) {
			return n, true
		}
	}
	return 0, false
}

// side is one socket of a forwarded pair in the epoll loop.
type side struct {
	fd, peer int
	client   bool // the client's socket (else the upstream's)
	buf      []byte
	n        int
}

func serveEpoll(ln net.Listener, upstream string) error {
	lf, err := ln.(*net.TCPListener).File() // a blocking duplicate
	if err != nil {
		return err
	}
	lfd := int(lf.Fd())
	if err := syscall.SetNonblock(lfd, true); err != nil {
		return err
	}
	ua, err := net.ResolveTCPAddr("tcp", upstream)
	if err != nil || ua.IP.To4() == nil {
		return fmt.Errorf("-upstream %q: want an IPv4 host:port", upstream)
	}
	sa := &syscall.SockaddrInet4{Port: ua.Port}
	copy(sa.Addr[:], ua.IP.To4())
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, lfd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(lfd)}); err != nil {
		return err
	}
	// The loop holds lf: its finalizer would close lfd once unreachable.
	// (lf.Fd is not called again: it puts the socket in blocking mode.)
	l := &loop{ep: ep, sides: map[int]*side{}, upstream: sa, listener: lf}
	evs := make([]syscall.EpollEvent, 128)
	for {
		n, errno := rawEpollWait(ep, evs)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return errno
		}
		for _, ev := range evs[:n] {
			if int(ev.Fd) == lfd {
				l.accept(lfd)
				continue
			}
			if s := l.sides[int(ev.Fd)]; s != nil {
				l.readable(s)
			}
		}
	}
}

type loop struct {
	ep       int
	sides    map[int]*side
	upstream *syscall.SockaddrInet4
	listener *os.File
}

func (l *loop) accept(lfd int) {
	for {
		cfd, _, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN: none left
		}
		ufd, err := dialBlocking(l.upstream)
		if err != nil {
			syscall.Close(cfd)
			continue
		}
		_ = syscall.SetsockoptInt(cfd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		l.add(&side{fd: cfd, peer: ufd, client: true, buf: make([]byte, 16<<10)})
		l.add(&side{fd: ufd, peer: cfd, buf: make([]byte, 16<<10)})
	}
}

// dialBlocking connects to the upstream (once per client connection, so
// a blocking connect keeps the loop simple) and makes the socket
// non-blocking.
func dialBlocking(sa *syscall.SockaddrInet4) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

func (l *loop) add(s *side) {
	l.sides[s.fd] = s
	_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, s.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(s.fd)})
}

// readable reads what s has; a whole request (or answer) is written to
// the peer in one call (the bench's messages are far smaller than a
// socket buffer, so a short write ends the pair like an error).
func (l *loop) readable(s *side) {
	k, errno := rawIO(syscall.SYS_READ, s.fd, s.buf[s.n:])
	if errno == syscall.EAGAIN || errno == syscall.EINTR {
		return
	}
	if errno != 0 || k <= 0 {
		l.closePair(s)
		return
	}
	s.n += k
	var ready bool
	if s.client {
		ready = bytes.Contains(s.buf[:s.n], headEnd)
	} else {
		ready = answerLen(s.buf[:s.n]) > 0
	}
	if !ready {
		if s.n == len(s.buf) {
			l.closePair(s)
		}
		return
	}
	w, errno := rawIO(syscall.SYS_WRITE, s.peer, s.buf[:s.n])
	if errno != 0 || w != s.n {
		l.closePair(s)
		return
	}
	s.n = 0
}

// The loop's system calls are raw: no runtime bookkeeping around them.
// Through the runtime's syscall path (syscall.EpollWait), a wait that
// blocks hands the loop's processor to another thread and takes it back
// when the loop wakes: at 1000 requests a second that was 6 context
// switches and 88 µs of CPU per request. Holding the processor while
// blocked in epoll_wait is what an event loop's thread is for; the
// runtime's preemption signal (a collection's stop-the-world) interrupts
// the wait with EINTR, and the loop then reaches a safe point at once.
func rawEpollWait(ep int, evs []syscall.EpollEvent) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), ^uintptr(0), 0, 0)
	return int(n), e
}

// rawIO reads or writes b on a non-blocking socket.
func rawIO(trap uintptr, fd int, b []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	return int(n), e
}

func (l *loop) closePair(s *side) {
	for _, fd := range []int{s.fd, s.peer} {
		delete(l.sides, fd)
		_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, fd, nil)
		syscall.Close(fd)
	}
}

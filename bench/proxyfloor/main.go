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

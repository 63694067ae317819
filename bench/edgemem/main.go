// Command edgemem measures what idle client connections cost a Graylane
// proxy listener in resident memory, and whether it is given back once
// they close (issue #15 item 10). It runs `graylane up` with a manifest
// that has no workloads, opens -n connections to its client proxy, sends
// one request on each (answered by the proxy itself) and keeps them
// open, then closes them all, printing the process's resident size
// (VmRSS) along the way:
//
//	go build -o /tmp/graylane ./cmd/graylane
//	go run ./bench/edgemem -graylane /tmp/graylane -n 5000
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

func main() {
	bin := flag.String("graylane", "graylane", "the graylane binary to measure")
	n := flag.Int("n", 5000, "idle connections to open")
	flag.Parse()
	log.SetFlags(0)
	dir, err := os.MkdirTemp("", "edgemem-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	manifest := filepath.Join(dir, "svc.yaml")
	if err := os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {selector: {app: b}, ports: [{port: 80}]}\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(*bin, "up", "-f", manifest, "--gateway-port", "0", "--admin", "127.0.0.1:0", "--client-proxy", "127.0.0.1:0", "-o", "json")
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var info struct{ ClientProxy string }
	if err := json.NewDecoder(out).Decode(&info); err != nil {
		log.Fatalf("reading the ready addresses: %v", err)
	}
	addr := strings.TrimPrefix(info.ClientProxy, "http://")
	pid := cmd.Process.Pid
	report := func(what string) { fmt.Printf("%-34s %6.1f MB\n", what, rss(pid)) }

	time.Sleep(2 * time.Second)
	report("baseline")
	conns := make([]net.Conn, *n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conns[i] = request(addr)
		}()
	}
	wg.Wait()
	report(fmt.Sprintf("%d connections, just answered", *n))
	time.Sleep(5 * time.Second)
	report(fmt.Sprintf("%d connections, idle 5 s", *n))
	for _, c := range conns {
		c.Close()
	}
	closed := time.Now()
	for _, at := range []time.Duration{time.Second, 5 * time.Second, 25 * time.Second} {
		time.Sleep(time.Until(closed.Add(at)))
		report(fmt.Sprintf("all closed, %v later", at))
	}
}

// request opens a connection, gets one answer on it, and returns it open.
func request(addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET http://nope/ HTTP/1.1\r\nHost: nope\r\n\r\n"); err != nil {
		log.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		log.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c
}

// rss is the resident size of process pid in MB.
func rss(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb float64
			_, _ = fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

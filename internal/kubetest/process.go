package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// startRollouts runs the Argo Rollouts controller until the test ends and
// returns once the controller itself listens on its healthz port and
// answers there. The controller cannot be handed a listener, so its two ports are
// picked free and, when another process takes one first (the controller
// only logs the failed bind and carries on), it is stopped and started
// again on new ones.
func startRollouts(t testing.TB, bin, kubeconfig string) {
	t.Helper()
	const attempts = 5
	for attempt := 1; ; attempt++ {
		health, metrics := freePort(t), freePort(t)
		p := startProcess(t, bin, kubeconfig, "--leader-elect=false",
			"--metricsport="+strconv.Itoa(metrics), "--healthzPort="+strconv.Itoa(health))
		err := waitServing(p, health)
		if err == nil {
			return
		}
		if !errors.Is(err, errPortTaken) || attempt == attempts {
			t.Fatalf("rollouts-controller (attempt %d): %v\n%s", attempt, err, p.logs)
		}
		t.Logf("rollouts-controller: %v; starting it on new ports", err)
		p.stop()
	}
}

// errPortTaken: another process had a port the controller was given.
var errPortTaken = errors.New("address already in use")

// waitServing waits until the process listens on port and answers
// /healthz there with 200. A failed bind in its log is errPortTaken; two
// minutes bound a process that hangs, not a slow start.
func waitServing(p *process, port int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	var last error
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if p.exited() {
			return false, errors.New("exited before it served")
		}
		if log := p.logs.String(); strings.Contains(log, "address already in use") {
			return false, fmt.Errorf("%w: a port of %d (healthz) or the metrics one", errPortTaken, port)
		}
		ours, err := listensOn(p.cmd.Process.Pid, port)
		if err != nil || !ours {
			last = err
			return false, nil
		}
		last = getOK(ctx, url)
		return last == nil, nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("not serving healthz on port %d after 2m (last error: %v)", port, last)
	}
	return err
}

func getOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// listensOn reports whether the process pid has a listening TCP socket on
// port, read from /proc: the socket inodes among its open files against
// the listening sockets of /proc/net/tcp and tcp6.
func listensOn(pid, port int) (bool, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false, fmt.Errorf("open files of %d: %w", pid, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	wantPort := fmt.Sprintf(":%04X", port)
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if errors.Is(err, os.ErrNotExist) {
			continue // no IPv6
		}
		if err != nil {
			return false, fmt.Errorf("listening sockets: %w", err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			const listen = "0A"
			if len(fields) > 9 && strings.HasSuffix(fields[1], wantPort) && fields[3] == listen && inodes[fields[9]] {
				f.Close()
				return true, nil
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return false, fmt.Errorf("read %s: %w", table, err)
		}
	}
	return false, nil
}

// freePort returns a loopback port that was free a moment ago; callers
// check the process they give it to really got it.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// logBuffer keeps the last max bytes a process wrote.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a command started by startProcess.
type process struct {
	name string
	cmd  *exec.Cmd
	logs *logBuffer
	done chan struct{} // closed when the command has exited
	err  error         // its exit, once done is closed

	once    sync.Once
	stopped bool // by stop: its end is expected
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process: SIGTERM then, after 10 s, SIGKILL.
func (p *process) stop() {
	p.once.Do(func() {
		p.stopped = true
		if p.exited() {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// startProcess runs bin until the test ends (or stop). Its output goes to
// t.Log when the test failed; a process that ended on its own before the
// test did fails the test.
func startProcess(t testing.TB, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: filepath.Base(bin), logs: &logBuffer{max: 256 << 10}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.stopped && p.exited() {
			t.Errorf("%s exited before the end of the test: %v\n%s", p.name, p.err, p.logs)
			return
		}
		wasStopped := p.stopped
		p.stop()
		if t.Failed() && !wasStopped {
			t.Logf("%s output (last 256 KiB):\n%s", p.name, p.logs)
		}
	})
	return p
}

package embedded

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// startPod runs the pod's process under supervision until ctx ends:
// restarted when it exits, its output kept in its log. A process that had
// been ready is started again at once (at most once per quickRestartEvery;
// as the kubelet restarts a container), others after a back-off of 0.2 s
// doubling to 10 s.
func (r *Runtime) startPod(ctx context.Context, p *pod) {
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})
	p.uid = newUID()
	logs, err := openPodLogs(r.podLog(p), r.opts.LogMaxBytes)
	if err != nil {
		r.log.Error("replica log", "pod", p.spec.name, "err", err)
	}
	p.logs = logs
	go func() {
		defer close(p.done)
		backoff := 200 * time.Millisecond
		for {
			started := time.Now()
			err := r.runOnce(ctx, p)
			p.ready.Store(false)
			if ctx.Err() != nil {
				p.restarting.Store(false)
				p.setState("stopped", "")
				r.changed()
				return
			}
			n := p.restarts.Add(1)
			p.setState("crashed", err.Error())
			p.setExit(err.Error())
			r.changed()
			if time.Since(started) > 30*time.Second {
				backoff = 200 * time.Millisecond
			}
			wait := backoff
			if p.restarting.Load() {
				wait = 0
			}
			r.progress.exited(p, n, wait)
			if wait > 0 {
				select {
				case <-ctx.Done():
					p.setState("stopped", "")
					return
				case <-time.After(wait):
				}
				backoff = min(backoff*2, 10*time.Second)
			}
		}
	}()
}

// quickRestartEvery bounds the at-once restarts of a replica that keeps
// exiting after it became ready: within it, the back-off applies.
const quickRestartEvery = 30 * time.Second

// podRun is one run of a replica's process.
type podRun struct {
	exited chan struct{} // closed when the process has exited
	ready  atomic.Bool   // it became ready
	end    sync.Once     // runExited's bookkeeping, once per run
}

// exitedWithin reports whether the run's process exits within d (at once
// when it has exited already); false for no run.
func (pr *podRun) exitedWithin(d time.Duration) bool {
	if pr == nil {
		return false
	}
	select {
	case <-pr.exited:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-pr.exited:
		return true
	case <-t.C:
		return false
	}
}

// stopPod stops the pod's process and frees its port, sidecar and log.
func (r *Runtime) stopPod(p *pod) {
	p.stopOnce.Do(func() {
		if p.cancel != nil {
			p.cancel()
			<-p.done
		}
		if p.sidecar != nil {
			p.sidecar.close()
		}
		if p.ln != nil {
			p.ln.Close()
			p.ln = nil
		}
		if p.port != 0 {
			replicaPorts.release(p.port)
		}
		if p.logs != nil {
			p.logs.close()
		}
		r.metrics.forgetPod(p) // the series of a gone workload go (after a grace period)
	})
}

func (p *pod) setState(s, err string) {
	p.mu.Lock()
	p.state, p.lastErr, p.why = s, err, ""
	p.mu.Unlock()
}

// status is the pod's state and what went wrong: the last exit, or why a
// running process is not ready yet.
func (p *pod) status() (string, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastErr != "" {
		return p.state, p.lastErr
	}
	return p.state, p.why
}

// setExit records an exit and the last stderr lines of its run.
func (p *pod) setExit(msg string) {
	var tail []string
	if p.logs != nil {
		tail = p.logs.stderrTail()
	}
	p.mu.Lock()
	p.exit, p.exitTail = msg, tail
	p.mu.Unlock()
}

// setRunning marks the pod ready: earlier exits no longer explain anything.
func (p *pod) setRunning() {
	p.mu.Lock()
	p.state, p.lastErr, p.why, p.exit, p.exitTail = "running", "", "", "", nil
	p.mu.Unlock()
	if run := p.run.Load(); run != nil {
		run.ready.Store(true)
	}
	p.restarting.Store(false)
	p.ready.Store(true)
}

// notReadyReason is why the pod is not ready: its last exit (exited, with
// the last stderr lines) or the last failed probe; "" when nothing went
// wrong yet.
func (p *pod) notReadyReason() (reason string, stderr []string, exited bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exit != "" {
		return p.exit, append([]string(nil), p.exitTail...), true
	}
	return p.why, nil, false
}

// setWhy records why the last readiness probe failed; it reports whether
// that changed.
func (p *pod) setWhy(why string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := p.why != why
	p.why = why
	return changed
}

// podLog is the file a replica's output goes to.
func (r *Runtime) podLog(p *pod) string {
	return filepath.Join(r.stateDir, "logs", p.spec.namespace, p.spec.name+".log")
}

// runOnce starts the process, probes it until ready, and waits for it to
// exit. On ctx end it sends SIGTERM to the process group, then SIGKILL.
func (r *Runtime) runOnce(ctx context.Context, p *pod) error {
	if r.hosted(p) {
		return r.runHosted(ctx, p) // samplehost_linux.go
	}
	cmd, err := r.command(p)
	if err != nil {
		p.restarting.Store(false)
		return err
	}
	out, err := newOutput(cmd)
	if err != nil {
		p.restarting.Store(false)
		return err
	}
	if !p.spec.inherit && p.ln != nil {
		// The command binds PORT itself: free it at the last moment.
		p.ln.Close()
		p.ln = nil
	}
	if p.logs != nil {
		p.logs.newRun()
	}
	p.setState("starting", "")
	r.changed()
	err = r.spawn.start(cmd)
	for _, f := range cmd.ExtraFiles {
		f.Close()
	}
	out.started(p.logs)
	if err != nil {
		p.restarting.Store(false)
		out.drain()
		r.holdPort(p)
		return fmt.Errorf("start %v: %w", p.spec.argv, err)
	}
	pgid := cmd.Process.Pid
	p.pid.Store(int64(pgid))
	run := &podRun{exited: make(chan struct{})}
	p.run.Store(run)
	exited := make(chan error, 1)
	go func() { exited <- awaitExit(cmd) }()
	probeCtx, stopProbe := context.WithCancel(ctx)
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		r.probe(probeCtx, p, pgid)
	}()
	var result error
	select {
	case err := <-exited:
		r.runExited(p, run)
		if err == nil {
			err = errors.New("exited with status 0")
		}
		result = fmt.Errorf("process: %w", err)
	case <-ctx.Done():
		p.ready.Store(false)
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopGrace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
		}
		close(run.exited)
		result = ctx.Err()
	}
	stopProbe()
	<-probed
	out.drain()
	if ctx.Err() == nil {
		r.holdPort(p)
	}
	return result
}

// runExited: the replica's run ended by itself (its process exited, or
// the sample host ended it). The replica leaves the pool now, not when a
// probe notices; one that had been ready is restarted at once (see
// startPod), and is tried while no other replica is ready.
func (r *Runtime) runExited(p *pod, run *podRun) {
	run.end.Do(func() {
		p.ready.Store(false)
		quick := run.ready.Load() && time.Since(p.lastQuick) >= quickRestartEvery
		if quick {
			p.lastQuick = time.Now()
		}
		p.restarting.Store(quick)
		close(run.exited)
		r.up.DropIdle(p.addr)
		r.changed()
	})
}

// ended reports whether the run has ended (false for no run).
func (pr *podRun) ended() bool {
	if pr == nil {
		return false
	}
	select {
	case <-pr.exited:
		return true
	default:
		return false
	}
}

// stopGrace is how long a process group gets between SIGTERM and SIGKILL.
const stopGrace = 5 * time.Second

// output is one run's standard output and error: pipes whose read ends
// the runtime copies into the replica's log.
type output struct {
	outR, outW, errR, errW *os.File
	pumps                  sync.WaitGroup
}

// newOutput makes the pipes and sets them as cmd's output.
func newOutput(cmd *exec.Cmd) (*output, error) {
	o := &output{}
	var err error
	if o.outR, o.outW, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	if o.errR, o.errW, err = os.Pipe(); err != nil {
		o.outR.Close()
		o.outW.Close()
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = o.outW, o.errW
	return o, nil
}

// started closes the runtime's copies of the write ends (the process has
// its own) and copies the read ends into logs until they close.
func (o *output) started(logs *podLogs) {
	o.outW.Close()
	o.errW.Close()
	for _, s := range []struct {
		r      *os.File
		stderr bool
	}{{o.outR, false}, {o.errR, true}} {
		o.pumps.Add(1)
		go func() {
			defer o.pumps.Done()
			if logs == nil {
				_, _ = io.Copy(io.Discard, s.r)
				return
			}
			logs.pump(s.r, s.stderr)
		}()
	}
}

// drain waits for the output of an ended process: at once when its pipes
// close, at most 2 s when a process outside its group (a daemon) still
// holds them.
func (o *output) drain() {
	done := make(chan struct{})
	go func() {
		o.pumps.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	o.outR.Close()
	o.errR.Close()
	<-done
}

// holdPort takes an external command's port again between runs, so that
// nothing else takes it before the next start.
func (r *Runtime) holdPort(p *pod) {
	if p.spec.inherit || p.ln != nil {
		return
	}
	ln, err := replicaPorts.rebind(p.port)
	if err != nil {
		r.log.Warn("the port of an exited replica is taken by another process; the replica will not be ready until it is free",
			"pod", p.spec.name, "port", p.port, "err", err)
		return
	}
	p.ln = ln
}

// command builds the process of one run: the built-in sample with its
// socket as fd 3, an external command under the supervisor (Linux).
func (r *Runtime) command(p *pod) (*exec.Cmd, error) {
	argv, attr := p.spec.argv, directAttr()
	env := r.podEnv(p)
	var extra []*os.File
	switch {
	case p.spec.inherit:
		if p.ln == nil {
			return nil, errors.New("the replica's socket is closed")
		}
		f, err := p.ln.File()
		if err != nil {
			return nil, fmt.Errorf("pass the replica's socket: %w", err)
		}
		extra = []*os.File{f}
		env = append(env, "LISTEN_FDS=1", "LISTEN_FDNAMES=http")
	case supervised:
		argv = append([]string{r.exe, SuperviseCommand, "--"}, argv...)
		attr = supervisorAttr()
		env = append(env, supervisorParentEnv+"="+strconv.Itoa(os.Getpid()))
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir, cmd.SysProcAttr, cmd.ExtraFiles = env, p.spec.dir, attr, extra
	return cmd, nil
}

func (r *Runtime) podEnv(p *pod) []string {
	proxy := "http://" + p.sidecar.addr
	host, port, _ := net.SplitHostPort(p.sidecar.addr)
	var env []string
	for _, kv := range os.Environ() {
		// Socket activation and the supervisor's variables are per process.
		if !strings.HasPrefix(kv, "LISTEN_") && !strings.HasPrefix(kv, supervisorParentEnv+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, p.spec.env...)
	return append(env,
		"PORT="+strconv.Itoa(p.port), "HOST=127.0.0.1",
		"HTTP_PROXY="+proxy, "http_proxy="+proxy, "NO_PROXY=localhost,127.0.0.1", "no_proxy=localhost,127.0.0.1",
		"JAVA_TOOL_OPTIONS=-Dhttp.proxyHost="+host+" -Dhttp.proxyPort="+port+" -Dhttp.nonProxyHosts=localhost|127.0.0.1",
		"POD_NAME="+p.spec.name, "POD_NAMESPACE="+p.spec.namespace, "POD_UID="+p.uid,
	)
}

// probe marks the pod ready once it answers as itself (see probeOnce), and
// records why not meanwhile.
func (r *Runtime) probe(ctx context.Context, p *pod, pgid int) {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	start, slow := time.Now(), false
	for {
		why := p.probeOnce(ctx, pgid)
		if ctx.Err() != nil {
			return
		}
		if why == "" {
			p.setRunning()
			r.changed()
			return
		}
		if p.setWhy(why) {
			r.changed()
		}
		if time.Since(start) > 2*time.Second && !slow {
			// Not ready soon: probe less often (a check may read /proc).
			tick.Reset(250 * time.Millisecond)
			slow = true
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probeOnce checks the replica once: "" when ready, else why not.
//
// The built-in sample must answer its own POD_UID on /healthz (it serves
// the socket the runtime bound and passed it, so no other process can
// answer there, and the answer shows it is this run that does). An
// external command must accept connections on its port (or answer its
// readinessProbe path), and on Linux the listening socket must be its own
// process group's (see checkListener): an open port alone may be another
// replica's process.
func (p *pod) probeOnce(ctx context.Context, pgid int) string {
	if p.spec.inherit {
		resp, why := probeGet(ctx, p.addr, "/healthz")
		if why != "" {
			return why
		}
		if uid := resp.Header.Get("X-Pod-Uid"); uid != p.uid {
			return fmt.Sprintf("%s answered as pod %q (uid %q), not as this replica", p.addr, resp.Header.Get("X-Pod-Name"), uid)
		}
	}
	switch {
	case p.spec.probePath != "" && !(p.spec.inherit && p.spec.probePath == "/healthz"):
		if _, why := probeGet(ctx, p.addr, p.spec.probePath); why != "" {
			return why
		}
	case !p.spec.inherit:
		c, err := net.DialTimeout("tcp", p.addr, 200*time.Millisecond)
		if err != nil {
			return "nothing accepts connections on " + p.addr + " yet"
		}
		c.Close()
	}
	if !p.spec.inherit {
		return checkListener(p.port, pgid)
	}
	return ""
}

// probeGet sends a readiness GET: "" when it answers 2xx or 3xx, else why
// not.
func probeGet(ctx context.Context, addr, path string) (*http.Response, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return nil, "readiness probe: " + err.Error()
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return nil, "readiness probe GET " + path + ": " + probeError(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return nil, "readiness probe GET " + path + ": " + resp.Status
	}
	return resp, ""
}

// probeError shortens a probe's error to its cause.
func probeError(err error) string {
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Err != nil:
		return op.Err.Error()
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return "no answer within 1s"
	}
	return err.Error()
}

// newUID makes a pod UID (a random UUID, as Kubernetes gives pods).
func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

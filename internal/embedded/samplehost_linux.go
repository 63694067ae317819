package embedded

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/graylane/graylane/internal/sample"
)

// sampleHost runs the runtime's built-in sample replicas in one process,
// `graylane internal-sample-host` (see sample.RunHost), started when the
// first replica starts and again after it died. Each replica run is handed
// over with its listening socket (the runtime keeps its own copy, as with a
// process of its own), the write ends of its output pipes (the runtime
// copies the read ends into the replica's log), and its environment.
//
// The host is started like a sample process: its own process group, SIGKILL
// as its parent-death signal. When it dies, every replica in it has exited
// (with the host's exit status as the reason) and is restarted with
// backoff, in a new host.
type sampleHost struct {
	r      *Runtime
	runIDs atomic.Uint64

	mu     sync.Mutex
	cur    *hostProcess
	closed bool
	// running is each hosted replica's current run.
	running map[*pod]hostedRun
}

type hostedRun struct {
	proc *hostProcess
	id   string
}

// hostProcess is one sample host process.
type hostProcess struct {
	pid    int
	ctl    *net.UnixConn
	sendMu sync.Mutex

	mu   sync.Mutex
	runs map[string]chan string // run id -> why it ended
	// dead is closed once the process has exited and every run in it was
	// told; exitErr is its exit status then.
	dead    chan struct{}
	exitErr error
}

func newSampleHost(r *Runtime) *sampleHost {
	return &sampleHost{r: r, running: map[*pod]hostedRun{}}
}

// process returns the running host, starting one when there is none.
func (h *sampleHost) process() (*hostProcess, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errStopping
	}
	if h.cur != nil {
		select {
		case <-h.cur.dead:
		default:
			return h.cur, nil
		}
	}
	hp, err := h.startProcess()
	if err != nil {
		return nil, err
	}
	h.cur = hp
	return hp, nil
}

// startProcess starts a host; the caller holds h.mu.
func (h *sampleHost) startProcess() (*hostProcess, error) {
	ctl, peer, err := sample.Socketpair()
	if err != nil {
		return nil, err
	}
	defer peer.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		ctl.Close()
		return nil, fmt.Errorf("sample host output: %w", err)
	}
	cmd := exec.Command(h.r.exe, sample.HostCommand)
	cmd.Env, cmd.SysProcAttr = hostEnv(), directAttr()
	cmd.ExtraFiles = []*os.File{peer} // fd 3 = sample.HostControlFD
	cmd.Stdout, cmd.Stderr = outW, outW
	err = h.r.spawn.start(cmd)
	outW.Close()
	if err != nil {
		outR.Close()
		ctl.Close()
		return nil, fmt.Errorf("start the sample host: %w", err)
	}
	hp := &hostProcess{pid: cmd.Process.Pid, ctl: ctl, runs: map[string]chan string{}, dead: make(chan struct{})}
	h.r.log.Debug("sample host started", "pid", hp.pid)
	go h.logOutput(outR, hp.pid)
	exited := make(chan error, 1)
	go func() { exited <- awaitExit(cmd) }()
	go hp.readLoop(exited)
	return hp, nil
}

// logOutput puts what the host itself writes (not its replicas, which have
// their own logs) in the runtime's log.
func (h *sampleHost) logOutput(r *os.File, pid int) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		h.r.log.Warn("sample host", "pid", pid, "line", sc.Text())
	}
}

// readLoop delivers the ends of runs until the host's end of the control
// socket closes, then waits for the process and ends the runs left.
func (hp *hostProcess) readLoop(exited <-chan error) {
	for {
		m, files, err := sample.ReadHostMessage(hp.ctl)
		for _, f := range files {
			f.Close()
		}
		if err != nil {
			break
		}
		if m.Op == sample.OpExited {
			hp.ended(m.ID, m.Err)
		}
	}
	var status error
	select {
	case status = <-exited:
	case <-time.After(stopGrace):
		// The control socket broke but the host lives on: it is of no
		// use any more.
		_ = syscall.Kill(-hp.pid, syscall.SIGKILL)
		status = <-exited
	}
	hp.ctl.Close()
	if status == nil {
		status = errors.New("exited with status 0")
	}
	hp.mu.Lock()
	hp.exitErr = status
	runs := hp.runs
	hp.runs = nil
	hp.mu.Unlock()
	for _, ch := range runs {
		ch <- "the sample host (pid " + strconv.Itoa(hp.pid) + ") " + status.Error()
	}
	close(hp.dead)
}

func (hp *hostProcess) ended(id, why string) {
	hp.mu.Lock()
	ch := hp.runs[id]
	delete(hp.runs, id)
	hp.mu.Unlock()
	if ch != nil {
		ch <- why
	}
}

// start hands a run over; the returned channel says why it ended.
func (hp *hostProcess) start(id string, env []string, files ...*os.File) (<-chan string, error) {
	ch := make(chan string, 1)
	hp.mu.Lock()
	if hp.runs == nil {
		hp.mu.Unlock()
		return nil, fmt.Errorf("the sample host (pid %d) has exited", hp.pid)
	}
	hp.runs[id] = ch
	hp.mu.Unlock()
	if err := hp.send(sample.HostMessage{Op: sample.OpStart, ID: id, Env: env}, files...); err != nil {
		hp.mu.Lock()
		delete(hp.runs, id)
		hp.mu.Unlock()
		return nil, err
	}
	return ch, nil
}

func (hp *hostProcess) send(m sample.HostMessage, files ...*os.File) error {
	hp.sendMu.Lock()
	defer hp.sendMu.Unlock()
	return sample.SendHostMessage(hp.ctl, m, files...)
}

// isRunning reports whether p has a run in the host.
func (h *sampleHost) isRunning(p *pod) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.running[p]
	return ok
}

// kill ends p's current run in the host at once; false when p has none.
func (h *sampleHost) kill(p *pod) bool {
	h.mu.Lock()
	run, ok := h.running[p]
	h.mu.Unlock()
	if !ok {
		return false
	}
	return run.proc.send(sample.HostMessage{Op: sample.OpKill, ID: run.id}) == nil
}

// close stops the host once every replica has stopped: it closes the
// control socket (the host stops what is left and exits), SIGKILL after
// stopGrace.
func (h *sampleHost) close() {
	h.mu.Lock()
	h.closed = true
	hp := h.cur
	h.mu.Unlock()
	if hp == nil {
		return
	}
	_ = hp.ctl.CloseWrite()
	select {
	case <-hp.dead:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-hp.pid, syscall.SIGKILL)
		<-hp.dead
	}
}

// runHosted is runOnce for a replica in the sample host: it hands the run
// over, probes it until ready (the replica must answer its own POD_UID on
// /healthz, as a process of its own must), and waits for its end. On ctx
// end it stops the run gracefully, kills it after stopGrace, and gives up
// on the host when that does not end it either.
func (r *Runtime) runHosted(ctx context.Context, p *pod) error {
	if p.ln == nil {
		return errors.New("the replica's socket is closed")
	}
	lnFile, err := p.ln.File()
	if err != nil {
		return fmt.Errorf("pass the replica's socket: %w", err)
	}
	defer lnFile.Close()
	out, err := newPipes()
	if err != nil {
		return err
	}
	if p.logs != nil {
		p.logs.newRun()
	}
	p.setState("starting", "")
	r.changed()
	hp, err := r.samples.process()
	var ended <-chan string
	id := p.spec.namespace + "/" + p.spec.name + "#" + strconv.FormatUint(r.samples.runIDs.Add(1), 10)
	if err == nil {
		ended, err = hp.start(id, r.podEnv(p), lnFile, out.outW, out.errW)
	}
	out.started(p.logs)
	if err != nil {
		out.drain()
		return fmt.Errorf("start in the sample host: %w", err)
	}
	r.samples.mu.Lock()
	r.samples.running[p] = hostedRun{proc: hp, id: id}
	r.samples.mu.Unlock()
	defer func() {
		r.samples.mu.Lock()
		delete(r.samples.running, p)
		r.samples.mu.Unlock()
	}()
	p.pid.Store(int64(hp.pid))
	run := &podRun{exited: make(chan struct{})} // see runOnce
	p.run.Store(run)
	probeCtx, stopProbe := context.WithCancel(ctx)
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		r.probe(probeCtx, p, hp.pid)
	}()
	var result error
	select {
	case why := <-ended:
		r.runExited(p, run)
		if why == "" {
			why = "stopped"
		}
		result = errors.New("sample replica: " + why)
	case <-ctx.Done():
		r.stopRun(hp, id, ended)
		run.end.Do(func() { close(run.exited) })
		result = ctx.Err()
	}
	stopProbe()
	<-probed
	out.drain()
	return result
}

// stopRun stops a run gracefully, kills it after stopGrace, and kills the
// host when even that does not end it.
func (r *Runtime) stopRun(hp *hostProcess, id string, ended <-chan string) {
	_ = hp.send(sample.HostMessage{Op: sample.OpStop, ID: id})
	select {
	case <-ended:
		return
	case <-time.After(stopGrace):
	}
	_ = hp.send(sample.HostMessage{Op: sample.OpKill, ID: id})
	select {
	case <-ended:
		return
	case <-time.After(stopGrace):
	}
	r.log.Warn("the sample host does not end a replica; killing the host", "pid", hp.pid, "run", id)
	_ = syscall.Kill(-hp.pid, syscall.SIGKILL)
	<-ended
}

// newPipes makes a run's output pipes (see output).
func newPipes() (*output, error) {
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
	return o, nil
}

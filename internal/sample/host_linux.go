package sample

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// HostSupported: this system can run a sample host.
const HostSupported = true

// Ops of the host protocol.
const (
	OpStart  = "start"  // runtime → host: serve a replica (3 files: listener, stdout, stderr)
	OpStop   = "stop"   // runtime → host: stop a replica gracefully, as SIGTERM stops `graylane sample`
	OpKill   = "kill"   // runtime → host: stop a replica at once, as SIGKILL would
	OpExited = "exited" // host → runtime: a replica ended (its stdout and stderr are closed)
)

// HostMessage is one message between a runtime and its sample host: one
// packet of a SOCK_SEQPACKET Unix socket, JSON, with the files of a start
// attached (SCM_RIGHTS).
type HostMessage struct {
	Op string `json:"op"`
	// ID names a replica's run; unique for the host's life.
	ID string `json:"id"`
	// Env is the replica's environment (start), as `graylane sample`
	// would get it: app, version, upstream_url, POD_NAME, POD_UID,
	// HTTP_PROXY, ...
	Env []string `json:"env,omitempty"`
	// Err is why a replica ended (exited); "" after a stop.
	Err string `json:"err,omitempty"`
}

// maxHostMessage bounds one message (a replica's environment).
const maxHostMessage = 1 << 20

// SendHostMessage sends m with files attached.
func SendHostMessage(c *net.UnixConn, m HostMessage, files ...*os.File) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("sample host: encode %s: %w", m.Op, err)
	}
	if len(b) > maxHostMessage {
		return fmt.Errorf("sample host: %s message of %d bytes: over %d", m.Op, len(b), maxHostMessage)
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = syscall.UnixRights(fds...)
	}
	if _, _, err := c.WriteMsgUnix(b, oob, nil); err != nil {
		return fmt.Errorf("sample host: send %s: %w", m.Op, err)
	}
	return nil
}

// ReadHostMessage reads one message and the files attached to it. At the
// end of the connection it returns io.EOF.
func ReadHostMessage(c *net.UnixConn) (HostMessage, []*os.File, error) {
	buf := make([]byte, maxHostMessage)
	oob := make([]byte, syscall.CmsgSpace(8*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return HostMessage{}, nil, fmt.Errorf("sample host: read: %w", err)
	}
	files, ferr := receivedFiles(oob[:oobn])
	if n == 0 && oobn == 0 {
		return HostMessage{}, nil, io.EOF // the peer closed its end
	}
	if flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 {
		closeAll(files)
		return HostMessage{}, nil, errors.New("sample host: a message was truncated")
	}
	if ferr != nil {
		closeAll(files)
		return HostMessage{}, nil, ferr
	}
	var m HostMessage
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		closeAll(files)
		return HostMessage{}, nil, fmt.Errorf("sample host: decode a message: %w", err)
	}
	return m, files, nil
}

func receivedFiles(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("sample host: control message: %w", err)
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := syscall.ParseUnixRights(&m)
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("sample host: control message: %w", err)
		}
		for _, fd := range fds {
			syscall.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "received"))
		}
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// Socketpair returns the two ends of a new SOCK_SEQPACKET Unix socket
// pair: the runtime's as a connection, the host's as a file to pass to it.
func Socketpair() (*net.UnixConn, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("sample host: socket pair: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "sample-host-control")
	defer mine.Close() // FileConn works on a duplicate
	c, err := net.FileConn(mine)
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, fmt.Errorf("sample host: socket pair: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		syscall.Close(fds[1])
		return nil, nil, fmt.Errorf("sample host: socket pair is a %T", c)
	}
	return uc, os.NewFile(uintptr(fds[1]), "sample-host-control"), nil
}

// RunHost serves replicas of the sample app in this process, as the
// runtime asks over ctl, until ctx ends or the runtime closes ctl; then it
// stops the replicas still running (gracefully, 5 s at most, as `graylane
// sample` stops on SIGTERM) and returns.
//
// Each replica is what a `graylane sample` process started by the runtime
// would be: its own listening socket (handed over with the start), its own
// options read from its own environment (app, version, upstream_url,
// POD_UID, its sidecar as HTTP_PROXY), its standard output and error (its
// log, handed over too), and its end reported to the runtime. Replicas
// share nothing but the process.
func RunHost(ctx context.Context, ctl *net.UnixConn, logger *slog.Logger) error {
	h := &host{ctl: ctl, log: logger, replicas: map[string]*hostedReplica{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		ctl.CloseRead() // ends the read loop
	}()
	var err error
	for {
		m, files, rerr := ReadHostMessage(ctl)
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) && ctx.Err() == nil {
				err = rerr
			}
			break
		}
		h.handle(ctx, m, files)
	}
	h.closed.Store(true)
	cancel()
	h.wg.Wait()
	return err
}

type host struct {
	ctl      *net.UnixConn
	log      *slog.Logger
	sendMu   sync.Mutex
	mu       sync.Mutex
	replicas map[string]*hostedReplica
	wg       sync.WaitGroup
	closed   atomic.Bool // the runtime closed the control socket
}

type hostedReplica struct {
	stop     context.CancelFunc
	kill     chan struct{}
	killOnce sync.Once
}

func (h *host) handle(ctx context.Context, m HostMessage, files []*os.File) {
	switch m.Op {
	case OpStart:
		if len(files) != 3 {
			closeAll(files)
			h.exited(m.ID, fmt.Sprintf("start with %d files, want 3 (listener, stdout, stderr)", len(files)))
			return
		}
		h.mu.Lock()
		if _, dup := h.replicas[m.ID]; dup {
			h.mu.Unlock()
			closeAll(files)
			h.log.Warn("sample host: a replica started twice", "id", m.ID)
			return
		}
		rctx, stop := context.WithCancel(ctx)
		r := &hostedReplica{stop: stop, kill: make(chan struct{})}
		h.replicas[m.ID] = r
		h.mu.Unlock()
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			defer stop()
			msg := runReplica(rctx, r.kill, m.Env, files[0], files[1], files[2])
			h.mu.Lock()
			delete(h.replicas, m.ID)
			h.mu.Unlock()
			h.exited(m.ID, msg)
		}()
	case OpStop, OpKill:
		closeAll(files)
		h.mu.Lock()
		r := h.replicas[m.ID]
		h.mu.Unlock()
		if r == nil {
			return // ended already; its exited message is on the way
		}
		if m.Op == OpStop {
			r.stop()
		} else {
			r.killOnce.Do(func() { close(r.kill) })
		}
	default:
		closeAll(files)
		h.log.Warn("sample host: unknown message", "op", m.Op, "id", m.ID)
	}
}

func (h *host) exited(id, msg string) {
	h.sendMu.Lock()
	defer h.sendMu.Unlock()
	if err := SendHostMessage(h.ctl, HostMessage{Op: OpExited, ID: id, Err: msg}); err != nil && !h.closed.Load() {
		h.log.Warn("sample host: report a replica's end", "id", id, "err", err)
	}
}

// runReplica serves one replica until ctx ends (a stop: "" is returned) or
// kill closes or serving fails (why is returned). It closes the files:
// stdout and stderr last, so the runtime has read everything the replica
// wrote once they are closed.
func runReplica(ctx context.Context, kill <-chan struct{}, env []string, lnFile, stdout, stderr *os.File) string {
	defer stdout.Close()
	defer stderr.Close()
	fail := func(err error) string {
		fmt.Fprintf(stderr, "graylane: %v\n", err)
		return err.Error()
	}
	ln, err := net.FileListener(lnFile)
	lnFile.Close()
	if err != nil {
		return fail(fmt.Errorf("the handed-over socket is not a listening socket: %w", err))
	}
	lookup := envLookup(env)
	o, err := Load(lookup, nil)
	if err != nil {
		ln.Close()
		return fail(err)
	}
	o.Proxy = proxyFunc(lookup)
	o.Ready = func(addr string) { fmt.Fprintf(stdout, "listening: http://%s\n", addr) }
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	switch err := serve(ctx, ln, o, logger, kill); {
	case errors.Is(err, errKilled):
		return "killed"
	case err != nil:
		return fail(err)
	}
	return ""
}

// envLookup looks variables up in env (KEY=VALUE, the last one wins).
func envLookup(env []string) func(string) (string, bool) {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// HostControlFD is the file descriptor a sample host finds its control
// socket at.
const HostControlFD = 3

// RunHostFD is RunHost on the control socket passed as HostControlFD.
func RunHostFD(ctx context.Context, logger *slog.Logger) error {
	f := os.NewFile(HostControlFD, "sample-host-control")
	if f == nil {
		return errors.New("sample host: no control socket (file descriptor 3)")
	}
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("sample host: file descriptor 3: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return fmt.Errorf("sample host: file descriptor 3 is a %T, want a Unix socket", c)
	}
	defer uc.Close()
	return RunHost(ctx, uc, logger)
}

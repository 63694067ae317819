package embedded

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// podSpec is what a replica runs.
type podSpec struct {
	workload  string // "Deployment default/appa-v1"
	namespace string
	name      string // pod name: <workload>-<hash>-<i>
	labels    map[string]string
	argv      []string
	env       []string
	probePath string // readinessProbe httpGet path, "" = TCP connect
}

// pod is one running replica: a process, its port and its sidecar.
type pod struct {
	spec     podSpec
	port     int
	addr     string // 127.0.0.1:port
	sidecar  *listener
	ready    atomic.Bool
	restarts atomic.Int32
	pid      atomic.Int64
	mu       sync.Mutex
	state    string // starting, running, crashed, stopped
	lastErr  string
	cancel   context.CancelFunc
	done     chan struct{}
}

// templateHash identifies a pod template, as the pod-template-hash label
// does in Kubernetes.
func templateHash(t *corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(t)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}

// podSpecs expands a Deployment into one podSpec per replica, and returns
// its pod template hash.
func (r *Runtime) podSpecs(d *appsv1.Deployment, ns string) ([]podSpec, string, error) {
	n := 1
	if d.Spec.Replicas != nil {
		n = int(*d.Spec.Replicas)
	}
	base, err := r.templateSpec("Deployment "+ns+"/"+d.Name, ns, &d.Spec.Template)
	if err != nil {
		return nil, "", err
	}
	hash := templateHash(&d.Spec.Template)
	specs := make([]podSpec, n)
	for i := range specs {
		specs[i] = base
		specs[i].name = fmt.Sprintf("%s-%s-%d", d.Name, hash, i)
	}
	return specs, hash, nil
}

// templateSpec is what every replica of a pod template runs (name unset).
func (r *Runtime) templateSpec(ref, ns string, tpl *corev1.PodTemplateSpec) (podSpec, error) {
	if len(tpl.Spec.Containers) == 0 {
		return podSpec{}, fmt.Errorf("%s: the pod template has no containers", ref)
	}
	c := tpl.Spec.Containers[0]
	if len(tpl.Spec.Containers) > 1 {
		r.noteOnce(ref+" containers", "%s: runs only its first container %q; the others (%d) are not started", ref, c.Name, len(tpl.Spec.Containers)-1)
	}
	cmd, ok := r.images.Lookup(c.Image)
	if !ok {
		return podSpec{}, &MissingImageError{Workload: ref, Container: c.Name, Image: c.Image}
	}
	argv := []string{"/bin/sh", "-c", cmd}
	if cmd == BuiltinSample {
		argv = []string{r.exe, "sample"}
	}
	probe := ""
	if p := c.ReadinessProbe; p != nil && p.HTTPGet != nil {
		probe = p.HTTPGet.Path
		if probe == "" {
			probe = "/"
		}
	}
	env := append(r.containerEnv(ref, c), "GRAYLANE_IMAGE="+c.Image)
	return podSpec{workload: ref, namespace: ns, labels: tpl.Labels, argv: argv, env: env, probePath: probe}, nil
}

// MissingImageError: a container image has no command in the image map.
type MissingImageError struct{ Workload, Container, Image string }

func (e *MissingImageError) Error() string {
	return fmt.Sprintf("%s container %q: no command for image %q: map it with --image '%s=COMMAND' (COMMAND may be %s)",
		e.Workload, e.Container, e.Image, e.Image, BuiltinSample)
}

func (r *Runtime) containerEnv(ref string, c corev1.Container) []string {
	var env []string
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			r.noteOnce(ref+" env "+e.Name, "%s: env %s uses valueFrom, which the embedded runtime does not resolve; it is left unset", ref, e.Name)
			continue
		}
		env = append(env, e.Name+"="+e.Value)
	}
	if len(c.EnvFrom) > 0 {
		r.noteOnce(ref+" envFrom", "%s: envFrom (ConfigMaps, Secrets) is not resolved by the embedded runtime", ref)
	}
	return env
}

// start runs the pod's process under supervision until ctx ends.
func (r *Runtime) startPod(ctx context.Context, p *pod) {
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		backoff := 200 * time.Millisecond
		for {
			started := time.Now()
			err := r.runOnce(ctx, p)
			p.ready.Store(false)
			if ctx.Err() != nil {
				p.setState("stopped", "")
				return
			}
			n := p.restarts.Add(1)
			p.setState("crashed", err.Error())
			r.log.Warn("workload process exited; restarting", "pod", p.spec.name, "workload", p.spec.workload, "err", err, "restarts", n, "in", backoff, "log", r.podLog(p))
			if time.Since(started) > 30*time.Second {
				backoff = 200 * time.Millisecond
			}
			select {
			case <-ctx.Done():
				p.setState("stopped", "")
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
		}
	}()
}

func (p *pod) setState(s, err string) {
	p.mu.Lock()
	p.state, p.lastErr = s, err
	p.mu.Unlock()
}

func (p *pod) status() (string, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, p.lastErr
}

func (r *Runtime) podLog(p *pod) string {
	return filepath.Join(r.stateDir, "logs", p.spec.name+".log")
}

// runOnce starts the process, probes it until ready, and waits for it to
// exit. On ctx end it sends SIGTERM to the process group, then SIGKILL.
func (r *Runtime) runOnce(ctx context.Context, p *pod) error {
	logFile, err := os.OpenFile(r.podLog(p), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(p.spec.argv[0], p.spec.argv[1:]...)
	cmd.Env = r.podEnv(p)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.setState("starting", "")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %v: %w", p.spec.argv, err)
	}
	p.pid.Store(int64(cmd.Process.Pid))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	go r.probe(ctx, p, exited)
	select {
	case err := <-exited:
		if err == nil {
			err = errors.New("exited with status 0")
		}
		return fmt.Errorf("process: %w", err)
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		return ctx.Err()
	}
}

// probe marks the pod ready once its port accepts connections (or its
// readinessProbe path answers 2xx/3xx).
func (r *Runtime) probe(ctx context.Context, p *pod, exited <-chan error) {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if len(exited) > 0 {
			return
		}
		if p.probeOnce() {
			p.setState("running", "")
			p.ready.Store(true)
			r.changed()
			return
		}
	}
}

func (p *pod) probeOnce() bool {
	if p.spec.probePath == "" {
		c, err := net.DialTimeout("tcp", p.addr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	resp, err := probeClient.Get("http://" + p.addr + p.spec.probePath)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

func (r *Runtime) podEnv(p *pod) []string {
	proxy := "http://" + p.sidecar.addr
	host, port, _ := net.SplitHostPort(p.sidecar.addr)
	env := append(os.Environ(), p.spec.env...)
	return append(env,
		"PORT="+strconv.Itoa(p.port), "HOST=127.0.0.1",
		"HTTP_PROXY="+proxy, "http_proxy="+proxy, "NO_PROXY=localhost,127.0.0.1", "no_proxy=localhost,127.0.0.1",
		"JAVA_TOOL_OPTIONS=-Dhttp.proxyHost="+host+" -Dhttp.proxyPort="+port+" -Dhttp.nonProxyHosts=localhost|127.0.0.1",
		"POD_NAME="+p.spec.name, "POD_NAMESPACE="+p.spec.namespace,
	)
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (r *Runtime) noteOnce(key, format string, args ...any) {
	r.notesMu.Lock()
	defer r.notesMu.Unlock()
	if r.notes[key] {
		return
	}
	r.notes[key] = true
	r.log.Info(fmt.Sprintf(format, args...))
}

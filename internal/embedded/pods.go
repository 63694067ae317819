package embedded

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/rollouttraffic"
)

// podSpec is what a replica runs.
type podSpec struct {
	workload  string // "Deployment default/appa-v1"
	namespace string
	name      string // pod name: <workload>-<hash>-<i>
	labels    map[string]string
	argv      []string
	env       []string
	dir       string // working directory, "" = the runtime's
	probePath string // readinessProbe httpGet path, "" = TCP connect
	// inherit: the process takes its listening socket as fd 3
	// (LISTEN_FDS=1), as the built-in sample does; otherwise it binds PORT
	// itself.
	inherit bool
}

// pod is one running replica: a process, its port and its sidecar.
type pod struct {
	spec podSpec
	port int
	addr string // 127.0.0.1:port
	// external: an address outside the runtime (a ServiceEntry endpoint,
	// a passthrough destination), always ready, with no process and no
	// sidecar: a request to it has no destination reporter.
	external bool
	uid      string // POD_UID: the sample answers it on /healthz
	sidecar  *listener
	ready    atomic.Bool
	restarts atomic.Int32
	pid      atomic.Int64
	// run is the process's current run (nil before the first start).
	run atomic.Pointer[podRun]
	// restarting: the process exited after it had been ready and is
	// started again at once; while no replica of a destination is ready,
	// requests still go to it (memberList.choose).
	restarting atomic.Bool
	// lastQuick is when the process was last restarted at once (only the
	// supervising goroutine uses it).
	lastQuick time.Time
	mu        sync.Mutex
	state     string // pending, starting, running, crashed, stopped
	lastErr   string
	why       string // why a running process is not ready (the last probe)
	// exit and exitTail are the last exit and its last stderr lines, kept
	// until the replica is ready: why a crash-looping replica is not.
	exit     string
	exitTail []string
	stopOnce sync.Once
	// ln is the replica's listening socket while the runtime holds it:
	// always for inherit, otherwise between runs (see portSet).
	ln     *net.TCPListener
	logs   *podLogs
	cancel context.CancelFunc
	done   chan struct{}
}

// templateHash identifies a pod template, as the pod-template-hash label
// does in Kubernetes (rollouttraffic.TemplateHash).
func templateHash(t *corev1.PodTemplateSpec) string { return rollouttraffic.TemplateHash(t) }

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
	argv, inherit := []string{"/bin/sh", "-c", cmd.Command}, false
	if cmd.Command == BuiltinSample {
		argv, inherit = []string{r.exe, "sample"}, true
	}
	probe := ""
	if p := c.ReadinessProbe; p != nil && p.HTTPGet != nil {
		probe = p.HTTPGet.Path
		if probe == "" {
			probe = "/"
		}
	}
	env := append(r.containerEnv(ref, c), "GRAYLANE_IMAGE="+c.Image)
	return podSpec{workload: ref, namespace: ns, labels: tpl.Labels, argv: argv, env: env, dir: cmd.Dir, probePath: probe, inherit: inherit}, nil
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

func (r *Runtime) noteOnce(key, format string, args ...any) {
	r.notesMu.Lock()
	defer r.notesMu.Unlock()
	if r.notes[key] {
		return
	}
	r.notes[key] = true
	r.log.Info(fmt.Sprintf(format, args...))
}

package embedded

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/sample"
)

// How the built-in sample's replicas run (Options.SampleProcesses).
const (
	// SamplesShared: every built-in sample replica of the runtime is
	// served by one process, the sample host (`graylane
	// internal-sample-host`), each replica on its own handed-over socket
	// with its own environment, identity and log. The default on Linux.
	SamplesShared = "shared"
	// SamplesPerReplica: one `graylane sample` process per replica (the
	// default elsewhere).
	SamplesPerReplica = "per-replica"
)

// sampleMode checks Options.SampleProcesses and says whether replicas of
// the built-in sample share the sample host.
func sampleMode(mode string) (shared bool, err error) {
	switch mode {
	case "", SamplesShared:
		return sample.HostSupported, nil
	case SamplesPerReplica:
		return false, nil
	}
	return false, &cli.InputError{Err: fmt.Errorf("--sample-processes %q: want %s or %s", mode, SamplesShared, SamplesPerReplica)}
}

// hosted reports whether p runs in the sample host.
func (r *Runtime) hosted(p *pod) bool { return p.spec.inherit && r.samples != nil }

// ErrReplicaNotRunning: KillReplica found the replica between runs.
var ErrReplicaNotRunning = errors.New("the replica is not running")

// KillReplica ends one replica at once, as SIGKILL would: a process of its
// own gets SIGKILL (its whole process group); a replica in the sample host
// is closed there (its socket and connections, without answers to the
// requests in flight), the other replicas of the host go on. Either way
// the runtime sees the replica exit and restarts it, as after a crash.
func (r *Runtime) KillReplica(namespace, name string) (PodStatus, error) {
	var p *pod
	for _, q := range r.cfg.Load().pods {
		if q.spec.namespace == namespace && q.spec.name == name {
			p = q
		}
	}
	if p == nil {
		return PodStatus{}, fmt.Errorf("replica %s/%s: %w", namespace, name, errNotFound)
	}
	st := r.podStatus(p)
	if r.hosted(p) {
		// The replica leaves the pool before the host cuts its
		// connections: the requests in flight on it are sent again.
		if run := p.run.Load(); run != nil && r.samples.isRunning(p) {
			r.runExited(p, run)
		}
		if !r.samples.kill(p) {
			return st, fmt.Errorf("replica %s/%s: %w", namespace, name, ErrReplicaNotRunning)
		}
		return st, nil
	}
	pid := int(p.pid.Load())
	if state, _ := p.status(); pid == 0 || (state != "running" && state != "starting") {
		return st, fmt.Errorf("replica %s/%s: %w", namespace, name, ErrReplicaNotRunning)
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		return st, fmt.Errorf("replica %s/%s: kill process group %d: %w", namespace, name, pid, err)
	}
	return st, nil
}

var errNotFound = errors.New("no such replica")

// serveKill is POST /v1/workloads/{ns}/{name}/kill.
func (r *Runtime) serveKill(w http.ResponseWriter, req *http.Request) {
	st, err := r.KillReplica(req.PathValue("ns"), req.PathValue("name"))
	switch {
	case errors.Is(err, errNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case errors.Is(err, ErrReplicaNotRunning):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, st)
	}
}

// hostEnv is the sample host's environment: the runtime's, without what
// is per process (socket activation, the supervisor's variables).
func hostEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LISTEN_") && !strings.HasPrefix(kv, supervisorParentEnv+"=") {
			env = append(env, kv)
		}
	}
	return env
}

package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// progress reports how the workloads start: on a terminal (Options.Console)
// one line per workload redrawn in place, with the reason a workload is
// not ready; otherwise log lines at the same moments. Once every workload
// has been ready, or when the runtime stops, it is over: later exits are
// logged.
type progress struct {
	r       *Runtime
	log     *slog.Logger
	console *Console

	mu   sync.Mutex
	live bool // the console shows the start-up block
}

// WorkloadProgress is one workload's replicas at a moment.
type WorkloadProgress struct {
	Workload string // "Deployment ns/name"
	Ready    int
	Replicas int
	Restarts int32
	// Reason is why a replica is not ready: its last exit, or its last
	// failed readiness probe; Stderr the last stderr lines before that exit.
	Reason string
	Stderr []string
	exited bool
}

func (w WorkloadProgress) ready() bool { return w.Ready == w.Replicas }

// Progress lists every workload's replicas, in the runtime's order.
func (r *Runtime) Progress() []WorkloadProgress {
	var out []WorkloadProgress
	index := map[string]int{}
	for _, p := range r.cfg.Load().pods {
		i, ok := index[p.spec.workload]
		if !ok {
			i = len(out)
			index[p.spec.workload] = i
			out = append(out, WorkloadProgress{Workload: p.spec.workload})
		}
		w := &out[i]
		w.Replicas++
		w.Restarts += p.restarts.Load()
		if p.ready.Load() {
			w.Ready++
			continue
		}
		if w.Reason == "" {
			w.Reason, w.Stderr, w.exited = p.notReadyReason()
		}
	}
	return out
}

// notReadyWorkloads names the workloads with replicas not ready.
func notReadyWorkloads(ws []WorkloadProgress) []string {
	var out []string
	for _, w := range ws {
		if !w.ready() {
			out = append(out, w.Workload)
		}
	}
	return out
}

// run reports until every workload has been ready once (or ctx ends).
func (pr *progress) run(ctx context.Context) {
	started := time.Now()
	// Every second: the elapsed time on screen, or a reason to log.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	if pr.console != nil {
		pr.mu.Lock()
		pr.live = true
		pr.mu.Unlock()
		defer pr.end()
	}
	last := map[string]*workloadLog{}
	for {
		next := pr.r.nextChange()
		ws := pr.r.Progress()
		done := len(notReadyWorkloads(ws)) == 0
		if pr.console != nil {
			pr.console.set(progressBlock(ws, time.Since(started), done))
		} else {
			pr.logChanges(ws, last)
		}
		if done {
			if pr.console == nil && len(ws) > 0 {
				pr.log.Info("all workloads ready", "workloads", len(ws), "in", time.Since(started).Round(time.Millisecond))
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-next:
		case <-tick.C:
		}
	}
}

// end leaves the block on screen; what follows is logged.
func (pr *progress) end() {
	pr.mu.Lock()
	pr.live = false
	pr.mu.Unlock()
	pr.console.finish()
}

// workloadLog is what the log said of a workload so far.
type workloadLog struct {
	seen   time.Time
	ready  int
	reason string
}

// quietStart is how long a workload may start before the log says why it
// is not ready (most are ready sooner).
const quietStart = 3 * time.Second

// logChanges logs what changed since last (and updates last).
func (pr *progress) logChanges(ws []WorkloadProgress, last map[string]*workloadLog) {
	for _, w := range ws {
		l := last[w.Workload]
		if l == nil {
			l = &workloadLog{seen: time.Now()}
			last[w.Workload] = l
			if !w.ready() {
				pr.log.Info("workload starting", "workload", w.Workload, "replicas", w.Replicas)
			}
		} else if l.ready != w.Ready {
			pr.log.Info("workload progress", "workload", w.Workload, "ready", fmt.Sprintf("%d/%d", w.Ready, w.Replicas))
		}
		l.ready = w.Ready
		// An exit is logged when it happens (see exited); a replica that
		// runs but does not get ready says why, once per reason.
		if !w.ready() && !w.exited && w.Reason != "" && w.Reason != l.reason && time.Since(l.seen) >= quietStart {
			pr.log.Info("workload not ready", "workload", w.Workload, "reason", w.Reason)
			l.reason = w.Reason
		}
	}
}

// exited reports a replica's exit: in the log, unless the start-up block
// on the terminal shows it.
func (pr *progress) exited(p *pod, restarts int32, backoff time.Duration) {
	pr.mu.Lock()
	live := pr.live
	pr.mu.Unlock()
	if live {
		return
	}
	exit, tail, _ := p.notReadyReason()
	args := []any{"pod", p.spec.name, "workload", p.spec.workload, "err", exit, "restarts", restarts, "in", backoff, "log", pr.r.podLog(p)}
	if len(tail) > 0 {
		args = append(args, "stderr", strings.Join(tail, "\n"))
	}
	pr.log.Warn("workload process exited; restarting", args...)
}

// progressBlock is the start-up block: one line per workload, the reason
// under a workload that is not ready, and a summary line.
func progressBlock(ws []WorkloadProgress, elapsed time.Duration, done bool) []string {
	width := 0
	for _, w := range ws {
		width = max(width, len(w.Workload))
	}
	var lines []string
	ready := 0
	for _, w := range ws {
		mark := "  ready   "
		if !w.ready() {
			mark = "  waiting "
		} else {
			ready++
		}
		line := fmt.Sprintf("%s%-*s  %d/%d ready", mark, width, w.Workload, w.Ready, w.Replicas)
		if w.Restarts > 0 {
			line += fmt.Sprintf("  restarts %d", w.Restarts)
		}
		if !w.ready() && w.Reason != "" {
			line += "  " + w.Reason
		}
		lines = append(lines, line)
		if !w.ready() {
			for _, s := range lastN(w.Stderr, 3) {
				lines = append(lines, "            | "+s)
			}
		}
	}
	if len(ws) == 0 {
		return nil
	}
	secs := elapsed.Round(time.Second)
	if done {
		return append(lines, fmt.Sprintf("all %d workloads ready (%s)", len(ws), elapsed.Round(100*time.Millisecond)))
	}
	return append(lines, fmt.Sprintf("starting: %d of %d workloads ready (%s)", ready, len(ws), secs))
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

package embedded

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// LogsRequest selects replica logs (GET /v1/logs).
type LogsRequest struct {
	// Workload is a Deployment or Rollout name ("deployment/NAME",
	// "rollout/NAME" when both exist), or a pod name.
	Workload string
	// Namespace; "" finds the workload in any namespace (it must be in one).
	Namespace string
	// Replica is the index of one replica (in `graylane get workloads`
	// order); < 0: every replica, lines prefixed with "[POD] " when there
	// are several.
	Replica int
	// Tail is the number of last lines per replica; < 0: all.
	Tail int
	// Follow keeps streaming new lines until the replicas stop.
	Follow bool
}

// LogsError is a LogsRequest that names nothing (Status 404) or is
// ambiguous or out of range (400).
type LogsError struct {
	Status int
	Msg    string
}

func (e *LogsError) Error() string { return e.Msg }

// logPods finds the replicas a request names.
func (r *Runtime) logPods(req LogsRequest) ([]*pod, error) {
	kind, name := "", req.Workload
	if k, n, ok := strings.Cut(name, "/"); ok {
		switch strings.ToLower(k) {
		case "deployment", "deployments", "deploy":
			kind = "Deployment"
		case "rollout", "rollouts", "ro":
			kind = "Rollout"
		case "pod", "pods", "po":
			kind = "Pod"
		default:
			return nil, &LogsError{http.StatusBadRequest, fmt.Sprintf("%q: want NAME, deployment/NAME, rollout/NAME or pod/NAME", name)}
		}
		name = n
	}
	byWorkload := map[string][]*pod{}
	var order []string
	for _, p := range r.cfg.Load().pods {
		if req.Namespace != "" && p.spec.namespace != req.Namespace {
			continue
		}
		wkind, _, _ := strings.Cut(p.spec.workload, " ")
		podMatch := p.spec.name == name && (kind == "" || kind == "Pod")
		workloadMatch := workloadName(p.spec.workload) == name && (kind == "" || kind == wkind)
		key := p.spec.workload
		switch {
		case podMatch:
			key = "Pod " + p.spec.namespace + "/" + p.spec.name
		case !workloadMatch:
			continue
		}
		if byWorkload[key] == nil {
			order = append(order, key)
		}
		byWorkload[key] = append(byWorkload[key], p)
	}
	where := ""
	if req.Namespace != "" {
		where = " in namespace " + req.Namespace
	}
	switch {
	case len(order) == 0:
		return nil, &LogsError{http.StatusNotFound, fmt.Sprintf("no workload or pod named %q%s (see graylane get workloads --local)", req.Workload, where)}
	case len(order) > 1:
		sort.Strings(order)
		return nil, &LogsError{http.StatusBadRequest, fmt.Sprintf("%q names %s: say which with -n NAMESPACE or KIND/NAME", req.Workload, strings.Join(order, ", "))}
	}
	pods := byWorkload[order[0]]
	if req.Replica >= 0 {
		if req.Replica >= len(pods) {
			return nil, &LogsError{http.StatusBadRequest, fmt.Sprintf("%s has %d replicas (--replica 0..%d)", order[0], len(pods), len(pods)-1)}
		}
		pods = pods[req.Replica : req.Replica+1]
	}
	return pods, nil
}

// Logs writes the selected replicas' logs to w (see LogsRequest); flush is
// called when no more lines are at hand for now.
func (r *Runtime) Logs(ctx context.Context, req LogsRequest, w *bufio.Writer, flush func() error) error {
	pods, err := r.logPods(req)
	if err != nil {
		return err
	}
	out := &prefixSink{w: w, flushHTTP: flush}
	if !req.Follow {
		for _, p := range pods {
			if err := copyPodLog(ctx, p, req, len(pods) > 1, out); err != nil {
				return err
			}
		}
		return out.flush()
	}
	errs := make(chan error, len(pods))
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- copyPodLog(ctx, p, req, len(pods) > 1, out)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return out.flush()
}

func copyPodLog(ctx context.Context, p *pod, req LogsRequest, prefixed bool, out *prefixSink) error {
	if p.logs == nil {
		return nil
	}
	sink := lineSink(out)
	if prefixed {
		sink = podSink{out, "[" + p.spec.name + "] "}
	}
	return p.logs.copyTo(ctx, req.Tail, req.Follow, sink)
}

// prefixSink writes lines from one or more replicas, a whole line at a time.
type prefixSink struct {
	mu        sync.Mutex
	w         *bufio.Writer
	flushHTTP func() error
}

func (s *prefixSink) line(b []byte) error { return s.prefixed("", b) }

func (s *prefixSink) prefixed(prefix string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.WriteString(prefix); err != nil {
		return err
	}
	_, err := s.w.Write(b)
	return err
}

func (s *prefixSink) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.w.Flush(); err != nil {
		return err
	}
	if s.flushHTTP != nil {
		return s.flushHTTP()
	}
	return nil
}

type podSink struct {
	s      *prefixSink
	prefix string
}

func (p podSink) line(b []byte) error { return p.s.prefixed(p.prefix, b) }
func (p podSink) flush() error        { return p.s.flush() }

// serveLogs is GET /v1/logs?workload=NAME&namespace=NS&replica=N&tail=N&follow=true:
// text/plain lines; a bad request answers {error} with 400 or 404.
func (r *Runtime) serveLogs(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	lr := LogsRequest{Workload: q.Get("workload"), Namespace: q.Get("namespace"), Replica: -1, Tail: -1, Follow: q.Get("follow") == "true"}
	var err error
	for _, f := range []struct {
		name string
		dst  *int
	}{{"replica", &lr.Replica}, {"tail", &lr.Tail}} {
		if v := q.Get(f.name); v != "" {
			if *f.dst, err = strconv.Atoi(v); err != nil || *f.dst < -1 {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("%s=%q: want a number", f.name, v)})
				return
			}
		}
	}
	if lr.Workload == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "want ?workload=NAME"})
		return
	}
	if _, err := r.logPods(lr); err != nil {
		le := err.(*LogsError)
		writeJSON(w, le.Status, map[string]any{"error": le.Msg})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = r.Logs(req.Context(), lr, bufio.NewWriterSize(w, 32<<10), rc.Flush)
}

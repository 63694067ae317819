package embedded

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/graylane/graylane/internal/adminapi"
)

// LogsError is an adminapi.LogsRequest that names nothing (Status 404) or is
// ambiguous or out of range (400).
type LogsError struct {
	Status int
	Msg    string
}

func (e *LogsError) Error() string { return e.Msg }

// logPods finds the replicas a request names.
func (r *Runtime) logPods(req adminapi.LogsRequest) ([]*pod, error) {
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

// Logs writes the selected replicas' logs to w (see adminapi.LogsRequest); flush is
// called when no more lines are at hand for now.
func (r *Runtime) Logs(ctx context.Context, req adminapi.LogsRequest, w *bufio.Writer, flush func() error) error {
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

func copyPodLog(ctx context.Context, p *pod, req adminapi.LogsRequest, prefixed bool, out *prefixSink) error {
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
	lr, err := adminapi.ParseLogsQuery(req.URL.Query())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, adminapi.ErrorBody{Error: err.Error()})
		return
	}
	if _, err := r.logPods(lr); err != nil {
		le := err.(*LogsError)
		writeJSON(w, le.Status, adminapi.ErrorBody{Error: le.Msg})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = r.Logs(req.Context(), lr, bufio.NewWriterSize(w, 32<<10), rc.Flush)
}

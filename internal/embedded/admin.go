package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/plan"
	"github.com/graylane/graylane/internal/route"
)

// adminHandler serves the admin API (the types, a client and each
// endpoint's documentation are in internal/adminapi):
//
//	GET  /readyz          200 when every workload is ready, else 503 and the list
//	GET  /metrics         Istio standard metrics, Prometheus text format
//	GET  /v1/addresses    where the runtime serves, the workloads not ready yet
//	POST /apply           YAML/JSON manifests in the body, applied like kubectl apply
//	GET  /v1/workloads    pods with state, port, sidecar, restarts
//	POST /v1/workloads/{ns}/{name}/kill   ends a replica as SIGKILL would
//	GET  /v1/logs?workload=NAME&namespace=NS&replica=N&tail=N&follow=true   replica logs (text)
//	GET  /v1/services     Services with their endpoints
//	GET  /v1/serviceentries          the ServiceEntries routed by, with their resourceVersion
//	DELETE /v1/serviceentries/{ns}/{name}[?resourceVersion=N]   forgets one: 200 {deleted}, 404 unknown, 409 changed since version N
//	GET  /v1/routes       virtual hosts per source (mesh, gateways)
//	GET  /v1/rollouts     Rollouts: phase, step, weights, replicas
//	POST /v1/rollouts/{ns}/{name}/{promote|promote-full|abort|retry|pause|resume}
//	                      200 {accepted, message}, 404 unknown, 409 refused (changes nothing)
//	POST /v1/rollouts/{ns}/{name}/set-image?container=C&image=I
//	GET  /v1/lanes        Lanes: phase, weight, members, plan, analysis
//	POST /v1/lanes/{ns}/{name}/{promote|promote-full|abort|retry|pause|resume}  (as for rollouts)
//	GET  /v1/gates        the gates lanes' whitelists name: how current each snapshot is
//	GET  /debug/pprof/    Go profiles of the runtime process
//	/api/v1/query, /api/v1/query_range   Prometheus query API over the metrics above
func (r *Runtime) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if nr := r.NotReady(); len(nr) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready:\n  "+strings.Join(nr, "\n  ")+"\n")
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /apply", r.serveApply)
	mux.HandleFunc("GET /v1/addresses", func(w http.ResponseWriter, req *http.Request) {
		// The admin listener serves before the others are open.
		select {
		case <-r.started:
			writeJSON(w, http.StatusOK, r.Addresses())
		case <-req.Context().Done():
		}
	})
	mux.HandleFunc("GET /v1/workloads", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, r.Workloads()) })
	mux.HandleFunc("GET /v1/logs", r.serveLogs)
	mux.HandleFunc("POST /v1/workloads/{ns}/{name}/kill", r.serveKill)
	mux.HandleFunc("GET /v1/services", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, r.Services()) })
	mux.HandleFunc("GET /v1/serviceentries", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, r.ServiceEntries()) })
	mux.HandleFunc("DELETE /v1/serviceentries/{ns}/{name}", func(w http.ResponseWriter, req *http.Request) {
		ref, err := r.DeleteServiceEntry(req.PathValue("ns"), req.PathValue("name"), req.URL.Query().Get("resourceVersion"))
		if err != nil {
			writeJSON(w, errorStatus(err), adminapi.ErrorBody{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, adminapi.DeleteResult{Deleted: ref})
	})
	if r.prom != nil {
		// The embedded Prometheus: AnalysisTemplates with this address
		// (or none) query the runtime's own Istio metrics.
		mux.Handle("/api/v1/", r.prom.Handler())
	}
	mux.HandleFunc("GET /v1/rollouts", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, r.Rollouts()) })
	mux.HandleFunc("POST /v1/rollouts/{ns}/{name}/set-image", r.serveSetImage)
	mux.HandleFunc("POST /v1/rollouts/{ns}/{name}/{command}", func(w http.ResponseWriter, req *http.Request) { r.serveCommand(w, req, r.Command) })
	mux.HandleFunc("GET /v1/lanes", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, r.Lanes()) })
	mux.HandleFunc("POST /v1/lanes/{ns}/{name}/{command}", func(w http.ResponseWriter, req *http.Request) { r.serveCommand(w, req, r.LaneCommand) })
	mux.HandleFunc("GET /v1/gates", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, r.Gates()) })
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /v1/routes", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, r.Routes()) })
	return mux
}

// Addresses says where the runtime serves and which workloads are not
// ready yet; valid once Started is closed.
func (r *Runtime) Addresses() adminapi.Addresses {
	a := r.addresses()
	a.NotReady = notReadyWorkloads(r.Progress())
	return a
}

// Gates reports every gate that a lane's whitelist names, sorted by URL.
func (r *Runtime) Gates() []adminapi.GateStatus {
	out := []adminapi.GateStatus{}
	for _, st := range r.gates.statuses() {
		out = append(out, adminapi.GateStatus{Gate: st.Gate, Loaded: st.Loaded, Version: st.Version, Entries: st.Entries,
			Stale: st.Stale, Error: st.Error, Failures: st.Failures, Since: st.Since})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Gate < out[j].Gate })
	return out
}

// Routes lists the virtual hosts of the routing in use, per source (the
// mesh and each gateway).
func (r *Runtime) Routes() []route.HostSummary { return r.cfg.Load().table.Hosts() }

func (r *Runtime) serveApply(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 32<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, adminapi.ErrorBody{Error: err.Error()})
		return
	}
	name := req.URL.Query().Get("name")
	if name == "" {
		name = "apply"
	}
	set, err := manifest.LoadBytes(name, body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, adminapi.ErrorBody{Error: err.Error()})
		return
	}
	res, err := r.Apply(set)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, adminapi.ErrorBody{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// serveCommand runs a plan command on a Rollout or a lane (run): 200
// {accepted, message} says what it did, 404 names what does not exist,
// 409 Conflict says why the command would change nothing.
func (r *Runtime) serveCommand(w http.ResponseWriter, req *http.Request, run func(ns, name string, cmd plan.Command) (string, error)) {
	cmd := plan.Command(req.PathValue("command"))
	switch cmd {
	case plan.Promote, plan.PromoteFull, plan.Abort, plan.Retry, plan.Pause, plan.Resume:
	default:
		writeJSON(w, http.StatusBadRequest, adminapi.ErrorBody{Error: fmt.Sprintf("unknown command %q: want promote, promote-full, abort, retry, pause or resume", cmd)})
		return
	}
	msg, err := run(req.PathValue("ns"), req.PathValue("name"), cmd)
	if err != nil {
		writeJSON(w, errorStatus(err), adminapi.ErrorBody{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, adminapi.CommandResult{Accepted: cmd, Message: msg})
}

// errorStatus is the HTTP status of a command's error: 404 for what does
// not exist, 409 for a refused command, 400 for the rest (bad input).
func errorStatus(err error) int {
	var nf *NotFoundError
	var refused *RefusedError
	switch {
	case errors.As(err, &nf):
		return http.StatusNotFound
	case errors.As(err, &refused):
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

func (r *Runtime) serveSetImage(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	container, image := q.Get("container"), q.Get("image")
	if container == "" || image == "" {
		writeJSON(w, http.StatusBadRequest, adminapi.ErrorBody{Error: "want ?container=NAME&image=IMAGE"})
		return
	}
	msg, err := r.SetImage(req.PathValue("ns"), req.PathValue("name"), container, image)
	if err != nil {
		writeJSON(w, errorStatus(err), adminapi.ErrorBody{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, adminapi.SetImageResult{Image: image, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Workloads lists every replica.
func (r *Runtime) Workloads() []adminapi.PodStatus {
	var out []adminapi.PodStatus
	for _, p := range r.cfg.Load().pods {
		out = append(out, r.podStatus(p))
	}
	return out
}

func (r *Runtime) podStatus(p *pod) adminapi.PodStatus {
	state, lastErr := p.status()
	return adminapi.PodStatus{Name: p.spec.name, Workload: p.spec.workload, Namespace: p.spec.namespace, Labels: p.spec.labels,
		Address: p.addr, Sidecar: p.sidecar.addr, State: state, Ready: p.ready.Load(), Restarts: p.restarts.Load(), PID: p.pid.Load(),
		SharedProcess: r.hosted(p), LastError: lastErr, Log: r.podLog(p)}
}

// ServiceEntries lists the ServiceEntries the runtime routes by (applied
// or loaded), each with its namespace and, for one in the store, its
// resourceVersion (the store's version of it: a delete can be made
// conditional on it), sorted by namespace/name.
func (r *Runtime) ServiceEntries() []*networkingv1.ServiceEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []*networkingv1.ServiceEntry{}
	for _, o := range r.compiled {
		if se, ok := o.Typed.(*networkingv1.ServiceEntry); ok {
			c := se.DeepCopy()
			c.Namespace = o.Namespace
			if v, ok := r.store.version[objectKey(o)]; ok {
				c.ResourceVersion = strconv.FormatUint(v, 10)
			}
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out
}

// Services lists the Services with their ready endpoints.
func (r *Runtime) Services() []adminapi.ServiceStatus {
	cfg := r.cfg.Load()
	var out []adminapi.ServiceStatus
	for host, svc := range cfg.services {
		st := adminapi.ServiceStatus{Host: host, Endpoints: []string{}}
		for _, p := range svc.Spec.Ports {
			st.Ports = append(st.Ports, p.Port)
		}
		for _, p := range cfg.endpoints(host, "", nil).pods {
			if p.ready.Load() {
				st.Endpoints = append(st.Endpoints, p.spec.name+"="+p.addr)
			}
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

// watch re-applies the files when they change.
func (r *Runtime) watch(ctx context.Context) {
	every := r.opts.WatchInterval
	if every < 0 || len(r.opts.Files) == 0 {
		return
	}
	if every == 0 {
		every = time.Second
	}
	last := fingerprint(r.opts.Files)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		fp := fingerprint(r.opts.Files)
		if fp == last {
			continue
		}
		last = fp
		set, err := manifest.Load(r.opts.Files...)
		if err == nil {
			_, err = r.Apply(set)
		}
		if err != nil {
			r.log.Error("manifests changed but were not applied", "err", err)
			continue
		}
		r.filesApplied(set)
		r.log.Info("manifests changed: applied")
	}
}

// fingerprint summarises the manifest files' names, sizes and modification
// times.
func fingerprint(paths []string) string {
	var b strings.Builder
	files, err := manifest.Files(paths...)
	if err != nil {
		b.WriteString(err.Error() + ";")
	}
	for _, f := range files {
		if info, err := os.Stat(f); err == nil {
			b.WriteString(f + ":" + info.ModTime().String() + ":" + strconv.FormatInt(info.Size(), 10) + ";")
		}
	}
	return b.String()
}

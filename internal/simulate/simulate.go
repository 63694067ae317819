// Package simulate replays requests along a call graph (gateway → A → B →
// C) through compiled routing, offline: at each hop the route picks a
// destination, the destination's subset picks a workload, and that
// workload's pod labels become the next hop's source labels. It answers
// "which versions will a request meet along the chain?" before anything is
// deployed. No I/O.
package simulate

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/graylane/graylane/internal/route"
)

// Workload is a pod template that can serve requests: a Deployment or a
// Rollout.
type Workload struct {
	Kind, Name, Namespace string
	// Labels are the pod template labels.
	Labels   map[string]string
	Replicas int32
}

// Service is a Kubernetes Service: which pods it selects and its ports.
type Service struct {
	Name, Namespace string
	Selector        map[string]string
	Ports           []int32
}

// Options describe a replay.
type Options struct {
	// Entry is the first request (from a gateway or the mesh).
	Entry route.Request
	// Calls maps a service name to the services it calls, in order.
	Calls map[string][]string
	// Propagate are the header names a workload copies from its inbound
	// request to its outbound ones; other headers are not carried.
	Propagate []string
	// Requests is how many requests to replay; Seed makes it repeatable.
	Requests int
	Seed     uint64
	// VersionLabel is the pod label that names a version (default "version").
	VersionLabel string
	// Edge, when set, runs on the headers of every request that enters at
	// a gateway, before routing (lane entry); rnd is a uniform draw in
	// [0,1) from the replay's seeded source.
	Edge func(h http.Header, rnd float64)
	// Lane, when set, names the lane of an entry request after Edge ran
	// ("" for none); CheckLane then says what is wrong with a hop of a lane
	// request ("" when the hop is where the lane wants it). Lane paths are
	// mixed when CheckLane finds a hop off the lane, not by "all one
	// version" (loose fallback meets stable versions on purpose).
	Lane      func(h http.Header) string
	CheckLane func(lane string, h *Hop) string
}

// Hop is one service reached by a request.
type Hop struct {
	Service   string `json:"service"`
	Namespace string `json:"namespace,omitempty"`
	Workload  string `json:"workload,omitempty"`
	Version   string `json:"version,omitempty"`
	Status    int    `json:"status"`
	Subset    string `json:"subset,omitempty"`
	// Problem says why a hop failed.
	Problem string `json:"problem,omitempty"`
	// Fault is Envoy's response flags of the route's fault injection on
	// this request: "DI" delayed, "FI" aborted, "DI,FI" both.
	Fault string `json:"fault,omitempty"`
	// GRPCStatus is the grpc-status of a gRPC fault abort (its HTTP
	// status is 200).
	GRPCStatus string `json:"grpcStatus,omitempty"`
	Calls      []*Hop `json:"calls,omitempty"`
	// ServiceEntry is the ServiceEntry ("namespace/name") whose host the
	// request left the mesh to, and Endpoints the addresses its cluster
	// sends to (route.External.Endpoints; for resolution NONE, the
	// address called).
	ServiceEntry string   `json:"serviceEntry,omitempty"`
	Endpoints    []string `json:"endpoints,omitempty"`
	// Passthrough: the host is neither a Service nor a ServiceEntry host;
	// the request left the mesh to the host it named (Istio's
	// PassthroughCluster, outbound policy ALLOW_ANY).
	Passthrough bool `json:"passthrough,omitempty"`
	// Decision is what the proxy did at this hop (route.Table.Hop): the
	// upstream target after rewrite, the header operations, the retry
	// policy. It is for Go callers, not part of the JSON report.
	Decision *route.Hop `json:"-"`
}

// PathStat is one distinct full path and how often it occurred.
type PathStat struct {
	Path     string  `json:"path"`
	Count    int     `json:"count"`
	Fraction float64 `json:"fraction"`
	// Mixed: the path mixes versions wrongly. Outside a lane: its hops
	// do not all run the same version. For a lane request: it left its
	// lane (OffLane) - a lane path that meets the lane versions of the
	// members and the stable versions of the other services is what the
	// lane wants, not a mix.
	Mixed bool `json:"mixed"`
	// Failed: some hop answered with a status that is not 2xx.
	Failed bool `json:"failed"`
	// Lane is the lane the requests of this path entered ("" for none);
	// OffLane says where such a path left its lane.
	Lane    string `json:"lane,omitempty"`
	OffLane string `json:"offLane,omitempty"`
	Hops    *Hop   `json:"hops"`
}

// Report is the outcome of a replay.
type Report struct {
	Requests      int        `json:"requests"`
	Paths         []PathStat `json:"paths"`
	MixedFraction float64    `json:"mixedFraction"`
	// OffLaneFraction is the share of all requests that entered a lane
	// and left it (counted in MixedFraction too); 0 without lanes.
	OffLaneFraction float64  `json:"offLaneFraction"`
	FailedFraction  float64  `json:"failedFraction"`
	Findings        []string `json:"findings,omitempty"`
}

// ErrCycle is returned when the call graph loops.
var ErrCycle = errors.New("call graph has a cycle")

const maxDepth = 32

// Run replays opts.Requests requests. services and workloads are those
// of the manifests t was compiled from: each hop is t's decision
// (route.Table.Hop), which answers 503 for a host that is not one of t's
// Services.
func Run(t *route.Table, services []Service, workloads []Workload, opts Options) (*Report, error) {
	if err := checkCalls(opts.Calls); err != nil {
		return nil, err
	}
	if opts.Requests <= 0 {
		opts.Requests = 1000
	}
	if opts.VersionLabel == "" {
		opts.VersionLabel = "version"
	}
	r := &runner{t: t, opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		services: map[string]*Service{}, workloads: workloads, notes: map[string]bool{}}
	for i := range services {
		s := &services[i]
		r.services[s.host()] = s
	}
	counts := map[string]*PathStat{}
	var order []string
	for i := 0; i < opts.Requests; i++ {
		entry := opts.Entry
		entry.Header = entry.Header.Clone()
		if opts.Edge != nil && entry.Source.Gateway != "" && entry.Source.Gateway != route.MeshSource {
			if entry.Header == nil {
				entry.Header = http.Header{}
			}
			opts.Edge(entry.Header, r.rng.Float64())
		}
		laneName := ""
		if opts.Lane != nil {
			laneName = opts.Lane(entry.Header)
		}
		hop := r.hop(&entry, 0)
		path := render(hop)
		key := laneName + "|" + path
		ps, ok := counts[key]
		if !ok {
			ps = &PathStat{Path: path, Hops: hop, Failed: failed(hop), Lane: laneName}
			if laneName != "" && opts.CheckLane != nil {
				// A lane request is meant to meet the lane version of every
				// member and, where a service has none, its stable version:
				// it mixes versions wrongly exactly where it leaves the lane.
				ps.OffLane = offLane(hop, laneName, opts.CheckLane)
				ps.Mixed = ps.OffLane != ""
			} else {
				versions := map[string]bool{}
				collectVersions(hop, versions)
				ps.Mixed = len(versions) > 1
			}
			counts[key] = ps
			order = append(order, key)
		}
		ps.Count++
	}
	rep := &Report{Requests: opts.Requests}
	for _, k := range order {
		ps := counts[k]
		ps.Fraction = float64(ps.Count) / float64(opts.Requests)
		if ps.Mixed {
			rep.MixedFraction += ps.Fraction
		}
		if ps.Failed {
			rep.FailedFraction += ps.Fraction
		}
		if ps.OffLane != "" {
			rep.OffLaneFraction += ps.Fraction
		}
		rep.Paths = append(rep.Paths, *ps)
	}
	sort.SliceStable(rep.Paths, func(i, j int) bool {
		if rep.Paths[i].Count != rep.Paths[j].Count {
			return rep.Paths[i].Count > rep.Paths[j].Count
		}
		return rep.Paths[i].Path < rep.Paths[j].Path
	})
	for note := range r.notes {
		rep.Findings = append(rep.Findings, note)
	}
	sort.Strings(rep.Findings)
	return rep, nil
}

type runner struct {
	t         *route.Table
	opts      Options
	rng       *rand.Rand
	services  map[string]*Service
	workloads []Workload
	notes     map[string]bool
}

// hop routes one request and follows the calls of the workload it reaches.
// What the proxy does with the request is route.Table.Hop's decision,
// drawn from the replay's seeded source.
func (r *runner) hop(req *route.Request, depth int) *Hop {
	res := r.t.Evaluate(req)
	for _, f := range r.t.NotEvaluated(req, res) {
		r.notes[f.String()] = true
	}
	hp := r.t.Hop(req, &res, r.rng)
	h := &Hop{Status: hp.Status, Subset: hp.Subset, Fault: hp.Fault.Flags(), Decision: &hp}
	for _, m := range hp.Mirrors {
		r.notes[fmt.Sprintf("%s mirrors %v%% of its requests to %s (copies are not part of the paths)", hp.Route.VirtualService, m.Percent, shortName(m.Host)+subsetSuffix(m.Subset))] = true
	}
	switch hp.Outcome {
	case route.NotRouted:
		h.Service, h.Problem = shortName(res.Host), res.Reason.String()
		return h
	case route.Redirected, route.Responded:
		h.Service = shortName(res.Host)
		_, h.Namespace, _ = route.ServiceOf(res.Host)
		return h
	case route.Unavailable:
		h.Service, h.Problem = shortName(hp.Host), hp.Problem
		if hp.NotService {
			h.Problem = fmt.Sprintf("no Service for host %s among the inputs: Envoy answers 503", hp.Host)
			r.notes[h.Problem] = true
		}
		return h
	case route.Aborted:
		h.Service = shortName(hp.Host)
		_, h.Namespace, _ = route.ServiceOf(hp.Host)
		h.GRPCStatus, h.Problem = hp.Fault.GRPCStatus, "fault injection: "+hp.Route.Fault.String()
		return h
	case route.Blocked:
		h.Service = hp.Host
		h.Problem = fmt.Sprintf("host %s is neither a Service nor a ServiceEntry host, and the outbound traffic policy is registry-only: the sidecar answers 502 (BlackHoleCluster)", hp.Host)
		r.notes[h.Problem] = true
		return h
	}
	if hp.External != nil || hp.Passthrough {
		r.leave(h, req, &hp)
		return h
	}
	sent := req.Header
	if hp.RewritesRequestHeaders() {
		sent = req.Header.Clone()
		hp.ApplyRequestHeaders(sent)
	}
	w, svc, problem := r.pickWorkload(hp.Host, hp.Labels)
	h.Service = shortName(hp.Host)
	if problem != "" {
		h.Status, h.Problem = 503, problem
		return h
	}
	h.Namespace, h.Workload, h.Status = w.Namespace, w.Name, 200
	h.Version = w.Labels[r.opts.VersionLabel]
	if depth >= maxDepth {
		return h
	}
	for _, callee := range r.callees(svc) {
		next := &route.Request{Authority: callee, Path: "/", Method: http.MethodGet, Header: r.propagate(sent),
			Source: route.Source{Labels: w.Labels, Namespace: w.Namespace}}
		if port := r.portOf(callee, w.Namespace); port != 0 {
			next.Authority = callee + ":" + strconv.Itoa(int(port))
			next.Port = uint32(port)
		}
		h.Calls = append(h.Calls, r.hop(next, depth+1))
	}
	return h
}

// leave fills a hop that leaves the mesh: to a ServiceEntry's endpoints
// (none for the subset's labels: 503, as Envoy has no healthy upstream),
// or to the host the request named (PassthroughCluster). Nothing there
// is simulated further: no workload, no calls.
func (r *runner) leave(h *Hop, req *route.Request, hp *route.Hop) {
	h.Service, h.Status = hp.Host, 200
	if hp.Passthrough {
		h.Passthrough, h.Workload = true, "passthrough"
		r.notes[fmt.Sprintf("host %s is neither a Service nor a ServiceEntry host: it leaves the mesh to the address the client named (PassthroughCluster, outbound traffic policy allow-any)", hp.Host)] = true
		return
	}
	x := hp.External
	h.ServiceEntry, h.Namespace, h.Workload = x.ServiceEntry, x.Namespace, "external"
	for _, e := range x.Endpoints(req.Authority, hp.Port, hp.Labels) {
		h.Endpoints = append(h.Endpoints, e.Address)
	}
	if len(h.Endpoints) == 0 {
		h.Status = 503
		h.Problem = fmt.Sprintf("no endpoint of ServiceEntry %s (resolution %s) carries the labels %s of subset %s: Envoy answers 503 no healthy upstream",
			x.ServiceEntry, x.Resolution, describeLabels(nil, hp.Labels), hp.Subset)
		r.notes[h.Problem] = true
		return
	}
	r.notes[fmt.Sprintf("host %s leaves the mesh to ServiceEntry %s (resolution %s): %s", hp.Host, x.ServiceEntry, x.Resolution, strings.Join(h.Endpoints, ", "))] = true
}

// pickWorkload chooses a workload behind a Service host whose pod labels
// carry the subset labels, weighted by replicas (round-robin over pods).
func (r *runner) pickWorkload(host string, subset map[string]string) (*Workload, *Service, string) {
	svc := r.services[host]
	if svc == nil {
		msg := fmt.Sprintf("no Service for host %s among the inputs: Envoy answers 503", host)
		r.notes[msg] = true
		return nil, nil, msg
	}
	cands, total := backends(svc, r.workloads, subset)
	if len(cands) == 0 {
		msg := noPods(svc, subset)
		r.notes[msg] = true
		return nil, svc, msg
	}
	x := r.rng.IntN(total)
	for _, w := range cands {
		if x < int(w.Replicas) {
			return w, svc, ""
		}
		x -= int(w.Replicas)
	}
	return cands[len(cands)-1], svc, ""
}

// host is the Service's name as a FQDN, as routing results name it.
func (s *Service) host() string {
	return strings.ToLower(s.Name) + "." + s.Namespace + "." + route.ClusterDomain
}

// backends are the workloads with replicas behind svc that carry the
// subset's labels, and their replicas in all.
func backends(svc *Service, workloads []Workload, subset map[string]string) (cands []*Workload, total int) {
	for i := range workloads {
		w := &workloads[i]
		if w.Namespace == svc.Namespace && len(svc.Selector) > 0 && route.LabelsMatch(w.Labels, svc.Selector) && route.LabelsMatch(w.Labels, subset) && w.Replicas > 0 {
			cands = append(cands, w)
			total += int(w.Replicas)
		}
	}
	return cands, total
}

func noPods(svc *Service, subset map[string]string) string {
	return fmt.Sprintf("no workload behind Service %s/%s matches %s: Envoy answers 503 no healthy upstream", svc.Namespace, svc.Name, describeLabels(svc.Selector, subset))
}

// NoPods says why no pod serves a destination (host as a FQDN, the
// subset's labels), as a replay would find it: "" when a workload with
// replicas behind the host's Service carries the labels, or when the host
// is not one of services (a ServiceEntry or an unknown host: the hop
// answers for those).
func NoPods(services []Service, workloads []Workload, host string, subset map[string]string) string {
	for i := range services {
		s := &services[i]
		if s.host() != host {
			continue
		}
		if cands, _ := backends(s, workloads, subset); len(cands) == 0 {
			return noPods(s, subset)
		}
		return ""
	}
	return ""
}

func (r *runner) callees(svc *Service) []string {
	if svc == nil {
		return nil
	}
	if c, ok := r.opts.Calls[svc.Name]; ok {
		return c
	}
	return r.opts.Calls[svc.Name+"."+svc.Namespace]
}

func (r *runner) portOf(callee, callerNS string) int32 {
	req := &route.Request{Authority: callee, Source: route.Source{Namespace: callerNS}}
	host := r.t.PassthroughHost(req)
	if s := r.services[host]; s != nil && len(s.Ports) > 0 {
		return s.Ports[0]
	}
	if x := r.t.External(req, host); x != nil {
		return int32(x.FirstPort()) // a ServiceEntry host: its first port
	}
	return 0
}

func (r *runner) propagate(h http.Header) http.Header {
	out := http.Header{}
	for _, name := range r.opts.Propagate {
		k := http.CanonicalHeaderKey(name)
		if strings.HasSuffix(k, "*") {
			prefix := strings.TrimSuffix(k, "*")
			for hk, v := range h {
				if strings.HasPrefix(hk, prefix) {
					out[hk] = v
				}
			}
			continue
		}
		if v, ok := h[k]; ok {
			out[k] = v
		}
	}
	return out
}

func describeLabels(selector, subset map[string]string) string {
	return "{" + labels.Merge(selector, subset).String() + "}"
}

func shortName(host string) string {
	if name, _, ok := route.ServiceOf(host); ok {
		return name
	}
	return host
}

func subsetSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " subset " + s
}

// render draws a path: "a:v1 -> b:v1", fan-out as "a:v1 -> (b:v1, c:v1)".
func render(h *Hop) string {
	label := h.Service + ":"
	switch {
	case h.Status < 200 || h.Status > 299:
		label += strconv.Itoa(h.Status)
	case h.GRPCStatus != "":
		label += "grpc-status " + h.GRPCStatus
	case h.Version != "":
		label += h.Version
	default:
		label += h.Workload
	}
	if h.Fault == "DI" {
		label += " (delayed)"
	}
	switch len(h.Calls) {
	case 0:
		return label
	case 1:
		return label + " -> " + render(h.Calls[0])
	}
	parts := make([]string, len(h.Calls))
	for i, c := range h.Calls {
		parts[i] = render(c)
	}
	return label + " -> (" + strings.Join(parts, ", ") + ")"
}

// offLane returns the first problem check finds along a lane path.
func offLane(h *Hop, lane string, check func(string, *Hop) string) string {
	if p := check(lane, h); p != "" {
		return p
	}
	for _, c := range h.Calls {
		if p := offLane(c, lane, check); p != "" {
			return p
		}
	}
	return ""
}

func failed(h *Hop) bool {
	if h.Status < 200 || h.Status > 299 || h.GRPCStatus != "" {
		return true
	}
	for _, c := range h.Calls {
		if failed(c) {
			return true
		}
	}
	return false
}

func collectVersions(h *Hop, into map[string]bool) {
	if h.Version != "" {
		into[h.Version] = true
	}
	for _, c := range h.Calls {
		collectVersions(c, into)
	}
}

func checkCalls(calls map[string][]string) error {
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(n string, trail []string) error
	visit = func(n string, trail []string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("%w: %s", ErrCycle, strings.Join(append(trail, n), " -> "))
		case 2:
			return nil
		}
		state[n] = 1
		for _, c := range calls[n] {
			if err := visit(c, append(trail, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		return nil
	}
	keys := make([]string, 0, len(calls))
	for k := range calls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := visit(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// ParseCalls reads "a->b,b->c,a->d" into a call graph; "a->b->c" is a
// chain, short for "a->b,b->c".
func ParseCalls(s string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		names := strings.Split(part, "->")
		if len(names) < 2 {
			return nil, fmt.Errorf("call %q: want CALLER->CALLEE", part)
		}
		for i := range names {
			names[i] = strings.TrimSpace(names[i])
			if names[i] == "" {
				return nil, fmt.Errorf("call %q: empty service name", part)
			}
		}
		for i := 0; i+1 < len(names); i++ {
			if !slices.Contains(out[names[i]], names[i+1]) {
				out[names[i]] = append(out[names[i]], names[i+1])
			}
		}
	}
	return out, nil
}

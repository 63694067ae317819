package embedded

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
)

// Apply adds or replaces objects and brings the running state in line:
// new routing takes effect for new requests at once (atomic swap), changed
// workloads are replaced, Gateways get listeners.
func (r *Runtime) Apply(set *manifest.Set) (*adminapi.ApplyResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := &adminapi.ApplyResult{Ignored: set.IgnoredWarnings(manifest.DoingUp, nil)}
	for _, w := range res.Ignored {
		r.log.Warn(w)
	}
	// Check workloads first so that a bad object changes nothing.
	next := newStore()
	next.apply(r.store.list())
	next.apply(set.Objects)
	lanes, err := r.compileLanes(next.list())
	if err != nil {
		return nil, &cli.InputError{Err: err}
	}
	desired, err := r.desiredWorkloads(lanes.Objects)
	if err != nil {
		return nil, err
	}
	res.Created, res.Configured, res.Unchanged = r.store.apply(set.Objects)
	r.release.SyncLanes(lanes.Lanes)
	// The lane plans' analyses find their templates among the new objects.
	if err := r.useLanes(lanes); err != nil {
		return nil, err
	}
	if r.release.ReconcileLanes(r.ctx) {
		// A plan moved on: compile again with the new states.
		if lanes, err = r.compileLanes(r.store.list()); err != nil {
			return nil, err
		}
		if err := r.useLanes(lanes); err != nil {
			return nil, err
		}
	}
	in := r.routeInput()
	if err := r.reconcileGateways(in.Gateways); err != nil {
		return nil, err
	}
	if err := r.reconcileWorkloads(desired); err != nil {
		return nil, err
	}
	r.syncRollouts()
	if _, err := r.release.ReconcileRollouts(r.ctx); err != nil {
		return nil, err
	}
	for _, f := range r.recompile(in) {
		if f.Severity >= route.Warning {
			res.Findings = append(res.Findings, f.String())
		}
	}
	res.Findings = append(res.Findings, missingGateways(r.compiled, r.store.list())...)
	for _, f := range res.Findings {
		r.noteOnce("finding "+f, "%s", f)
	}
	return res, nil
}

// DeleteServiceEntry removes the ServiceEntry ns/name from the applied
// objects (as kubectl delete would from a cluster) and compiles the
// routing again: its hosts and addresses stop resolving through it for
// new requests. A *NotFoundError when there is none. Other kinds are not
// deleted: only ServiceEntries (graylane nacos fix's stale ones) need it.
//
// With resourceVersion (the metadata.resourceVersion ServiceEntries
// answered) the delete is conditional, as a Kubernetes delete with that
// precondition: an entry created or changed since - taken over, applied
// again, even with the same Nacos service - is kept, a *RefusedError
// saying so. "" deletes whatever is there; a resourceVersion that is no
// number is bad input.
//
// Lanes that fail to compile do not keep the entry routed (nor fail the
// delete): as LaneCommand does, their error is logged, their last compile
// stays in use, without the entry, and the routing is compiled again.
func (r *Runtime) DeleteServiceEntry(ns, name, resourceVersion string) (string, error) {
	var want uint64
	if resourceVersion != "" {
		v, err := strconv.ParseUint(resourceVersion, 10, 64)
		if err != nil {
			return "", fmt.Errorf("resourceVersion %q: want a number (a ServiceEntry's metadata.resourceVersion in GET /v1/serviceentries)", resourceVersion)
		}
		want = v
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ref := "ServiceEntry " + ns + "/" + name
	key := objectKey(&manifest.Object{APIVersion: networkingv1.SchemeGroupVersion.String(), Kind: "ServiceEntry", Namespace: ns, Name: name})
	if _, ok := r.store.objects[key]; !ok {
		return "", &NotFoundError{Object: ref}
	}
	if now := r.store.version[key]; resourceVersion != "" && now != want {
		return "", &RefusedError{Object: ref, Err: fmt.Errorf("changed since it was read (resourceVersion %d, now %d)", want, now)}
	}
	r.store.remove(key)
	if err := r.recompileLanes(); err != nil {
		r.log.Error("lane", "err", err)
		r.compiled = slices.DeleteFunc(slices.Clone(r.compiled), func(o *manifest.Object) bool { return objectKey(o) == key })
	}
	r.recompile(r.routeInput())
	r.saveState()
	r.log.Info("deleted", "object", ref)
	return ref, nil
}

// routeInput is the routing compiler's input from the stored objects,
// lanes compiled in.
func (r *Runtime) routeInput() route.Input {
	in := expand.RouteInput(&manifest.Set{Objects: r.compiled})
	in.Outbound = r.opts.Outbound
	return in
}

// recompileLanes compiles the lanes again with their current states (a
// plan moved, an image was set). Called with r.mu held.
func (r *Runtime) recompileLanes() error {
	out, err := r.compileLanes(r.store.list())
	if err != nil {
		return err
	}
	return r.useLanes(out)
}

// useLanes makes a compile what workloads and routing are built from, and
// rebuilds the edge entry for the lanes' current states, following the
// whitelists of the gates its lanes name (gates.go).
func (r *Runtime) useLanes(out *lane.Output) error {
	entry, err := lane.NewEntry(&lane.Input{States: r.release.LaneStates()}, out.Lanes, r.opts.LaneKey)
	if err != nil {
		return err
	}
	r.compiled = out.Objects
	r.entry = entry
	r.followGates(entry.Whitelists())
	return nil
}

// recompile compiles the routing input, with the changes the Rollouts'
// traffic routing makes (to copies), and publishes the result. Called with
// r.mu held.
func (r *Runtime) recompile(in route.Input) []route.Finding {
	for _, ro := range r.release.Rollouts() {
		applyTraffic(&in, rolloutOf(ro))
	}
	table := route.Compile(in)
	r.swap(table, in.Services)
	return table.Findings
}

// swap publishes a new configuration snapshot.
func (r *Runtime) swap(table *route.Table, svcs []route.Service) {
	cfg := &config{table: table, services: map[string]*corev1.Service{}, gateways: map[string][]string{}, entry: r.entry, dns: r.dns}
	for _, s := range svcs {
		cfg.services[serviceKey(s.Object.Name, nsOr(s.Object.Namespace))] = s.Object
	}
	keys := make([]string, 0, len(r.workloads))
	for k := range r.workloads {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cfg.pods = append(cfg.pods, r.workloads[k].pods...)
	}
	cfg.pods = append(cfg.pods, r.rolloutPodList()...)
	cfg.byAddr = make(map[string]*pod, len(cfg.pods))
	for _, p := range cfg.pods {
		cfg.byAddr[p.addr] = p
	}
	r.cfg.Store(cfg)
	r.changed()
}

func nsOr(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

type desiredWorkload struct {
	hash  string
	specs []podSpec
}

// desiredWorkloads expands every Deployment; a workload that cannot run
// (no image mapping) is an input error.
func (r *Runtime) desiredWorkloads(objs []*manifest.Object) (map[string]desiredWorkload, error) {
	out := map[string]desiredWorkload{}
	var errs []error
	for _, o := range objs {
		if ro, ok := o.Typed.(*rolloutsv1alpha1.Rollout); ok {
			if err := r.checkRollout(o, ro); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		d, ok := o.Typed.(*appsv1.Deployment)
		if !ok {
			continue
		}
		specs, hash, err := r.podSpecs(d, o.Namespace)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.Pos, err))
			continue
		}
		out["Deployment "+o.Namespace+"/"+d.Name] = desiredWorkload{hash: hash + "/" + strconv.Itoa(len(specs)), specs: specs}
	}
	if len(errs) > 0 {
		return nil, &cli.InputError{Err: errors.Join(errs...)}
	}
	return out, nil
}

// checkRollout refuses what the embedded runtime cannot run: the Argo
// Rollouts features it does not run (located at their fields, the list
// `graylane lint` shows), and a pod template it cannot start. ro is o's
// Rollout, or a changed copy of it.
func (r *Runtime) checkRollout(o *manifest.Object, ro *rolloutsv1alpha1.Rollout) error {
	if errs := manifest.NotRun(o, ro); len(errs) > 0 {
		return errs
	}
	ref := "Rollout " + o.Namespace + "/" + ro.Name
	if _, err := r.templateSpec(ref, o.Namespace, &ro.Spec.Template); err != nil {
		return fmt.Errorf("%s: %w", o.Pos, err)
	}
	return nil
}

// reconcileWorkloads starts new workloads and replaces changed ones: the
// new replicas start first, the old ones stop once the new are ready or
// after a grace period.
func (r *Runtime) reconcileWorkloads(desired map[string]desiredWorkload) error {
	for key, d := range desired {
		old := r.workloads[key]
		if old != nil && old.hash == d.hash {
			continue
		}
		w := &workload{hash: d.hash}
		for _, spec := range d.specs {
			p, err := r.newPod(spec)
			if err != nil {
				return err
			}
			w.pods = append(w.pods, p)
		}
		r.workloads[key] = w
		for _, p := range w.pods {
			r.startPod(r.ctx, p)
		}
		if old != nil {
			go r.retire(old, w)
		}
	}
	return nil
}

// retire stops a replaced workload's pods once the new ones are ready.
func (r *Runtime) retire(old, w *workload) {
	for i := 0; i < 300; i++ {
		ready := true
		for _, p := range w.pods {
			ready = ready && p.ready.Load()
		}
		if ready {
			break
		}
		select {
		case <-r.ctx.Done():
			return
		case <-r.wake:
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, p := range old.pods {
		r.stopPod(p)
	}
}

func (r *Runtime) newPod(spec podSpec) (*pod, error) {
	ln, err := replicaPorts.reserve()
	if err != nil {
		return nil, fmt.Errorf("allocate a port for %s: %w", spec.name, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	p := &pod{spec: spec, port: port, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), state: "pending", ln: ln}
	c := &caller{source: route.Source{Labels: spec.labels, Namespace: spec.namespace}, workload: workloadName(spec.workload),
		app: labelOr(spec.labels, "app"), version: labelOr(spec.labels, "version")}
	if p.sidecar, err = r.serveCaller("127.0.0.1:0", c); err != nil {
		r.stopPod(p)
		return nil, fmt.Errorf("sidecar for %s: %w", spec.name, err)
	}
	return p, nil
}

// reconcileGateways opens one listener per Gateway server port: port 80
// on the gateway address, other ports on free ports (printed).
func (r *Runtime) reconcileGateways(gws []route.Gateway) error {
	byPort := map[uint32][]string{}
	for _, g := range gws {
		name := nsOr(g.Object.Namespace) + "/" + g.Object.Name
		for _, port := range serverPorts(g.Object) {
			if !slices.Contains(byPort[port], name) {
				byPort[port] = append(byPort[port], name)
			}
		}
	}
	for port, names := range byPort {
		sort.Strings(names)
		c := &caller{gateways: names, port: port, workload: "istio-ingressgateway", app: "istio-ingressgateway", version: "unknown"}
		if l := r.gatewayLs[port]; l != nil {
			l.caller.Store(c)
			continue
		}
		addr := "127.0.0.1:0"
		if port == 80 {
			addr = r.opts.GatewayAddr
		}
		l, err := r.serveCaller(addr, c)
		if err != nil {
			return fmt.Errorf("gateway port %d (%s): %w", port, strings.Join(names, ", "), err)
		}
		r.gatewayLs[port] = l
		if port != 80 {
			r.log.Info("gateway server port mapped", "port", port, "listen", "http://"+l.addr, "gateways", strings.Join(names, ","))
		}
	}
	return nil
}

func serverPorts(g *networkingv1.Gateway) []uint32 {
	var out []uint32
	for _, s := range g.Spec.GetServers() {
		switch strings.ToUpper(s.GetPort().GetProtocol()) {
		case "HTTP", "HTTP2", "GRPC", "":
			out = append(out, s.GetPort().GetNumber())
		}
	}
	return out
}

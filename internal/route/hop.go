package route

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// Rand is where a hop's per-request draws come from: Uint32N returns a
// number uniform in [0, n). *rand.Rand of math/rand/v2 is one; the proxy
// passes the runtime's random source, the simulator its seeded one.
type Rand interface {
	Uint32N(n uint32) uint32
}

// Certain is a Rand whose draws make happen only what happens to every
// request: faults and mirrors of 100%. Its pick among weighted
// destinations is the last one with a weight; reports that describe a
// route go through each destination with HopTo instead.
var Certain Rand = certain{}

type certain struct{}

func (certain) Uint32N(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return n - 1
}

// Outcome is what the proxy does with a request.
type Outcome uint8

// Outcomes.
const (
	// Forward: the request is sent to Hop.Host (after Hop.Fault.Delay).
	Forward Outcome = iota
	// NotRouted: no virtual host or no route for the request: 404, flag NR.
	NotRouted
	// Redirected: the proxy answers with the route's redirect (or a
	// gateway server's tls.httpsRedirect).
	Redirected
	// Responded: the proxy answers with the route's direct response.
	Responded
	// Unavailable: the destination cannot be served: 503 (see Problem,
	// NotService and Flags).
	Unavailable
	// Aborted: the route's fault injection aborted the request: status
	// Fault.Status, flags FI (DI,FI when it was delayed first).
	Aborted
	// Blocked: the host is neither a Service nor a ServiceEntry host the
	// caller sees and the outbound policy is RegistryOnly: the sidecar's
	// catch-all route answers 502 (BlackHoleCluster).
	Blocked
)

var outcomeNames = [...]string{"forward", "not routed", "redirect", "direct response", "unavailable", "fault abort", "blocked"}

func (o Outcome) String() string { return outcomeNames[o] }

// Envoy's response flags of the local answers a hop makes.
const (
	// FlagNR: no route configured (also Graylane's flag for a destination
	// whose subset or host cannot be served).
	FlagNR = "NR"
	// FlagNC: no cluster for the destination (host and port).
	FlagNC = "NC"
)

// Hop is what the proxy does with one request, decided from the routing
// Result and the request alone: the per-hop rules that the simulator,
// the route report and the embedded proxy share. It holds pointers into
// the compiled Table and must not be modified.
type Hop struct {
	Outcome Outcome
	// Status is the status the proxy answers with; 200 for Forward (before
	// any upstream answers).
	Status int
	// Flags are Envoy's response flags of the hop's own decision: NR, NC,
	// DI, FI, "DI,FI"; "" for none.
	Flags string
	// Problem says why the destination cannot be served (Unavailable;
	// empty when NotService).
	Problem string
	// NotService: a route's destination host is neither a Service nor
	// a ServiceEntry host of the table, which does not know hosts (no
	// Services or ServiceEntries were given, so the compiler set no
	// Problem): Unavailable, flag NR, nothing serves it. (A request no
	// route takes to a host nothing defines is Passthrough or Blocked.)
	NotService bool
	// External is the ServiceEntry host the request is forwarded to, out
	// of the mesh (nil for a Service, and for Passthrough); its Endpoints
	// are where it goes.
	External *External
	// Passthrough: the host is neither a Service nor a ServiceEntry host
	// the caller sees, and the outbound policy is AllowAny: the request
	// is forwarded to its original destination (the host and port the
	// client named) through Istio's PassthroughCluster, with no route.
	Passthrough bool
	// Route is the matched route (nil for passthrough and NotRouted).
	Route *Route
	// Destination is the route's destination the request was sent to (nil
	// for passthrough, and before one is picked).
	Destination *Destination
	// Host is the destination host (FQDN; the request's host resolved in
	// the caller's namespace for passthrough); Subset and Labels its
	// subset and the subset's pod labels.
	Host, Subset string
	Labels       map[string]string
	// Port is the destination port (see Upstream).
	Port uint32
	// Target is the request target (path and query) the destination sees,
	// after the route's rewrite.
	Target string
	// Authority is the Host the destination sees when the route rewrites
	// it ("" when the request's Host is kept).
	Authority string
	// Fault is what the route's fault injection does to the request.
	Fault Injection
	// Policy is the route timeout and retry policy (Istio's defaults for
	// passthrough).
	Policy *Policy
	// Mirrors are the route's mirrors, set once a destination that can be
	// served was picked; the proxy sends copies (each drawn with
	// Mirror.Sample) only of the requests it forwards.
	Mirrors []Mirror
}

// defaultPolicy is the policy of requests no route names one for: Istio's
// defaults. Read only.
var defaultPolicy = DefaultPolicy()

// Hop decides what the proxy does with req, routed as res, drawing the
// weighted destination and the fault from rnd in that order. It does not
// allocate when the request is forwarded along a route whose path it
// does not rewrite.
func (t *Table) Hop(req *Request, res *Result, rnd Rand) Hop {
	i := -1
	if rt := res.Route; res.Reason == Matched && rt.Redirect == nil && rt.DirectResponse == nil {
		if total := rt.TotalWeight(); total > 0 {
			i = rt.Pick(rnd.Uint32N(total))
		}
	}
	return t.HopTo(req, res, i, rnd)
}

// HopTo is Hop with the destination chosen: index dest of the matched
// route's destinations (ignored when the request is not forwarded along
// a route; out of range: 503, the route has no destinations). The fault
// is drawn from rnd.
func (t *Table) HopTo(req *Request, res *Result, dest int, rnd Rand) Hop {
	h := Hop{Outcome: Forward, Status: http.StatusOK, Route: res.Route, Policy: &defaultPolicy, Target: req.fullPath(), Port: req.port()}
	switch {
	case res.Reason == NoVirtualHost || res.Reason == NoRoute:
		h.Outcome, h.Status, h.Flags = NotRouted, http.StatusNotFound, FlagNR
		return h
	case res.Route != nil && res.Route.Redirect != nil:
		h.Outcome, h.Status = Redirected, res.Route.Redirect.Code
		return h
	case res.Route != nil && res.Route.DirectResponse != nil:
		h.Outcome, h.Status = Responded, res.Route.DirectResponse.Status
		return h
	case res.Reason == Passthrough:
		h.Host = t.PassthroughHost(req)
		if t.services[h.Host] == nil {
			t.outside(req, &h)
		}
		return h
	}
	rt := res.Route
	if rt.Fault != nil {
		h.Fault = rt.Fault.Inject(rnd.Uint32N(FaultDraws), rnd.Uint32N(FaultDraws))
		h.Flags = h.Fault.Flags()
	}
	if dest < 0 || dest >= len(rt.Destinations) {
		h.unavailable("", "route has no destinations")
		h.Host = res.Host
		return h
	}
	d := &rt.Destinations[dest]
	h.Destination, h.Host, h.Subset, h.Labels, h.Policy = d, d.Host, d.Subset, d.Labels, &rt.Policy
	var problem string
	var x *External
	h.Port, problem, x = t.Upstream(req, d)
	switch {
	case d.Problem != "":
		h.unavailable(FlagNR, d.Problem)
		return h
	case problem != "":
		h.unavailable(FlagNC, problem)
		return h
	case t.services[h.Host] == nil:
		// A ServiceEntry host has its cluster; the compiler found the
		// ones the caller does not see (d.Problem).
		if h.External = x; x == nil {
			h.unavailable(FlagNR, "")
			h.NotService = h.Outcome == Unavailable
			return h
		}
	}
	h.Mirrors = rt.Mirrors
	if h.Fault.Abort {
		h.Outcome, h.Status = Aborted, h.Fault.Status
		return h
	}
	h.Target = res.UpstreamTarget(h.Target)
	if rw := rt.Rewrite; rw != nil {
		h.Authority = rw.Authority
	}
	return h
}

// unavailable ends a hop whose destination cannot be served. Envoy's
// fault filter runs before its router looks for the destination's
// cluster (istiod puts it ahead of the router in every HTTP filter
// chain): the route's fault still applies, an abort answering instead of
// the 503 (flags FI), a delay coming before it (the 503's flags and DI, in Envoy's order).
func (h *Hop) unavailable(flags, problem string) {
	if h.Fault.Abort {
		h.Outcome, h.Status, h.Flags = Aborted, h.Fault.Status, h.Fault.Flags()
		return
	}
	h.Outcome, h.Status, h.Flags, h.Problem = Unavailable, http.StatusServiceUnavailable, flags, problem
	if h.Fault.Delay > 0 {
		h.Flags = AddFlag(flags, FlagDI)
	}
}

// Upstream is the port the proxy sends a request to destination d on,
// and why there is no such destination ("" when there is one). The port
// is istiod's (pilot/pkg/networking/core/route GetDestinationCluster):
// the destination's port, else the Service's only port, else the port of
// the listener the request came in on (a gateway server's port, the
// Service port a sidecar was called on). Envoy's cluster is
// outbound|PORT|SUBSET|HOST, and istiod builds one per port the Service
// has: when the Service has no such port, there is no cluster, and Envoy
// answers 503 with flag NC (cluster not found). A ServiceEntry host's
// clusters are its ports' (seUpstream); other hosts are not checked. x
// is the ServiceEntry host the destination is when it is no Service's
// (nil otherwise), as External finds it.
func (t *Table) Upstream(req *Request, d *Destination) (port uint32, problem string, x *External) {
	svc := t.services[d.Host]
	if svc == nil {
		if x = t.ses.external(d.Host, req.namespace(), 0); x != nil {
			port, problem = seUpstream(x, d, req.port())
			return port, problem, x
		}
	}
	port = d.Port
	if port == 0 {
		port = req.port()
	}
	if svc == nil {
		return port, "", nil
	}
	for _, p := range svc.Spec.Ports {
		if uint32(p.Port) == port {
			return port, "", nil
		}
	}
	ports := make([]int32, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		ports = append(ports, p.Port)
	}
	slices.Sort(ports)
	why := "the destination's port"
	if d.Port == 0 {
		why = fmt.Sprintf("the destination names no port and the Service has %d ports, so Istio takes the listener's port", len(ports))
	}
	return port, fmt.Sprintf("Service %s has no port %d (%s; it has %v): Envoy has no cluster outbound|%d|%s|%s and answers 503 (NC)",
		d.Host, port, why, ports, port, d.Subset, d.Host), nil
}

// MirrorProblem is why the proxy sends no copies of req to mirror m: the
// mirror's own problem (a subset that does not exist), or no cluster for
// its port (istiod picks a mirror's cluster as a destination's, see
// Upstream; Envoy sends no copy to a cluster it does not have). "" when
// copies go.
func (t *Table) MirrorProblem(req *Request, m *Mirror) string {
	if m.Problem != "" {
		return m.Problem
	}
	_, problem, _ := t.Upstream(req, &m.Destination)
	return problem
}

// RewritesRequestHeaders reports whether the hop changes the request's
// header fields (the route's or the destination's header operations).
func (h *Hop) RewritesRequestHeaders() bool {
	return h.Route != nil && h.Route.RequestHeaders != nil || h.Destination != nil && h.Destination.RequestHeaders != nil
}

// ApplyRequestHeaders applies the route's, then the destination's request
// header operations to hd, the header the destination receives.
func (h *Hop) ApplyRequestHeaders(hd http.Header) {
	if h.Route != nil {
		h.Route.RequestHeaders.Apply(hd)
	}
	if h.Destination != nil {
		h.Destination.RequestHeaders.Apply(hd)
	}
}

// ApplyResponseHeaders applies the route's, then the destination's
// response header operations to hd, the answer's header.
func (h *Hop) ApplyResponseHeaders(hd http.Header) {
	if h.Route != nil {
		h.Route.ResponseHeaders.Apply(hd)
	}
	if h.Destination != nil {
		h.Destination.ResponseHeaders.Apply(hd)
	}
}

// Apply performs the operations on hd as Envoy does: remove, then set,
// then add. A nil HeaderOps does nothing.
func (ops *HeaderOps) Apply(hd http.Header) {
	if ops == nil {
		return
	}
	for _, k := range ops.Remove {
		hd.Del(k)
	}
	for k, v := range ops.Set {
		hd.Set(k, v)
	}
	for k, v := range ops.Add {
		hd.Add(k, v)
	}
}

// Location is the Location of the redirect's answer to a request for
// authority and target (its origin-form path and query): the request's
// URL with the redirect's scheme, authority, port and path.
func (rd *Redirect) Location(authority, target string) string {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		u = &url.URL{Path: target}
	}
	u.Scheme, u.Host = "http", authority
	if rd.Scheme != "" {
		u.Scheme = rd.Scheme
	}
	if rd.Authority != "" {
		u.Host = rd.Authority
	}
	if rd.Port != 0 {
		host, _, err := net.SplitHostPort(u.Host)
		if err != nil {
			host = u.Host
		}
		u.Host = net.JoinHostPort(host, strconv.Itoa(int(rd.Port)))
	}
	if rd.URI != "" {
		u.Path, u.RawPath = rd.URI, ""
	}
	return u.String()
}

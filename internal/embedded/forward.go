package embedded

import (
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graylane/graylane/internal/dataplane"
	"github.com/graylane/graylane/internal/route"
)

// caller is who sends the requests a listener receives.
type caller struct {
	source   route.Source
	gateways []string // for a gateway listener: the Gateway objects to try
	// port is a gateway listener's Gateway server port (0: the port of
	// the request's Host, as a sidecar's listener is the Service port
	// called).
	port     uint32
	workload string // for metrics: source_workload
	app      string
	version  string
}

// listener is a sidecar, gateway or admin HTTP listener: the admin runs
// net/http's server, the proxies a dataplane.Server.
type listener struct {
	addr   string
	server *http.Server
	fast   *dataplane.Server
	ln     net.Listener
	// caller is who the listener's requests come from; a gateway
	// listener's set of Gateways changes on apply.
	caller atomic.Pointer[caller]
}

// serveCaller starts a proxy listener whose requests come from c, under
// the runtime's edge limits.
func (r *Runtime) serveCaller(addr string, c *caller) (*listener, error) {
	lim, err := r.opts.Edge.Limits()
	if err != nil {
		return nil, err
	}
	var l *listener
	h := &proxyHandler{r: r}
	hooks := dataplane.Hooks{
		Reject: func(status int, flags string, start time.Time) {
			m := metric{caller: l.caller.Load(), start: start, flags: flags}
			m.record(r.metrics, status)
		},
		Overflow: func() { r.metrics.overflow(l.caller.Load()) },
	}
	ln, err := listen(addr)
	if err != nil {
		return nil, err
	}
	l = &listener{addr: ln.Addr().String(), ln: ln}
	l.caller.Store(c)
	h.l = l
	l.fast = r.up.Serve(ln, h, lim, hooks)
	return l, nil
}

// hopHeader reports whether a canonical field name is a hop-by-hop
// header, not forwarded (RFC 9110 7.6.1).
func hopHeader(name string) bool {
	switch name {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// decision is what a request's routing decided.
type decision struct {
	rr  route.Request
	res route.Result
	hop route.Hop
}

// decide routes a request whose path and query are path: the lane
// entry of a gateway (its cookie goes into answer), the route, the hop.
func (r *Runtime) decide(d *decision, cfg *config, req *http.Request, path string, c *caller, answer http.Header) {
	if len(c.gateways) > 0 && cfg.entry != nil {
		r.enterLane(cfg, req.Header, answer)
	}
	d.rr = route.Request{Authority: req.Host, Path: path, Method: req.Method, Scheme: "http", Header: req.Header, Source: c.source}
	d.rr.Port = c.port // a gateway listener: its Gateway server port
	if d.rr.Port == 0 {
		d.rr.Port = portOf(req.Host)
	}
	d.res = r.evaluate(cfg, &d.rr, c)
	d.hop = cfg.table.Hop(&d.rr, &d.res, runtimeRand{})
}

func (r *Runtime) forward(w http.ResponseWriter, req *http.Request, c *caller) {
	m := metric{caller: c, start: time.Now()}
	ew, _ := w.(dataplane.ResponseWriter)
	lim := dataplane.DefaultLimits()
	if ew != nil {
		lim = ew.Limits()
	}
	cfg := r.cfg.Load()
	var d decision
	r.decide(&d, cfg, req, requestPath(ew, req), c, w.Header())
	rr, res, h := &d.rr, &d.res, &d.hop
	switch h.Outcome {
	case route.NotRouted:
		m.flags = h.Flags
		r.fail(w, &m, h.Status, "no route for "+req.Host+req.URL.Path)
		return
	case route.Redirected:
		w.Header().Set("Location", res.Route.Redirect.Location(req.Host, rr.Path))
		w.WriteHeader(h.Status)
		m.record(r.metrics, h.Status)
		return
	case route.Responded:
		w.WriteHeader(h.Status)
		_, _ = io.WriteString(w, res.Route.DirectResponse.Body)
		m.record(r.metrics, h.Status)
		return
	case route.Unavailable:
		// The route's fault delay comes first, as Envoy's fault filter
		// runs before its router finds no cluster (route.Hop).
		if h.Fault.Delay > 0 && r.injectFault(w, ew, req, h, &m) {
			return
		}
		r.unavailable(w, &m, h)
		return
	case route.Blocked:
		// REGISTRY_ONLY: the catch-all route block_all answers 502 itself,
		// reported as BlackHoleCluster (route.OutboundPolicy).
		m.dest = route.BlackHoleCluster
		r.fail(w, &m, h.Status, "blocked: "+req.Host+" is neither a Service nor a ServiceEntry host, and the outbound traffic policy is registry-only (BlackHoleCluster)")
		return
	}
	m.dest = h.Host
	if (h.Fault.Delay > 0 || h.Outcome == route.Aborted) && r.injectFault(w, ew, req, h, &m) {
		return
	}
	if len(h.Mirrors) > 0 {
		r.mirror(cfg, req, rr, h, c)
	}
	members, cl := r.members(cfg, req, h, &m)
	r.send(w, ew, req, h, members, &m, lim, cl, nil)
}

// members are where a forwarded hop goes, and its cluster: the replicas
// of a Service's subset; a ServiceEntry host's endpoints (counted under
// the entry's host and namespace); or, for a host nothing defines, its
// original destination through the PassthroughCluster, as Istio's
// sidecar does with the default outbound policy ALLOW_ANY: no
// VirtualService, DestinationRule, canary weight or lane applies, and the
// request is counted under destination_service_name="PassthroughCluster"
// (with the replica it reached as destination workload when it called a
// replica's own address, 127.0.0.1:PORT, as a Spring Cloud client does
// with an instance address it took from Nacos: istio/istio#36596).
func (r *Runtime) members(cfg *config, req *http.Request, h *route.Hop, m *metric) (*memberList, cluster) {
	switch {
	case h.External != nil:
		m.dest, m.destNS = h.External.Host, h.External.Namespace
		return cfg.entryMembers(h.External, req.Host, h.Port, h.Subset, h.Labels), cluster{port: h.Port, subset: h.Subset, host: h.External.Host}
	case h.Passthrough:
		m.dest = passthroughCluster
		return cfg.passthroughMembers(req.Host, h.Port), cluster{port: h.Port, host: passthroughCluster}
	}
	return cfg.endpoints(h.Host, h.Subset, h.Labels), cluster{port: h.Port, subset: h.Subset, host: h.Host}
}

// runtimeRand draws a hop's per-request numbers from math/rand/v2's
// runtime source.
type runtimeRand struct{}

func (runtimeRand) Uint32N(n uint32) uint32 { return rand.Uint32N(n) }

// unavailable answers a request whose destination cannot be served
// (route.Unavailable) with 503.
func (r *Runtime) unavailable(w http.ResponseWriter, m *metric, h *route.Hop) {
	m.dest, m.flags = h.Host, h.Flags
	msg := "no healthy upstream: " + h.Problem
	switch {
	case h.NotService:
		// As Istio labels what is not a known service, not by the host
		// the client named: clients cannot make series at will.
		m.dest = passthroughCluster
		msg = "no healthy upstream: " + h.Host + " is not a Service of this runtime"
	case h.Destination == nil:
		m.dest, msg = "", h.Problem // the route has no destinations
	}
	r.fail(w, m, h.Status, msg)
}

// requestPath is the request's path and query as routes match them
// (url.URL.RequestURI), read from the connection without allocating when
// it can be.
func requestPath(ew dataplane.ResponseWriter, req *http.Request) string {
	if ew != nil {
		return ew.Target()
	}
	return req.URL.RequestURI()
}

// evaluate routes the request; a gateway listener tries each Gateway it
// serves until one has a virtual host for the request.
func (r *Runtime) evaluate(cfg *config, rr *route.Request, c *caller) route.Result {
	if len(c.gateways) == 0 {
		return cfg.table.Evaluate(rr)
	}
	var res route.Result
	for _, gw := range c.gateways {
		rr.Source.Gateway = gw
		rr.Source.Namespace, _, _ = strings.Cut(gw, "/")
		if res = cfg.table.Evaluate(rr); res.Reason != route.NoVirtualHost {
			return res
		}
	}
	return res
}

// clientFail ends a request the client failed: a malformed or oversized
// body (400, 413), a body it stopped sending (408), or a connection it
// closed (no answer). The answer is given when it has not started, and
// the connection closed after it; the request is counted with e's flags
// and no destination - a client must not be able to lower a
// destination's success rate. A client that left while the answer was
// awaited (dataplane.ErrDownstreamGone) is counted as Envoy does: code 0, DC, with
// the destination that was waited for.
func (r *Runtime) clientFail(w http.ResponseWriter, ew dataplane.ResponseWriter, m *metric, e *dataplane.DownstreamError) {
	if e != dataplane.ErrDownstreamGone {
		m.dest, m.pod = "", nil
	}
	m.flags = e.Flags
	switch {
	case ew == nil:
		http.Error(w, e.Msg, max(e.Status, http.StatusBadRequest))
	case e.Status == 0 || ew.Answering():
		ew.Hangup()
	default:
		ew.RefuseAfter()
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Graylane-Reason", e.Msg)
		w.WriteHeader(e.Status)
		_, _ = io.WriteString(w, e.Msg+"\n")
	}
	m.record(r.metrics, e.Status)
}

// outbound builds the request sent to a pod from the inbound one and the
// hop: its upstream target, Host and request header operations. It reuses
// the inbound request's header and body: the proxy owns that request, and
// the header is changed once, before any retry.
func (r *Runtime) outbound(req *http.Request, h *route.Hop) dataplane.Request {
	out := dataplane.Request{Method: req.Method, URI: h.Target, Host: req.Host, Header: req.Header}
	if req.Body != nil && req.Body != http.NoBody {
		out.Body, out.Length = req.Body, req.ContentLength
		if out.Length == 0 {
			out.Length = -1 // a body of unknown length
		}
	}
	if out.Host == "" {
		out.Host = req.URL.Host
	}
	dropHopFields(out.Header)
	if h.Authority != "" {
		out.Host = h.Authority
	}
	h.ApplyRequestHeaders(out.Header)
	return out
}

// dropHopFields removes the hop-by-hop fields: the fixed list and those
// the Connection field names (RFC 9110 7.6.1).
func dropHopFields(h http.Header) {
	for _, v := range h["Connection"] {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			name = textproto.TrimString(name)
			// close and keep-alive are the usual options; Keep-Alive
			// goes with the fixed list anyway.
			if name != "" && !strings.EqualFold(name, "close") && !strings.EqualFold(name, "keep-alive") {
				h.Del(name)
			}
		}
	}
	for name := range h {
		if hopHeader(name) {
			delete(h, name)
		}
	}
}

// respond copies the pod's answer; it returns nil when the body was read
// to its end (so the connection can be reused), else what broke the copy,
// and then the client's connection is closed too: its answer is cut
// short.
func (r *Runtime) respond(w http.ResponseWriter, resp *http.Response, hop *route.Hop) error {
	answerHeader(w.Header(), resp.Header, hop)
	w.WriteHeader(resp.StatusCode)
	var err error
	if wt, ok := resp.Body.(io.WriterTo); ok {
		_, err = wt.WriteTo(w)
	} else {
		buf := copyBufs.Get().(*[]byte)
		_, err = io.CopyBuffer(w, resp.Body, *buf)
		copyBufs.Put(buf)
	}
	resp.Body.Close()
	if a, ok := w.(interface{ Abort() }); ok && err != nil {
		a.Abort()
	}
	return err
}

// answerHeader makes the answer's header h from the pod's: its fields
// (a Set-Cookie the edge set before is kept), without the hop-by-hop
// ones, and the route's response header operations.
func answerHeader(h, pod http.Header, hop *route.Hop) {
	for k, vs := range pod {
		if k == "Set-Cookie" && len(h[k]) > 0 {
			h[k] = append(h[k], vs...) // the edge's own cookie, set before
			continue
		}
		h[k] = vs
	}
	dropHopFields(h)
	hop.ApplyResponseHeaders(h)
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// fail answers like Envoy does for a local failure: a short text body.
func (r *Runtime) fail(w http.ResponseWriter, m *metric, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Graylane-Reason", msg)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
	m.record(r.metrics, status)
}

func portOf(hostport string) uint32 {
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.Contains(hostport[i:], "]") {
		if p, err := strconv.ParseUint(hostport[i+1:], 10, 16); err == nil {
			return uint32(p)
		}
	}
	return 80
}

package embedded

import (
	"net/http"

	"github.com/graylane/graylane/internal/dataplane"
	"github.com/graylane/graylane/internal/route"
)

// proxyHandler is a proxy listener's handler. ServeHTTP (forward) serves
// any request; as a dataplane.FastHandler it also decides the requests
// the data plane's event loop forwards itself - a GET without a body
// whose hop is a plain forward to a replica - with the same decision
// (decide, members, outbound, answerHeader, metric.record) and the same
// retry policy: a first try the loop cannot finish goes on in send.
type proxyHandler struct {
	r *Runtime
	l *listener
}

func (ph *proxyHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodConnect {
		http.Error(w, "CONNECT (HTTPS through the sidecar) is not supported by the embedded runtime", http.StatusNotImplemented)
		return
	}
	ph.r.forward(w, req, ph.l.caller.Load())
}

// fastState is a loop exchange's decision (dataplane.Exchange.State).
type fastState struct {
	d       decision
	m       metric
	members *memberList
	cl      cluster
	run     *podRun
}

// Forward takes a request whose hop the loop can carry: forwarded to a
// ready replica of a Service, with no fault, mirror, route or try
// timeout, or retry of the answer's body. Everything else (and a
// ServiceEntry or passthrough destination) is forward's.
func (ph *proxyHandler) Forward(x *dataplane.Exchange) bool {
	r, c, req := ph.r, ph.l.caller.Load(), x.Req
	st, _ := x.State.(*fastState)
	if st == nil {
		st = new(fastState)
		x.State = st
	}
	cfg := r.cfg.Load()
	d := &st.d
	r.decide(d, cfg, req, x.Target, c, x.Header)
	h := &d.hop
	if !onLoop(h) {
		st.release()
		return false
	}
	st.m = metric{caller: c, start: x.Start, dest: h.Host}
	members, cl := r.members(cfg, req, h, &st.m)
	p, spare := members.choose(nil, true)
	if p == nil || spare {
		st.release()
		return false
	}
	st.m.pod, st.members, st.cl, st.run = p, members, cl, p.run.Load()
	x.Addr, x.Out = p.addr, r.outbound(req, h)
	return true
}

// onLoop reports whether the loop can carry a hop: a forward with
// nothing to do but send and answer, and no timer but the stream idle
// timeout.
func onLoop(h *route.Hop) bool {
	if h.Outcome != route.Forward || h.Fault.Delay > 0 || len(h.Mirrors) > 0 || h.External != nil || h.Passthrough {
		return false
	}
	pol := h.Policy
	return pol.Timeout <= 0 && (pol.Retries == nil || pol.Retries.PerTryTimeout <= 0)
}

// Answer makes the answer's header, or declines an answer the route's
// retry policy retries (send goes on from it: Resume).
func (ph *proxyHandler) Answer(x *dataplane.Exchange, code int, pod http.Header) (http.Header, bool) {
	st := x.State.(*fastState)
	if rp := st.d.hop.Policy.Retries; rp.RetriesAnswer(code, pod) && rp.Attempts > 0 {
		return nil, false
	}
	h := x.Header
	if len(h) == 0 {
		h = pod // nothing set before: the pod's fields are edited where they are
		answerHeader(h, nil, &st.d.hop)
	} else {
		answerHeader(h, pod, &st.d.hop)
	}
	return h, true
}

// Done counts the exchange, and keeps the replica's connection unless
// its run ended.
func (ph *proxyHandler) Done(x *dataplane.Exchange, code int, flags string) bool {
	st := x.State.(*fastState)
	st.m.flags = flags
	st.m.record(ph.r.metrics, code)
	keep := !st.run.ended()
	st.release()
	return keep
}

// Resume goes on with send from the loop's first try, on the
// connection's goroutine.
func (ph *proxyHandler) Resume(x *dataplane.Exchange, w http.ResponseWriter, try dataplane.Try) {
	st := x.State.(*fastState)
	defer st.release()
	h := w.Header()
	for k, vs := range x.Header {
		h[k] = vs // the lane entry's cookie
	}
	ew, _ := w.(dataplane.ResponseWriter)
	first := &firstTry{pod: st.m.pod, run: st.run, out: x.Out, try: try}
	ph.r.send(w, ew, x.Req, &st.d.hop, st.members, &st.m, x.Limits, st.cl, first)
}

// release drops what the state points to, so that a pooled exchange
// keeps no configuration or replica alive.
func (st *fastState) release() {
	*st = fastState{}
}

package embedded

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graylane/graylane/internal/dataplane"
	"github.com/graylane/graylane/internal/route"
)

// exitWait is how long a try whose connection was cut waits to learn
// whether the replica's process exited (then the request is sent again,
// see send).
const exitWait = 250 * time.Millisecond

// cluster names a destination as Istio names Envoy clusters
// (outbound|PORT|SUBSET|HOST), for the retry counters.
type cluster struct {
	port         uint32
	subset, host string
}

func (c cluster) String() string {
	return "outbound|" + strconv.FormatUint(uint64(c.port), 10) + "|" + c.subset + "|" + c.host
}

// send forwards the request to a replica of the destination under the
// route's timeout and retry policy, as Envoy's router does:
//
//   - each try goes to a ready replica, another one than those tried when
//     there is one (the previous-hosts predicate); while no replica is
//     ready, to one restarting after it exited (the runtime holds its
//     socket, or connecting fails and is retried);
//   - a try that fails (no connection, connection cut before the answer,
//     perTryTimeout) or whose answer the policy retries is tried again
//     after Envoy's jittered back-off, up to the policy's attempts, when
//     the request can be sent again (no body, or one of at most 1 MiB,
//     kept while it was sent);
//   - beyond Istio's conditions, a request whose connection was cut
//     because the replica's process exited is sent again when its method
//     is idempotent (RFC 9110 9.2.2): the replica is gone, not failing;
//   - the route timeout ends the request with 504 UT whenever it passes;
//     tries exhausted end it with the last failure (503 UF or UC, 504 UT)
//     or the last answer, flagged URX.
//
// A failure of the client (its body, or its going away) is not the
// replica's: see clientFail.
//
// first, when set, is a first try already made (on the event loop) to
// first.pod: the loop goes on from how it ended.
func (r *Runtime) send(w http.ResponseWriter, ew dataplane.ResponseWriter, req *http.Request, hop *route.Hop, members *memberList, m *metric, lim *dataplane.Limits, cl cluster, first *firstTry) {
	rp := hop.Policy.Retries
	var out dataplane.Request
	if first != nil {
		out = first.out // built by outbound already: the header operations are applied once
	} else {
		out = r.outbound(req, hop)
	}
	r.outboundTries(&out, ew, hop, m, lim)
	var triedBuf [4]*pod
	tried, retries := triedBuf[:0], 0
	// retry waits before the next try; false: the route timeout passed
	// meanwhile (the answer is given).
	retry := func(p *pod) bool {
		retries++
		tried = append(tried, p)
		r.metrics.retries.retry(cl)
		if !r.backoff(rp, retries, out.Deadline) {
			m.flags = "UT"
			r.fail(w, m, http.StatusGatewayTimeout, "upstream request timeout")
			return false
		}
		return true
	}
	for {
		var (
			p         *pod
			spare     bool
			run       *podRun
			resp      *http.Response
			conn      *dataplane.UpstreamConn
			err       error
			tryOnLoop = first != nil
		)
		if tryOnLoop {
			p, run, err = first.pod, first.run, first.try.Err
			if err == nil {
				resp = &http.Response{StatusCode: first.try.Code, Header: first.try.Header, Body: http.NoBody}
			}
			first = nil
		} else {
			p, spare = members.choose(tried, rp == nil || rp.OtherHosts)
			if p == nil {
				m.flags = "UH"
				r.fail(w, m, http.StatusServiceUnavailable, "no healthy upstream")
				return
			}
			run = p.run.Load()
		}
		m.pod = p
		if p.external {
			m.pod = nil // no sidecar there: the source reports alone
		}
		if !tryOnLoop {
			resp, conn, err = r.up.RoundTrip(req.Context(), p.addr, &out)
		}
		if err != nil {
			var de *dataplane.DownstreamError
			if errors.As(err, &de) {
				r.clientFail(w, ew, m, de)
				return
			}
			f, ok := r.tryFailure(w, m, err, &out, run, spare, rp != nil && retries < rp.Attempts)
			if !ok {
				return // answered: the route timeout or the stream idle timeout
			}
			again := rp != nil && (rp.RetriesFailure(f.kind) || f.exited && idempotent(req.Method))
			if again && retries < rp.Attempts && out.Rewind() {
				if !retry(p) {
					return
				}
				continue
			}
			if again && retries >= rp.Attempts {
				r.metrics.retries.exhausted(cl)
			}
			r.failed(w, m, f, again && retries > 0 && retries >= rp.Attempts, retries > 0)
			return
		}
		code := resp.StatusCode
		if rp.RetriesAnswer(code, resp.Header) {
			if retries < rp.Attempts && out.Rewind() {
				if conn != nil {
					r.up.Discard(resp, conn)
				}
				if !retry(p) {
					return
				}
				continue
			}
			if retries >= rp.Attempts {
				m.flags = "URX"
				r.metrics.retries.exhausted(cl)
			}
		} else if retries > 0 {
			r.metrics.retries.succeeded(cl)
		}
		r.pass(w, ew, resp, conn, run, hop, out.Deadline, m)
		return
	}
}

// pass writes the answer of the try that ends the request, says in m's
// flags who cut it short if it did not complete, gives the connection
// back (to the pool when the answer completed) and counts the request.
func (r *Runtime) pass(w http.ResponseWriter, ew dataplane.ResponseWriter, resp *http.Response, conn *dataplane.UpstreamConn, run *podRun, hop *route.Hop, deadline time.Time, m *metric) {
	cut := r.respond(w, resp, hop)
	complete := cut == nil
	switch {
	case complete:
	case !deadline.IsZero() && !time.Now().Before(deadline):
		m.flags = "UT" // the answer was cut at the route timeout
	case ew != nil && ew.WriteFailed():
		m.flags = route.AddFlag(m.flags, dataplane.FlagDC) // the client went away in the middle of it
	case dataplane.IsTimeout(cut):
		m.flags = route.AddFlag(m.flags, dataplane.FlagSI) // the replica stalled in the middle of it
	default:
		m.flags = route.AddFlag(m.flags, dataplane.FlagUC) // the replica cut it short (as the event loop counts it)
	}
	// resp is the connection's own: read before the release, after which
	// the connection is another request's at once.
	code := resp.StatusCode
	r.up.Release(conn, complete && !resp.Close && !run.ended())
	m.record(r.metrics, code)
}

// firstTry is a try made on the event loop that did not end the
// request: it failed (try.Err), or its answer (try.Code and try.Header,
// its body dropped with its connection) is retried.
type firstTry struct {
	pod *pod
	run *podRun
	out dataplane.Request
	try dataplane.Try
}

// outboundTries makes out (outbound's) the request every try of send
// sends: with the route's timeouts, the body kept for retries, the
// deadline (a request without a body is complete as it arrives: the
// route timeout runs from its routing) and the client's close watch.
func (r *Runtime) outboundTries(out *dataplane.Request, ew dataplane.ResponseWriter, hop *route.Hop, m *metric, lim *dataplane.Limits) {
	pol := hop.Policy
	out.Now, out.Idle, out.Timeout = m.start, lim.StreamIdle(), pol.Timeout
	if rp := pol.Retries; rp != nil {
		out.PerTry = rp.PerTryTimeout
		out.KeepBody()
	}
	if out.Timeout > 0 && out.Body == nil {
		start := m.start
		if !m.routed.IsZero() {
			start = m.routed
		}
		out.Deadline = start.Add(out.Timeout)
	}
	if ew != nil {
		out.Watch = ew.CloseWatch()
	}
}

// failure is how a try failed.
type failure struct {
	kind   route.Failure
	exited bool  // the connection was cut because the replica's process exited
	err    error // what happened
}

// tryFailure classifies a try's error. The route timeout and the stream
// idle timeout end the request: they are answered here, and ok is false.
// A connection queued on the socket the runtime holds for a restarting
// replica (spare) and cut is a connection failure: the replica's process
// never took it. Whether a cut connection's replica exited is waited for
// only when a retry could follow (canRetry).
func (r *Runtime) tryFailure(w http.ResponseWriter, m *metric, err error, out *dataplane.Request, run *podRun, spare, canRetry bool) (f failure, ok bool) {
	now := time.Now()
	var ce *dataplane.ConnectError
	switch {
	case !out.Deadline.IsZero() && !now.Before(out.Deadline) && dataplane.IsTimeout(err):
		m.flags = "UT"
		r.fail(w, m, http.StatusGatewayTimeout, "upstream request timeout")
		return f, false
	case errors.As(err, &ce):
		return failure{kind: route.ConnectFailure, err: ce.Err}, true
	case dataplane.IsTimeout(err) && !out.TryDeadline.IsZero() && !now.Before(out.TryDeadline):
		return failure{kind: route.PerTryTimeout, err: err}, true
	case dataplane.IsTimeout(err):
		m.flags = dataplane.FlagSI
		r.fail(w, m, http.StatusGatewayTimeout, "stream timeout: no answer from upstream")
		return f, false
	case spare:
		return failure{kind: route.ConnectFailure, err: err}, true
	}
	return failure{kind: route.Reset, exited: canRetry && run.exitedWithin(exitWait), err: err}, true
}

// failed answers a request whose last try failed, as Envoy does: 503 UF
// for no connection, 503 UC for a connection cut before the answer, 504
// UT for a per-try timeout; URX when the tries were exhausted.
func (r *Runtime) failed(w http.ResponseWriter, m *metric, f failure, exhausted, retried bool) {
	status, flag, msg := http.StatusServiceUnavailable, "UC", "connection termination"
	switch f.kind {
	case route.ConnectFailure:
		flag, msg = "UF", "connection failure"
	case route.PerTryTimeout:
		status, flag = http.StatusGatewayTimeout, "UT"
	}
	m.flags = flag
	if exhausted {
		m.flags += ",URX"
	}
	if f.kind == route.PerTryTimeout {
		r.fail(w, m, status, "upstream request timeout")
		return
	}
	reason := "reset reason: "
	if retried {
		reason = "retried and the latest reset reason: "
	}
	r.fail(w, m, status, "upstream connect error or disconnect/reset before headers. "+reason+msg+", transport failure reason: "+f.err.Error())
}

// backoff waits before retry n as Envoy does (a random time below
// rp.BackoffBefore(n)); false when the route's deadline passes first.
func (r *Runtime) backoff(rp *route.RetryPolicy, n int, deadline time.Time) bool {
	d := time.Duration(rand.Int64N(int64(rp.BackoffBefore(n))))
	if !deadline.IsZero() {
		if left := time.Until(deadline); left <= d {
			if left > 0 {
				time.Sleep(left)
			}
			return false
		}
	}
	if d > 0 {
		time.Sleep(d)
	}
	return true
}

// idempotent methods (RFC 9110 9.2.2) may be sent again after a
// connection was cut: the replica may or may not have acted on them.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// choose picks the replica for a try, round-robin: a ready one not in
// tried (when otherHosts), else a ready one, else one restarting after it
// exited (spare: nothing else can serve; see pod.restarting), else nil.
func (m *memberList) choose(tried []*pod, otherHosts bool) (p *pod, spare bool) {
	n := len(m.pods)
	if n == 0 {
		return nil, false
	}
	start := int(m.next.Add(1) % uint64(n))
	var again, restarting *pod
	for i := range n {
		c := m.pods[(start+i)%n]
		switch {
		case c.ready.Load():
			if !otherHosts || len(tried) == 0 || !slices.Contains(tried, c) {
				return c, false
			}
			if again == nil {
				again = c
			}
		case restarting == nil && c.restarting.Load():
			restarting = c
		}
	}
	if again != nil {
		return again, false
	}
	return restarting, restarting != nil
}

// retryCounters are Envoy's cluster retry statistics, with Istio's
// cluster names: envoy_cluster_upstream_rq_retry (retries sent),
// ..._retry_success (a retried request got an answer not retried again),
// ..._retry_limit_exceeded (the attempts ran out).
type retryCounters struct {
	sent, success, limit *prometheus.CounterVec
}

func newRetryCounters(reg prometheus.Registerer) *retryCounters {
	vec := func(name, help string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"cluster_name"})
		reg.MustRegister(v)
		return v
	}
	return &retryCounters{
		sent:    vec("envoy_cluster_upstream_rq_retry", "Retries the proxies sent (Envoy's cluster.upstream_rq_retry)."),
		success: vec("envoy_cluster_upstream_rq_retry_success", "Retried requests whose answer was not retried again (Envoy's cluster.upstream_rq_retry_success)."),
		limit:   vec("envoy_cluster_upstream_rq_retry_limit_exceeded", "Requests that would have been retried but had no attempts left (Envoy's cluster.upstream_rq_retry_limit_exceeded)."),
	}
}

func (c *retryCounters) retry(cl cluster)     { c.sent.WithLabelValues(cl.String()).Inc() }
func (c *retryCounters) succeeded(cl cluster) { c.success.WithLabelValues(cl.String()).Inc() }
func (c *retryCounters) exhausted(cl cluster) { c.limit.WithLabelValues(cl.String()).Inc() }

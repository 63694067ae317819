package embedded

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/graylane/graylane/internal/dataplane"
	"github.com/graylane/graylane/internal/route"
)

// mirrorTimeout bounds a mirrored request: nobody waits for its answer,
// but its connection and goroutine must not live forever.
const mirrorTimeout = 30 * time.Second

// mirror sends the copies of a request its route mirrors, as Envoy's
// request_mirror_policies: each mirror draws its percentage, the copy
// goes to a ready replica of the mirror's destination with "-shadow"
// appended to its Host and the route's request header operations
// applied, and its answer is read and dropped. It is counted by the
// destination reporter only (the mirror's sidecar sees it; the caller's
// does not). Call it before the request itself is sent: the copy's
// header is taken from the request as it came in. A request whose body
// cannot be read twice (not buffered) is not mirrored, and counted in
// graylane_mirror_skipped_total. A mirror Envoy has no cluster for (its
// subset, or its port: route.Table.MirrorProblem) gets no copies. A
// mirror to a ServiceEntry host sends its copies to an endpoint of the
// entry (nobody outside the mesh reports them).
func (r *Runtime) mirror(cfg *config, req *http.Request, rr *route.Request, hop *route.Hop, c *caller) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	for i := range hop.Mirrors {
		mp := &hop.Mirrors[i]
		if !mp.Sample(rand.Uint32N(1_000_000)) || mp.Problem != "" {
			continue
		}
		// No cluster for its port, no copy (route.Table.MirrorProblem).
		port, problem, x := cfg.table.Upstream(rr, &mp.Destination)
		if problem != "" {
			continue
		}
		var members *memberList
		switch {
		case cfg.services[mp.Host] != nil:
			members = cfg.endpoints(mp.Host, mp.Subset, mp.Labels)
		case x != nil:
			// A ServiceEntry host's cluster, as for a request.
			members = cfg.entryMembers(x, host, port, mp.Subset, mp.Labels)
		default:
			continue
		}
		p := members.pick(nil)
		if p == nil {
			continue // Envoy: no healthy upstream in the shadow cluster, no copy
		}
		out := dataplane.Request{Method: req.Method, URI: hop.Target, Host: route.ShadowHost(host), Header: req.Header.Clone()}
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				r.metrics.mirrorSkipped.WithLabelValues(c.workload).Inc()
				continue
			}
			body, err := req.GetBody()
			if err != nil {
				r.metrics.mirrorSkipped.WithLabelValues(c.workload).Inc()
				continue
			}
			out.Body, out.Length = body, req.ContentLength
			if out.Length == 0 {
				out.Length = -1
			}
		}
		dropHopFields(out.Header)
		hop.Route.RequestHeaders.Apply(out.Header)
		go r.sendMirror(p, &out, c, mp.Host)
	}
}

func (r *Runtime) sendMirror(p *pod, out *dataplane.Request, c *caller, host string) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), mirrorTimeout)
	defer cancel()
	code, flags := 0, "UF"
	resp, conn, err := r.up.RoundTrip(ctx, p.addr, out)
	if err == nil {
		code, flags = resp.StatusCode, ""
		_, err = io.Copy(io.Discard, resp.Body)
		r.up.Release(conn, err == nil && !resp.Close)
	}
	if flags == "" {
		flags = "-"
	}
	if p.external {
		return // no sidecar there to report the copy
	}
	r.metrics.observeShadow(seriesKey{caller: c, pod: p, dest: host, code: code, flags: flags, shadow: true}, time.Since(start))
}

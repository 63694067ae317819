package route

import (
	"fmt"
	"strconv"

	networking "istio.io/api/networking/v1alpha3"
)

// This file lists what Graylane reads but does not evaluate, as located
// "not evaluated" findings: each one is attached to the routes whose
// requests it would change, so that `graylane route` and `simulate` name
// it where it matters and never leave it out silently. Retries and
// timeouts are not listed here: they are the route's retry and timeout
// policy.

// routeNotes are the fields of an HTTP route that act on the requests it
// matches and that Graylane does not carry out: fault injection,
// mirroring and CORS.
func routeNotes(r *routeSpec) []note {
	h, m, p := r.http, r.owner.meta, r.path()
	var out []note
	add := func(path, format string, args ...any) {
		out = append(out, note{m, p + "." + path, "not evaluated: " + fmt.Sprintf(format, args...)})
	}
	if f := h.GetFault(); f != nil {
		if d := f.GetDelay(); d != nil {
			add("fault.delay", "Envoy would delay %s of these requests by %s before routing them; Graylane does not inject faults",
				faultShare(d.GetPercentage(), d.GetPercent()), d.GetFixedDelay().AsDuration())
		}
		if a := f.GetAbort(); a != nil {
			add("fault.abort", "Envoy would answer %s of these requests itself with %s instead of routing them; Graylane does not inject faults",
				faultShare(a.GetPercentage(), 0), abortCode(a))
		}
	}
	if d := h.GetMirror(); d != nil {
		add("mirror", "Envoy would also send %s of these requests to %s (answers dropped); Graylane does not mirror", mirrorShare(h), describeDestination(d))
	}
	for i, mp := range h.GetMirrors() {
		share := "every one"
		if pct := mp.GetPercentage(); pct != nil {
			share = strconv.FormatFloat(pct.GetValue(), 'f', -1, 64) + "%"
		}
		add(fmt.Sprintf("mirrors[%d]", i), "Envoy would also send %s of these requests to %s (answers dropped); Graylane does not mirror", share, describeDestination(mp.GetDestination()))
	}
	if h.GetCorsPolicy() != nil {
		add("corsPolicy", "Envoy answers CORS preflight requests and adds CORS response headers for this route; Graylane does neither")
	}
	return out
}

func faultShare(pct *networking.Percent, legacy int32) string {
	switch {
	case pct != nil:
		return strconv.FormatFloat(pct.GetValue(), 'f', -1, 64) + "%"
	case legacy != 0:
		return strconv.Itoa(int(legacy)) + "%"
	}
	return "a share (no percentage set)"
}

func abortCode(a *networking.HTTPFaultInjection_Abort) string {
	switch {
	case a.GetHttpStatus() != 0:
		return "HTTP " + strconv.Itoa(int(a.GetHttpStatus()))
	case a.GetGrpcStatus() != "":
		return "gRPC status " + a.GetGrpcStatus()
	case a.GetHttp2Error() != "":
		return "HTTP/2 error " + a.GetHttp2Error()
	}
	return "an error"
}

// mirrorShare follows istiod's MirrorPercent: mirrorPercentage, else the
// deprecated mirrorPercent, else every request.
func mirrorShare(h *networking.HTTPRoute) string {
	switch {
	case h.GetMirrorPercentage() != nil:
		return strconv.FormatFloat(h.GetMirrorPercentage().GetValue(), 'f', -1, 64) + "%"
	case h.GetMirrorPercent() != nil: //nolint:staticcheck // still accepted by istiod
		return strconv.Itoa(int(h.GetMirrorPercent().GetValue())) + "%" //nolint:staticcheck
	}
	return "every one"
}

func describeDestination(d *networking.Destination) string {
	s := d.GetHost()
	if d.GetSubset() != "" {
		s += " subset " + d.GetSubset()
	}
	return s
}

// policyNotes are the traffic policies of a DestinationRule (and of the
// subset a destination uses) that change what happens to requests but
// not which version serves them.
func policyNotes(u *drUnit, subset string) []note {
	var out []note
	var add func(path string, tp *networking.TrafficPolicy)
	add = func(path string, tp *networking.TrafficPolicy) {
		if tp == nil {
			return
		}
		if tp.GetConnectionPool() != nil {
			out = append(out, note{u.meta, path + ".connectionPool", "not evaluated: connection pool limits (Envoy answers 503 to what overflows them); Graylane does not enforce them"})
		}
		if tp.GetOutlierDetection() != nil {
			out = append(out, note{u.meta, path + ".outlierDetection", "not evaluated: outlier detection (Envoy ejects failing pods for a while); Graylane keeps sending to every ready pod"})
		}
		lb := tp.GetLoadBalancer()
		if lb.GetConsistentHash() != nil {
			out = append(out, note{u.meta, path + ".loadBalancer.consistentHash", "not evaluated: consistent-hash load balancing; Graylane spreads requests over the subset's pods round-robin (the subset, and so the version, is the same)"})
		}
		if lb.GetLocalityLbSetting() != nil {
			out = append(out, note{u.meta, path + ".loadBalancer.localityLbSetting", "not evaluated: locality load balancing; Graylane has one locality"})
		}
		if m := tp.GetTls().GetMode(); m == networking.ClientTLSSettings_SIMPLE || m == networking.ClientTLSSettings_MUTUAL {
			out = append(out, note{u.meta, path + ".tls", fmt.Sprintf("not evaluated: Envoy originates TLS (mode %s) to the destination; Graylane sends plain HTTP", m)})
		}
		for i, pl := range tp.GetPortLevelSettings() {
			add(fmt.Sprintf("%s.portLevelSettings[%d]", path, i), &networking.TrafficPolicy{
				ConnectionPool: pl.GetConnectionPool(), OutlierDetection: pl.GetOutlierDetection(), LoadBalancer: pl.GetLoadBalancer(), Tls: pl.GetTls(),
			})
		}
	}
	add("spec.trafficPolicy", u.obj.Spec.GetTrafficPolicy())
	if subset != "" {
		for i, s := range u.obj.Spec.GetSubsets() {
			if s.GetName() == subset {
				add(fmt.Sprintf("spec.subsets[%d].trafficPolicy", i), s.GetTrafficPolicy())
				break
			}
		}
	}
	return out
}

package route

import (
	"fmt"

	networking "istio.io/api/networking/v1alpha3"
)

// This file lists what Graylane reads but does not evaluate, as located
// "not evaluated" findings: each one is attached to the routes whose
// requests it would change, so that `graylane route` and `simulate` name
// it where it matters and never leave it out silently. Retries and
// timeouts are not listed here: they are the route's retry and timeout
// policy.

// routeNotes are the fields of an HTTP route that act on the requests it
// matches and that Graylane does not carry out: CORS. (Fault injection
// and mirroring are evaluated: fault.go, mirror.go.)
func routeNotes(r *routeSpec) []note {
	if r.http.GetCorsPolicy() == nil {
		return nil
	}
	return []note{{r.owner.meta, r.path() + ".corsPolicy", "not evaluated: Envoy answers CORS preflight requests and adds CORS response headers for this route; Graylane does neither"}}
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

package route

import (
	"fmt"
	"net"

	networking "istio.io/api/networking/v1alpha3"
)

// Mirror is a destination a route copies its requests to, as istiod
// gives `mirror`/`mirrorPercentage` and `mirrors` to Envoy
// (request_mirror_policies): the copy is sent fire-and-forget, its answer
// is dropped, and its Host gets "-shadow" appended.
type Mirror struct {
	Destination
	// Percent is the share of requests copied: mirrorPercentage, else the
	// deprecated mirrorPercent, else 100.
	Percent float64 `json:"percent"`
	ppm     uint32
}

// Sample reports whether a request with draw, uniform in [0, 1000000),
// is mirrored.
func (m *Mirror) Sample(draw uint32) bool { return draw < m.ppm }

// mirrors compiles a route's mirror policies (its own, else for a
// delegate's route the delegating route's, as istiod merges them).
// Subsets are resolved as for destinations; a mirror that cannot be
// served is a warning: Envoy then sends no copy, the request itself is
// not affected.
func (c *compiler) mirrors(rt *Route, r *routeSpec) {
	h := r.http
	if h.GetMirror() == nil && len(h.GetMirrors()) == 0 && r.owner != r.root {
		if http := r.root.obj.Spec.GetHttp(); r.rootIndex < len(http) {
			h = http[r.rootIndex]
		}
	}
	add := func(d *networking.Destination, percent float64, path string) {
		if d == nil || percent <= 0 {
			return // istiod: an explicit 0 mirrors nothing
		}
		m := Mirror{Destination: Destination{Host: ResolveHost(d.GetHost(), r.owner.ns), Subset: d.GetSubset(), Port: d.GetPort().GetNumber()},
			Percent: percent, ppm: ppm(percent)}
		if svc := c.t.services[m.Host]; svc != nil && m.Port == 0 && len(svc.Spec.Ports) == 1 {
			m.Port = uint32(svc.Spec.Ports[0].Port)
		}
		// The mirror's subset as a caller of a namespace without
		// DestinationRules of its own finds it.
		svcNS, _ := c.t.serviceNamespace(m.Host, "")
		c.resolveSubset(&m.Destination, c.drs.lookup(m.Host, "", svcNS), "")
		if m.Problem != "" {
			rt.Findings = append(rt.Findings, c.fs.add(Warning, r.owner.meta, path+".subset", "mirror: %s; no copies are sent", m.Problem))
		}
		rt.Mirrors = append(rt.Mirrors, m)
	}
	if d := h.GetMirror(); d != nil {
		percent := 100.0
		switch {
		case h.GetMirrorPercentage() != nil:
			percent = h.GetMirrorPercentage().GetValue()
		case h.GetMirrorPercent() != nil: //nolint:staticcheck // istiod reads the deprecated field too
			percent = float64(h.GetMirrorPercent().GetValue()) //nolint:staticcheck
		}
		add(d, percent, r.path()+".mirror")
	}
	for i, mp := range h.GetMirrors() {
		percent := 100.0
		if mp.GetPercentage() != nil {
			percent = mp.GetPercentage().GetValue()
		}
		add(mp.GetDestination(), percent, fmt.Sprintf("%s.mirrors[%d].destination", r.path(), i))
	}
}

// validateMirrors makes the checks of istiod's webhook on a route's
// mirrors: not both mirror and mirrors, a destination host, percentages
// at most 100.
func validateMirrors(h *networking.HTTPRoute, path string, reject func(string, string, ...any)) {
	if h.GetMirror() != nil && len(h.GetMirrors()) > 0 {
		reject(path, "cannot specify both mirror and mirrors")
	}
	if d := h.GetMirror(); d != nil && d.GetHost() == "" {
		reject(path+".mirror.host", "mirror destination host is required")
	}
	if p := h.GetMirrorPercentage(); p != nil && (p.GetValue() < 0 || p.GetValue() > 100) {
		reject(path+".mirrorPercentage", "mirrorPercentage %v must be in range 0..100", p.GetValue())
	}
	if p := h.GetMirrorPercent(); p != nil && p.GetValue() > 100 { //nolint:staticcheck // validated as istiod does
		reject(path+".mirrorPercent", "mirrorPercent %d must be at most 100", p.GetValue()) //nolint:staticcheck
	}
	for i, mp := range h.GetMirrors() {
		at := fmt.Sprintf("%s.mirrors[%d]", path, i)
		if mp.GetDestination().GetHost() == "" {
			reject(at+".destination.host", "mirror destination host is required")
		}
		if p := mp.GetPercentage(); p != nil && (p.GetValue() < 0 || p.GetValue() > 100) {
			reject(at+".percentage", "percentage %v must be in range 0..100", p.GetValue())
		}
	}
}

// ShadowHost is the Host of a mirrored request: Envoy appends "-shadow"
// to the host, before the port.
func ShadowHost(host string) string {
	if h, port, err := net.SplitHostPort(host); err == nil {
		return h + "-shadow:" + port
	}
	return host + "-shadow"
}

package embedded

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/manifest"
)

// missingGateways finds the Gateways that Releases name (spec.gateways)
// but that are not defined among objs (the objects the runtime runs):
// nothing listens for the Releases' hosts here. On a cluster such a
// Gateway usually comes with the Istio installation; here it must be
// applied too. Each finding is located at the Release's spec.gateways
// entry and says what to add. sources are the applied objects (Releases
// among them). A VirtualService of your own bound to an unknown Gateway
// is reported by the routing compiler instead (as route does).
func missingGateways(objs, sources []*manifest.Object) []string {
	defined := map[string]bool{}
	for _, o := range objs {
		if gw, ok := o.Typed.(*networkingv1.Gateway); ok {
			defined[nsOr(o.Namespace)+"/"+gw.Name] = true
		}
	}
	type missing struct {
		where, by []string
		hosts     []string
	}
	byGateway := map[string]*missing{}
	for _, o := range objs {
		vs, ok := o.Typed.(*networkingv1.VirtualService)
		rel := releaseOf(o, sources)
		if !ok || rel == nil {
			continue
		}
		ns := nsOr(o.Namespace)
		for _, g := range vs.Spec.GetGateways() {
			if g == "mesh" {
				continue
			}
			key := g
			if !strings.Contains(g, "/") {
				key = ns + "/" + g
			}
			if defined[key] {
				continue
			}
			m := byGateway[key]
			if m == nil {
				m = &missing{}
				byGateway[key] = m
			}
			where := gatewayPos(rel, g)
			by := "VirtualService " + ns + "/" + vs.Name + " (rendered from Release " + nsOr(rel.Namespace) + "/" + rel.Name + ")"
			if !slices.Contains(m.where, where) {
				m.where = append(m.where, where)
			}
			m.by = append(m.by, by)
			for _, h := range vs.Spec.GetHosts() {
				if (h == "*" || strings.Contains(h, ".")) && !strings.HasSuffix(h, ".svc.cluster.local") && !slices.Contains(m.hosts, h) {
					m.hosts = append(m.hosts, h)
				}
			}
		}
	}
	var out []string
	for _, key := range slices.Sorted(maps.Keys(byGateway)) {
		m := byGateway[key]
		gwNS, gwName, _ := strings.Cut(key, "/")
		hosts := m.hosts
		if len(hosts) == 0 {
			hosts = []string{"*"}
		}
		out = append(out, fmt.Sprintf("%s: %s bound to Gateway %s, which is not defined: nothing listens for %s here. "+
			"On a cluster that Gateway comes with the mesh; to run it here, apply it too, e.g. "+
			"{apiVersion: networking.istio.io/v1, kind: Gateway, metadata: {name: %s, namespace: %s}, "+
			"spec: {selector: {istio: ingressgateway}, servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [%s]}]}}",
			strings.Join(m.where, ", "), strings.Join(m.by, ", ")+isAre(len(m.by)), key, strings.Join(hosts, ", "),
			gwName, gwNS, strings.Join(quoteAll(hosts), ", ")))
	}
	return out
}

func isAre(n int) string {
	if n == 1 {
		return " is"
	}
	return " are"
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// releaseOf is the applied Release a rendered object comes from (it
// carries the Release's position), or nil.
func releaseOf(o *manifest.Object, sources []*manifest.Object) *manifest.Object {
	if o.Kind == "Release" {
		return nil
	}
	for _, s := range sources {
		if s.Kind == "Release" && s.Pos == o.Pos {
			return s
		}
	}
	return nil
}

// gatewayPos is where a Release names Gateway g in its spec.gateways.
func gatewayPos(rel *manifest.Object, g string) string {
	if r, ok := rel.Typed.(*v1alpha1.Release); ok {
		if j := slices.Index(r.Spec.Gateways, g); j >= 0 {
			return rel.PathPos(fmt.Sprintf("spec.gateways[%d]", j)).String()
		}
	}
	return rel.Pos.String()
}

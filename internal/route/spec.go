package route

import (
	"fmt"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// matchSpec is one HTTPMatchRequest after short-name resolution, in a form
// that delegate merging can copy freely.
type matchSpec struct {
	name                      string
	uri, scheme, method, auth *networking.StringMatch
	headers, without, query   map[string]*networking.StringMatch
	port                      uint32
	sourceLabels              map[string]string
	gateways                  []string // resolved to ns/name or "mesh"
	sourceNS                  string
	ignoreURICase             bool
	path                      string // field path of the match block in its object
	owner                     *vsUnit
}

// routeSpec is one HTTPRoute of a VirtualService after delegate merging.
type routeSpec struct {
	http      *networking.HTTPRoute // the defining route (fields read, never written)
	name      string
	matches   []matchSpec
	headers   *networking.Headers
	rewrite   *networking.HTTPRewrite
	owner     *vsUnit // the VirtualService that wrote this route (the delegate, if any)
	root      *vsUnit // the VirtualService bound to hosts
	index     int     // index in owner's spec.http
	rootIndex int     // index in root's spec.http
}

func (r *routeSpec) path() string { return fmt.Sprintf("spec.http[%d]", r.index) }

func newMatchSpec(m *networking.HTTPMatchRequest, owner *vsUnit, path string) matchSpec {
	gws := make([]string, 0, len(m.GetGateways()))
	for _, g := range m.GetGateways() {
		gws = append(gws, resolveGatewayName(g, owner.ns))
	}
	return matchSpec{
		name: m.GetName(), uri: m.GetUri(), scheme: m.GetScheme(), method: m.GetMethod(),
		auth: m.GetAuthority(), headers: m.GetHeaders(), without: m.GetWithoutHeaders(),
		query: m.GetQueryParams(), port: m.GetPort(), sourceLabels: m.GetSourceLabels(),
		gateways: gws, sourceNS: m.GetSourceNamespace(), ignoreURICase: m.GetIgnoreUriCase(),
		path: path, owner: owner,
	}
}

func newRouteSpec(h *networking.HTTPRoute, owner *vsUnit, index int) *routeSpec {
	r := &routeSpec{http: h, name: h.GetName(), headers: h.GetHeaders(), rewrite: h.GetRewrite(),
		owner: owner, root: owner, index: index, rootIndex: index}
	for i, m := range h.GetMatch() {
		if m == nil {
			continue
		}
		r.matches = append(r.matches, newMatchSpec(m, owner, fmt.Sprintf("spec.http[%d].match[%d]", index, i)))
	}
	return r
}

// resolveGatewayName turns a gateway reference into "ns/name" (bare names
// live in the referring object's namespace); "mesh" stays as it is.
func resolveGatewayName(g, ns string) string {
	if g == MeshSource {
		return g
	}
	if strings.Contains(g, "/") {
		return g
	}
	if i := strings.IndexByte(g, '.'); i > 0 {
		// Deprecated "name.namespace.svc.cluster.local" form.
		rest := g[i+1:]
		if j := strings.IndexByte(rest, '.'); j > 0 {
			return rest[:j] + "/" + g[:i]
		}
		return rest + "/" + g[:i]
	}
	return ns + "/" + g
}

// mergeDelegate merges a root route with the routes of its delegate the way
// istiod does: each delegate route's match blocks must each be covered by a
// root block without conflict, or that delegate route is dropped.
func mergeDelegate(root *routeSpec, delegate []*routeSpec) (out []*routeSpec, dropped []*routeSpec) {
	for _, d := range delegate {
		merged, ok := mergeMatches(root.matches, d.matches)
		if !ok {
			dropped = append(dropped, d)
			continue
		}
		m := *d
		m.matches = merged
		m.root, m.rootIndex = root.root, root.rootIndex
		switch {
		case m.name == "":
			m.name = root.name
		case root.name != "":
			m.name = root.name + "-" + m.name
		}
		if m.rewrite == nil {
			m.rewrite = root.rewrite
		}
		if m.headers == nil {
			m.headers = root.headers
		}
		out = append(out, &m)
	}
	return out, dropped
}

func mergeMatches(root, delegate []matchSpec) ([]matchSpec, bool) {
	if len(root) == 0 {
		return delegate, true
	}
	if len(delegate) == 0 {
		return root, true
	}
	var out []matchSpec
	for _, sub := range delegate {
		found := false
		for _, rm := range root {
			if matchesConflict(&rm, &sub) {
				continue
			}
			out = append(out, mergeMatch(&rm, &sub))
			found = true
		}
		if !found {
			return nil, false
		}
	}
	return out, len(out) > 0
}

// mergeMatch overlays a delegate block on a root block. Source labels,
// source namespace and gateways come from the delegate only, as in istiod.
func mergeMatch(root, d *matchSpec) matchSpec {
	out := *d
	switch {
	case out.name == "":
		out.name = root.name
	case root.name != "":
		out.name = root.name + "-" + out.name
	}
	if out.uri == nil {
		out.uri = root.uri
	}
	if out.scheme == nil {
		out.scheme = root.scheme
	}
	if out.method == nil {
		out.method = root.method
	}
	if out.auth == nil {
		out.auth = root.auth
	}
	out.headers = overlay(root.headers, d.headers)
	out.without = overlay(root.without, d.without)
	out.query = overlay(root.query, d.query)
	if out.port == 0 {
		out.port = root.port
	}
	return out
}

func overlay(a, b map[string]*networking.StringMatch) map[string]*networking.StringMatch {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := make(map[string]*networking.StringMatch, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func matchesConflict(root, leaf *matchSpec) bool {
	pairs := [][2]*networking.StringMatch{
		{root.uri, leaf.uri}, {root.scheme, leaf.scheme}, {root.method, leaf.method}, {root.auth, leaf.auth},
	}
	for _, p := range pairs {
		if stringMatchConflict(p[0], p[1]) {
			return true
		}
	}
	for k, v := range leaf.headers {
		if stringMatchConflict(root.headers[k], v) {
			return true
		}
	}
	// istiod compares withoutHeaders of the delegate with the root's headers.
	for k, v := range leaf.without {
		if stringMatchConflict(root.headers[k], v) {
			return true
		}
	}
	for k, v := range leaf.query {
		if stringMatchConflict(root.query[k], v) {
			return true
		}
	}
	if root.ignoreURICase != leaf.ignoreURICase {
		return true
	}
	return root.port > 0 && leaf.port > 0 && root.port != leaf.port
}

// stringMatchConflict: a delegate condition must narrow the root's. Regex
// on either side always conflicts (istiod cannot prove containment).
func stringMatchConflict(root, leaf *networking.StringMatch) bool {
	if root == nil || leaf == nil {
		return false
	}
	if root.GetRegex() != "" || leaf.GetRegex() != "" {
		return true
	}
	if exact := root.GetExact(); exact != "" {
		return leaf.GetPrefix() != "" || leaf.GetExact() != exact
	}
	if prefix := root.GetPrefix(); prefix != "" {
		if p := leaf.GetPrefix(); p != "" {
			return !strings.HasPrefix(p, prefix)
		}
		if e := leaf.GetExact(); e != "" {
			return !strings.HasPrefix(e, prefix)
		}
	}
	return true
}

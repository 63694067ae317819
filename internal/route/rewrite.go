package route

import (
	"regexp"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// pathRewrite is how a route rewrites the path the destination sees, as
// istiod gives it to Envoy: rewrite.uri becomes Envoy's prefix_rewrite and
// rewrite.uriRegexRewrite its regex_rewrite.
//
// prefix_rewrite swaps what the route's path matcher matched: the prefix
// of a uri prefix match, the whole path of an exact or regex match, and
// the leading "/" of a route without a uri match (istiod gives those the
// match-everything prefix "/"). The query string is kept.
type pathRewrite struct {
	uri string
	// swap[i] is how match block i swapped: its prefix length, or -1 for
	// the whole path. A catch-all route swaps "/".
	swap []int
	re   *regexp.Regexp
	// tmpl is the regex_rewrite substitution in Go's Expand syntax.
	tmpl string
}

// swapWhole marks a match block whose matched part is the whole path.
const swapWhole = -1

// compilePathRewrite builds the path rewrite of a route; nil when the
// route does not rewrite the path. validateRewrite has refused an invalid
// rewrite with its VirtualService already.
func compilePathRewrite(r *routeSpec) *pathRewrite {
	rw := r.rewrite
	if rw == nil || (rw.GetUri() == "" && rw.GetUriRegexRewrite() == nil) {
		return nil
	}
	if rr := rw.GetUriRegexRewrite(); rr != nil {
		re, err := regexp.Compile(rr.GetMatch())
		if err != nil {
			return nil
		}
		return &pathRewrite{re: re, tmpl: envoySubstitution(rr.GetRewrite())}
	}
	p := &pathRewrite{uri: rw.GetUri(), swap: make([]int, len(r.matches))}
	for i := range r.matches {
		p.swap[i] = swapOf(r.matches[i].uri)
	}
	return p
}

// validateRewrite makes the checks of istiod's webhook on HTTPRewrite.
func validateRewrite(rw *networking.HTTPRewrite, path string, reject func(string, string, ...any)) {
	if rw == nil {
		return
	}
	rr := rw.GetUriRegexRewrite()
	switch {
	case rw.GetUri() != "" && rr != nil:
		reject(path, "rewrite may only contain one of uri and uriRegexRewrite")
		return
	case rw.GetUri() == "" && rr == nil && rw.GetAuthority() == "":
		reject(path, "rewrite must specify uri, uriRegexRewrite or authority")
		return
	case rr == nil:
		return
	case rr.GetMatch() == "" || rr.GetRewrite() == "":
		reject(path+".uriRegexRewrite", "uriRegexRewrite needs both match and rewrite")
		return
	}
	if _, err := regexp.Compile(rr.GetMatch()); err != nil {
		reject(path+".uriRegexRewrite.match", "invalid regex %q: %v", rr.GetMatch(), err)
	}
}

// swapOf is the part of the path a uri match swaps under prefix_rewrite.
func swapOf(m *networking.StringMatch) int {
	switch t := m.GetMatchType().(type) {
	case *networking.StringMatch_Prefix:
		return len(t.Prefix)
	case *networking.StringMatch_Exact, *networking.StringMatch_Regex:
		return swapWhole
	}
	return 1 // no uri match: istiod's prefix "/"
}

// envoySubstitution turns an RE2 GlobalReplace substitution, whose groups
// are \0..\9 and whose "\\" is a backslash, into a regexp.Expand template.
func envoySubstitution(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '$':
			b.WriteString("$$")
		case ch == '\\' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			b.WriteString("${")
			b.WriteByte(s[i+1])
			b.WriteByte('}')
			i++
		case ch == '\\' && i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// UpstreamTarget is the request target (path and query) the destination
// sees for target, the request's origin-form target: the route's
// rewrite.uri or rewrite.uriRegexRewrite applied as Envoy applies them.
// It is target itself when the result does not rewrite the path.
func (res *Result) UpstreamTarget(target string) string {
	if res.Route == nil || res.Route.path == nil {
		return target
	}
	p := res.Route.path
	path, query, hasQuery := strings.Cut(target, "?")
	if p.re != nil {
		path = p.re.ReplaceAllString(path, p.tmpl)
	} else {
		swap := 1
		if res.Match >= 0 && res.Match < len(p.swap) {
			swap = p.swap[res.Match]
		}
		if swap == swapWhole || swap > len(path) {
			swap = len(path)
		}
		path = p.uri + path[swap:]
	}
	if hasQuery {
		return path + "?" + query
	}
	return path
}

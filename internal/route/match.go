package route

import (
	"fmt"
	"net/textproto"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// match is one compiled HTTPMatchRequest. All conditions must hold.
type match struct {
	uri, scheme, method, authority *strMatcher
	uriExactOrRegex                bool // exact and regex see the path without query
	headers                        []headerMatcher
	without                        []headerMatcher
	query                          []queryMatcher
	port                           uint32
	sourceLabels                   []labelPair
	sourceNS                       string
}

type headerMatcher struct {
	key    string // canonical MIME key, or a pseudo-header ":authority"
	slot   int    // index in evalCtx's header cache, or -1
	cookie bool
	m      *strMatcher
}

type queryMatcher struct {
	name string
	m    *strMatcher
}

type labelPair struct{ k, v string }

func compileMatch(s *matchSpec, slot func(key string) int) (*match, error) {
	m := &match{port: s.port, sourceNS: s.sourceNS}
	var err error
	if s.uri != nil {
		// ignoreUriCase becomes Envoy's RouteMatch.case_sensitive, which
		// applies to path and prefix matching and is ignored for
		// safe_regex: a regex keeps its own case rules ((?i) if wanted).
		_, isRegex := s.uri.GetMatchType().(*networking.StringMatch_Regex)
		if m.uri, err = compileStringMatch(s.uri, s.ignoreURICase && !isRegex); err != nil {
			return nil, fmt.Errorf("uri: %w", err)
		}
		m.uriExactOrRegex = s.uri.GetPrefix() == "" && m.uri.kind != kindPresent
	}
	if s.scheme != nil {
		if m.scheme, err = compileStringMatch(s.scheme, false); err != nil {
			return nil, fmt.Errorf("scheme: %w", err)
		}
	}
	if s.method != nil {
		if m.method, err = compileStringMatch(s.method, false); err != nil {
			return nil, fmt.Errorf("method: %w", err)
		}
	}
	if s.auth != nil {
		if m.authority, err = compileStringMatch(s.auth, false); err != nil {
			return nil, fmt.Errorf("authority: %w", err)
		}
	}
	for _, k := range sortedKeys(s.headers) {
		hm, err := compileHeader(k, s.headers[k], slot)
		if err != nil {
			return nil, err
		}
		m.headers = append(m.headers, hm)
	}
	for _, k := range sortedKeys(s.without) {
		hm, err := compileHeader(k, s.without[k], slot)
		if err != nil {
			return nil, err
		}
		m.without = append(m.without, hm)
	}
	for _, k := range sortedKeys(s.query) {
		qm, err := compileStringMatch(s.query[k], false)
		if err != nil {
			return nil, fmt.Errorf("queryParams.%s: %w", k, err)
		}
		m.query = append(m.query, queryMatcher{name: k, m: qm})
	}
	for _, k := range sortedKeys(s.sourceLabels) {
		m.sourceLabels = append(m.sourceLabels, labelPair{k, s.sourceLabels[k]})
	}
	return m, nil
}

func compileHeader(name string, sm *networking.StringMatch, slot func(string) int) (headerMatcher, error) {
	m, err := compileStringMatch(sm, false)
	if err != nil {
		return headerMatcher{}, fmt.Errorf("headers.%s: %w", name, err)
	}
	key := headerKey(name)
	return headerMatcher{key: key, slot: slot(key), cookie: strings.EqualFold(name, "cookie"), m: m}, nil
}

// headerKey turns a header name as written in a VirtualService into the
// key net/http uses.
func headerKey(name string) string {
	if strings.HasPrefix(name, ":") {
		return ":" + textproto.CanonicalMIMEHeaderKey(name[1:])
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

// matches reports whether the request satisfies every condition.
func (m *match) matches(c *evalCtx) bool {
	r := c.r
	if m.port != 0 && m.port != r.port() {
		return false
	}
	if m.sourceNS != "" && m.sourceNS != r.namespace() {
		return false
	}
	for _, l := range m.sourceLabels {
		if v, ok := r.Source.Labels[l.k]; !ok || v != l.v {
			return false
		}
	}
	if m.uri != nil {
		p := r.fullPath()
		if m.uriExactOrRegex {
			p = r.pathOnly()
		}
		if !m.uri.match(p) {
			return false
		}
	}
	if m.scheme != nil && !m.scheme.match(r.scheme()) {
		return false
	}
	if m.method != nil && !m.method.match(r.method()) {
		return false
	}
	if m.authority != nil && !m.authority.match(r.Authority) {
		return false
	}
	for i := range m.headers {
		h := &m.headers[i]
		v, ok := c.header(h)
		if !ok || !h.m.match(v) {
			return false
		}
	}
	for i := range m.without {
		h := &m.without[i]
		if v, ok := c.header(h); ok && h.m.match(v) {
			return false
		}
	}
	if len(m.query) > 0 {
		q := r.rawQuery()
		for i := range m.query {
			v, ok := queryParam(q, m.query[i].name)
			if !ok || !m.query[i].m.match(v) {
				return false
			}
		}
	}
	return true
}

// headerSlots is the size of the per-request header cache: the first
// distinct header names of a Table are looked up once per request.
const headerSlots = 32

// evalCtx is one evaluation's state; it lives on the stack.
type evalCtx struct {
	r     *Request
	state [headerSlots]uint8 // 0 unknown, 1 absent, 2 present
	vals  [headerSlots]string
}

func (c *evalCtx) header(h *headerMatcher) (string, bool) {
	if h.slot < 0 {
		return c.r.header(h.key, h.cookie)
	}
	switch c.state[h.slot] {
	case 1:
		return "", false
	case 2:
		return c.vals[h.slot], true
	}
	v, ok := c.r.header(h.key, h.cookie)
	if ok {
		c.state[h.slot], c.vals[h.slot] = 2, v
	} else {
		c.state[h.slot] = 1
	}
	return v, ok
}

package route

import (
	"sort"
)

// A virtual host's routes are evaluated as a plan of steps. Most steps are
// plain runs of routes tried in order. A run of at least minIndexedRun
// routes whose every match block has an exact or prefix condition on the
// same input (one header, or the uri) becomes an indexed step: the input is
// read once, hash lookups find the few routes that can match, and only
// those are tried, lowest position first. First-match-wins is kept: a route
// outside the candidates cannot match, because its indexed condition fails.

const minIndexedRun = 4

type step struct {
	start, end int       // positions in VirtualHost.routes
	idx        *runIndex // nil: try routes start..end-1 in order
}

type runIndex struct {
	uri        bool          // indexed input is the uri; else the header hm
	hm         headerMatcher // key/slot/cookie of the indexed header
	exact      map[string][]entry
	prefix     map[string][]entry
	prefixLens []int // distinct prefix lengths, ascending
}

type entry struct {
	pos, block int32 // route position and match block
}

// condKey names an indexable condition of a match block with its kind.
type cond struct {
	key    string // "uri" or a canonical header key
	hm     headerMatcher
	values []string
	prefix bool
}

// indexable lists a block's conditions usable as an index.
func indexable(m *match) []cond {
	var out []cond
	if u := m.uri; u != nil && !u.fold && !u.noNL {
		switch {
		case m.uriExactOrRegex && u.kind == kindExact:
			out = append(out, cond{key: "uri", values: []string{u.s}})
		case m.uriExactOrRegex && u.kind == kindOneOf:
			out = append(out, cond{key: "uri", values: u.set})
		case !m.uriExactOrRegex && u.kind == kindPrefix:
			out = append(out, cond{key: "uri", values: []string{u.s}, prefix: true})
		}
	}
	for _, h := range m.headers {
		if h.m.noNL || h.m.fold {
			continue
		}
		switch h.m.kind {
		case kindExact:
			out = append(out, cond{key: h.key, hm: h, values: []string{h.m.s}})
		case kindOneOf:
			out = append(out, cond{key: h.key, hm: h, values: h.m.set})
		case kindPrefix:
			out = append(out, cond{key: h.key, hm: h, values: []string{h.m.s}, prefix: true})
		}
	}
	return out
}

// routeKeys is the set of inputs every block of a route can be indexed on.
func routeKeys(br *boundRoute) map[string]bool {
	if len(br.matches) == 0 {
		return nil
	}
	var keys map[string]bool
	for _, m := range br.matches {
		ks := map[string]bool{}
		for _, c := range indexable(m) {
			ks[c.key] = true
		}
		if keys == nil {
			keys = ks
			continue
		}
		for k := range keys {
			if !ks[k] {
				delete(keys, k)
			}
		}
	}
	return keys
}

// plan splits routes into steps.
func plan(routes []boundRoute) []step {
	var steps []step
	i := 0
	for i < len(routes) {
		keys := routeKeys(&routes[i])
		j := i + 1
		for len(keys) > 0 && j < len(routes) {
			next := routeKeys(&routes[j])
			common := map[string]bool{}
			for k := range keys {
				if next[k] {
					common[k] = true
				}
			}
			if len(common) == 0 {
				break
			}
			keys = common
			j++
		}
		if len(keys) > 0 && j-i >= minIndexedRun {
			steps = append(steps, step{start: i, end: j, idx: buildIndex(routes, i, j, firstKey(keys))})
			i = j
			continue
		}
		if n := len(steps); n > 0 && steps[n-1].idx == nil {
			steps[n-1].end = i + 1
		} else {
			steps = append(steps, step{start: i, end: i + 1})
		}
		i++
	}
	return steps
}

func firstKey(keys map[string]bool) string {
	var ks []string
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks[0]
}

func buildIndex(routes []boundRoute, from, to int, key string) *runIndex {
	x := &runIndex{uri: key == "uri", exact: map[string][]entry{}, prefix: map[string][]entry{}}
	lens := map[int]bool{}
	for pos := from; pos < to; pos++ {
		for b, m := range routes[pos].matches {
			for _, c := range indexable(m) {
				if c.key != key {
					continue
				}
				x.hm = c.hm
				e := entry{pos: int32(pos), block: int32(b)}
				for _, v := range c.values {
					if c.prefix {
						x.prefix[v] = append(x.prefix[v], e)
						lens[len(v)] = true
					} else {
						x.exact[v] = append(x.exact[v], e)
					}
				}
				break
			}
		}
	}
	for l := range lens {
		x.prefixLens = append(x.prefixLens, l)
	}
	sort.Ints(x.prefixLens)
	return x
}

// best finds the lowest (position, block) in an indexed step that matches.
func (x *runIndex) best(c *evalCtx, routes []boundRoute) (pos, block int) {
	pos, block = -1, -1
	var exactIn, prefixIn string
	if x.uri {
		exactIn, prefixIn = c.r.pathOnly(), c.r.fullPath()
	} else {
		v, ok := c.header(&x.hm)
		if !ok {
			return -1, -1
		}
		exactIn, prefixIn = v, v
	}
	if len(x.exact) > 0 {
		pos, block = x.try(c, routes, x.exact[exactIn], pos, block)
	}
	for _, l := range x.prefixLens {
		if l > len(prefixIn) {
			break
		}
		if list, ok := x.prefix[prefixIn[:l]]; ok {
			pos, block = x.try(c, routes, list, pos, block)
		}
	}
	return pos, block
}

func (x *runIndex) try(c *evalCtx, routes []boundRoute, list []entry, pos, block int) (int, int) {
	for _, e := range list {
		p, b := int(e.pos), int(e.block)
		if pos >= 0 && (p > pos || (p == pos && b >= block)) {
			break
		}
		if routes[p].matches[b].matches(c) {
			return p, b
		}
	}
	return pos, block
}

package route

import (
	"sort"
	"strings"
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
	// contains finds the literals of ".*lit.*" conditions with one scan of
	// the value: every k-byte window is looked up by its packed bytes, keyed
	// by each literal's last k bytes (where "name=value" literals differ).
	contains map[uint64][]literalEntries
	k        int
	// noNL: some condition came from a regex whose "." excludes newline;
	// a value with a newline is then evaluated route by route.
	noNL bool
}

type literalEntries struct {
	lit     string
	entries []entry
}

type entry struct {
	pos, block int32 // route position and match block
}

// condKey names an indexable condition of a match block with its kind.
type cond struct {
	key      string // "uri" or a canonical header key
	hm       headerMatcher
	values   []string
	prefix   bool
	contains bool
	noNL     bool
	// choose: values are literals the value must all contain; the index
	// keys on one of them, the rarest in the run.
	choose bool
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
		if h.m.fold {
			continue
		}
		switch h.m.kind {
		case kindExact:
			out = append(out, cond{key: h.key, hm: h, values: []string{h.m.s}})
		case kindOneOf:
			out = append(out, cond{key: h.key, hm: h, values: h.m.set})
		case kindPrefix:
			out = append(out, cond{key: h.key, hm: h, values: []string{h.m.s}, prefix: true, noNL: h.m.noNL})
		case kindContains:
			if h.m.s != "" {
				out = append(out, cond{key: h.key, hm: h, values: []string{h.m.s}, contains: true, noNL: h.m.noNL})
			}
		case kindRegex:
			// A literal the regex requires finds the candidates; the
			// regex itself runs only on those.
			if len(h.m.need) > 0 {
				out = append(out, cond{key: h.key, hm: h, values: h.m.need, contains: true, choose: true})
			}
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
	x := &runIndex{uri: key == "uri", exact: map[string][]entry{}, prefix: map[string][]entry{}, k: 8}
	lens := map[int]bool{}
	lits := map[string][]entry{}
	var litOrder []string
	freq := map[string]int{}
	for pos := from; pos < to; pos++ {
		for _, m := range routes[pos].matches {
			for _, c := range indexable(m) {
				if c.key == key && c.choose {
					for _, v := range c.values {
						freq[v]++
					}
				}
			}
		}
	}
	for pos := from; pos < to; pos++ {
		for b, m := range routes[pos].matches {
			for _, c := range indexable(m) {
				if c.key != key {
					continue
				}
				x.hm, x.noNL = c.hm, x.noNL || c.noNL
				e := entry{pos: int32(pos), block: int32(b)}
				values := c.values
				if c.choose {
					values = []string{rarest(c.values, freq)}
				}
				for _, v := range values {
					switch {
					case c.contains:
						if _, ok := lits[v]; !ok {
							litOrder = append(litOrder, v)
						}
						lits[v] = append(lits[v], e)
						x.k = min(x.k, len(v))
					case c.prefix:
						x.prefix[v] = append(x.prefix[v], e)
						lens[len(v)] = true
					default:
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
	if len(lits) > 0 {
		x.contains = map[uint64][]literalEntries{}
		for _, lit := range litOrder {
			w := pack(lit[len(lit)-x.k:])
			x.contains[w] = append(x.contains[w], literalEntries{lit: lit, entries: lits[lit]})
		}
	}
	return x
}

// pack turns up to 8 bytes into a map key.
func pack(s string) uint64 {
	var w uint64
	for i := 0; i < len(s); i++ {
		w = w<<8 | uint64(s[i])
	}
	return w
}

// best finds the lowest (position, block) in an indexed step that matches.
// linear reports that the value must be evaluated route by route.
func (x *runIndex) best(c *evalCtx, routes []boundRoute) (pos, block int, linear bool) {
	pos, block = -1, -1
	var exactIn, prefixIn string
	if x.uri {
		exactIn, prefixIn = c.r.pathOnly(), c.r.fullPath()
	} else {
		v, ok := c.header(&x.hm)
		if !ok {
			return -1, -1, false
		}
		if x.noNL && strings.IndexByte(v, '\n') >= 0 {
			return -1, -1, true
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
	if x.contains != nil {
		pos, block = x.scan(c, routes, exactIn, pos, block)
	}
	return pos, block, false
}

// scan slides a k-byte window over v and tries the routes of every
// literal found at that place.
func (x *runIndex) scan(c *evalCtx, routes []boundRoute, v string, pos, block int) (int, int) {
	if len(v) < x.k {
		return pos, block
	}
	w := pack(v[:x.k])
	mask := uint64(1)<<(8*x.k) - 1
	if x.k == 8 {
		mask = ^uint64(0)
	}
	for i := 0; ; i++ {
		if groups, ok := x.contains[w]; ok {
			for _, g := range groups {
				// The window is the literal's tail: it starts earlier.
				if start := i + x.k - len(g.lit); start >= 0 && v[start:i+x.k] == g.lit {
					pos, block = x.try(c, routes, g.entries, pos, block)
				}
			}
		}
		if i+x.k >= len(v) {
			return pos, block
		}
		w = (w<<8 | uint64(v[i+x.k])) & mask
	}
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

// rarest picks the literal fewest routes of the run require (the longest
// on a tie): it narrows the candidates most.
func rarest(ss []string, freq map[string]int) string {
	best := ss[0]
	for _, s := range ss[1:] {
		if freq[s] < freq[best] || (freq[s] == freq[best] && len(s) > len(best)) {
			best = s
		}
	}
	return best
}

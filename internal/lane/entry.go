package lane

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/bucket"
)

// Entry decides at the edge which lane a request enters. It is built once
// per configuration and used concurrently.
type Entry struct {
	lanes   []entryLane
	key     []byte
	headers []string // every lane header name, to strip
}

type entryLane struct {
	name     string
	header   string
	baggage  bool
	headers  []matcher // by header name
	cookies  []matcher // by cookie name
	identity v1alpha1.Identity
	users    map[string]bool
	tenants  map[string]bool
	gate     string
	pct      bool
	weight   int32
	anon     int32
	ranks    [bucket.N]uint8
}

type matcher struct {
	name          string
	exact, prefix string
	re            *regexp.Regexp
	any           bool
}

func newMatcher(name, exact, prefix, re string) matcher {
	m := matcher{name: name, exact: exact, prefix: prefix}
	if re != "" {
		m.re = regexp.MustCompile("^(?:" + re + ")$") // validated at load
	}
	m.any = exact == "" && prefix == "" && re == ""
	return m
}

func (m *matcher) match(v string) bool {
	switch {
	case m.any:
		return true
	case m.re != nil:
		return m.re.MatchString(v)
	case m.prefix != "":
		return strings.HasPrefix(v, m.prefix)
	}
	return v == m.exact
}

// Decision is an entry decision.
type Decision struct {
	// Lane is the lane entered, "" for none.
	Lane string `json:"lane"`
	// Reason is signed, header, cookie, whitelist, percentage, anonymous
	// or none.
	Reason string `json:"reason"`
	// Bucket is the user's bucket (-1 without a user id).
	Bucket int `json:"bucket"`
}

// Whitelist asks an outside whitelist (the gate) for a user's or tenant's
// lane. ok is false when the gate names no lane for them.
type Whitelist func(gate, user, tenant string) (lane string, ok bool)

// NewEntry builds the entry for the Active lanes (states as Compile used
// them); key verifies signed lane headers (nil: none accepted).
func NewEntry(in *Input, lanes []*Resolved, key []byte) *Entry {
	e := &Entry{key: key}
	seen := map[string]bool{}
	for _, l := range lanes {
		s := l.Spec
		if !seen[s.Propagation.Header] {
			seen[s.Propagation.Header] = true
			e.headers = append(e.headers, s.Propagation.Header)
		}
		st := in.StateOf(l)
		if st.Phase != Active {
			continue
		}
		el := entryLane{name: l.Name, header: s.Propagation.Header, baggage: s.Propagates(v1alpha1.PropagateBaggage),
			identity: s.Entry.Identity, users: map[string]bool{}, tenants: map[string]bool{}}
		for _, h := range s.Entry.Headers {
			el.headers = append(el.headers, newMatcher(h.Name, h.Exact, h.Prefix, h.Regex))
		}
		for _, c := range s.Entry.Cookies {
			el.cookies = append(el.cookies, newMatcher(c.Name, c.Exact, "", c.Regex))
		}
		if w := s.Entry.Whitelist; w != nil {
			for _, u := range w.Users {
				el.users[u] = true
			}
			for _, t := range w.Tenants {
				el.tenants[t] = true
			}
			el.gate = w.Gate
		}
		if p := s.Entry.Percentage; p != nil || l.Spec.Plan != nil {
			el.pct, el.weight, el.anon = true, st.Weight, st.Weight
			if p != nil && p.AnonymousWeight != nil && l.Spec.Plan == nil {
				el.anon = *p.AnonymousWeight
			}
			el.ranks = bucket.LaneRanks(l.Name)
		}
		e.lanes = append(e.lanes, el)
	}
	return e
}

// Empty reports whether no lane exists (the edge has nothing to do).
func (e *Entry) Empty() bool { return e == nil || len(e.headers) == 0 }

// Apply decides the lane of an edge request and rewrites its headers:
// lane headers from outside are removed (a validly signed one decides the
// lane), then the lane header (and the baggage member, when the lane
// propagates by baggage) is set for the lane entered. rnd is a uniform
// draw in [0,1) for anonymous requests; whitelist may be nil.
func (e *Entry) Apply(h http.Header, rnd float64, whitelist Whitelist, now time.Time) Decision {
	if e.Empty() {
		return Decision{Reason: "none", Bucket: -1}
	}
	signed := e.strip(h, now)
	d := e.decide(h, signed, rnd, whitelist)
	if d.Lane != "" {
		for _, l := range e.lanes {
			if l.name == d.Lane {
				h.Set(l.header, l.name)
				if l.baggage {
					addBaggage(h, l.header, l.name)
				}
			}
		}
	}
	return d
}

// strip removes lane headers and lane baggage members, returning the lane
// of a validly signed header, if any.
func (e *Entry) strip(h http.Header, now time.Time) string {
	signed := ""
	for _, name := range e.headers {
		for _, v := range h.Values(name) {
			if lane, ok := Verify(e.key, v, now); ok && signed == "" && e.active(lane) {
				signed = lane
			}
		}
		h.Del(name)
	}
	if vs := h.Values("Baggage"); len(vs) > 0 {
		kept := vs[:0:0]
		for _, v := range vs {
			if v = dropBaggage(v, e.headers); v != "" {
				kept = append(kept, v)
			}
		}
		h["Baggage"] = kept
		if len(kept) == 0 {
			h.Del("Baggage")
		}
	}
	return signed
}

func (e *Entry) active(lane string) bool {
	for _, l := range e.lanes {
		if l.name == lane {
			return true
		}
	}
	return false
}

func (e *Entry) decide(h http.Header, signed string, rnd float64, whitelist Whitelist) Decision {
	d := Decision{Bucket: -1, Reason: "none"}
	if signed != "" {
		d.Lane, d.Reason = signed, "signed"
		return d
	}
	for _, l := range e.lanes {
		for _, m := range l.headers {
			if vs := h.Values(m.name); len(vs) > 0 && m.match(vs[0]) {
				return Decision{Lane: l.name, Reason: "header", Bucket: -1}
			}
		}
	}
	var cookies []*http.Cookie
	for _, l := range e.lanes {
		if len(l.cookies) > 0 && cookies == nil {
			cookies = parseCookies(h)
		}
		for _, m := range l.cookies {
			for _, c := range cookies {
				if c.Name == m.name && m.match(c.Value) {
					return Decision{Lane: l.name, Reason: "cookie", Bucket: -1}
				}
			}
		}
	}
	return e.byIdentity(h, rnd, whitelist)
}

// byIdentity applies the whitelists, then the percentages.
func (e *Entry) byIdentity(h http.Header, rnd float64, whitelist Whitelist) Decision {
	d := Decision{Bucket: -1, Reason: "none"}
	var cookies []*http.Cookie
	ids := func(l *entryLane) (user, tenant string) {
		user = h.Get(l.identity.UserHeader)
		if user == "" && l.identity.UserCookie != "" {
			if cookies == nil {
				cookies = parseCookies(h)
			}
			for _, c := range cookies {
				if c.Name == l.identity.UserCookie {
					user = c.Value
				}
			}
		}
		return user, h.Get(l.identity.TenantHeader)
	}
	for i := range e.lanes {
		l := &e.lanes[i]
		user, tenant := ids(l)
		if (user != "" && l.users[user]) || (tenant != "" && l.tenants[tenant]) {
			return Decision{Lane: l.name, Reason: "whitelist", Bucket: -1}
		}
		if l.gate != "" && whitelist != nil && (user != "" || tenant != "") {
			if lane, ok := whitelist(l.gate, user, tenant); ok && lane == l.name {
				return Decision{Lane: l.name, Reason: "whitelist", Bucket: -1}
			}
		}
	}
	for i := range e.lanes {
		l := &e.lanes[i]
		if !l.pct {
			continue
		}
		user, _ := ids(l)
		if user == "" {
			if rnd*100 < float64(l.anon) {
				return Decision{Lane: l.name, Reason: "anonymous", Bucket: -1}
			}
			continue
		}
		b := bucket.Of(user)
		d.Bucket = b
		if int32(l.ranks[b]) < l.weight {
			return Decision{Lane: l.name, Reason: "percentage", Bucket: b}
		}
	}
	return d
}

func parseCookies(h http.Header) []*http.Cookie {
	var out []*http.Cookie
	for _, line := range h.Values("Cookie") {
		cs, err := http.ParseCookie(line)
		if err == nil {
			out = append(out, cs...)
		}
	}
	if out == nil {
		out = []*http.Cookie{}
	}
	return out
}

// dropBaggage removes the list members whose key is one of keys.
func dropBaggage(v string, keys []string) string {
	members := strings.Split(v, ",")
	kept := members[:0]
	for _, m := range members {
		k, _, _ := strings.Cut(m, "=")
		k = strings.TrimSpace(k)
		drop := false
		for _, key := range keys {
			if k == key {
				drop = true
			}
		}
		if !drop && strings.TrimSpace(m) != "" {
			kept = append(kept, m)
		}
	}
	return strings.Join(kept, ",")
}

func addBaggage(h http.Header, key, lane string) {
	member := key + "=" + lane
	if v := h.Get("Baggage"); v != "" {
		h.Set("Baggage", v+","+member)
		return
	}
	h.Set("Baggage", member)
}

package lane

import (
	"net/http"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/bucket"
	"github.com/graylane/graylane/internal/signed"
)

// Entry decides at the edge which lane a request enters. It is built once
// per configuration and used concurrently.
type Entry struct {
	lanes       []entryLane
	key         []byte
	headers     []string // every lane header name (canonical), to strip
	baggageKeys []string // the same names as baggage keys (as written)
}

type entryLane struct {
	name       string
	header     string // canonical
	baggageKey string // the header name as written
	baggage    bool
	headers    []matcher // by header name
	cookies    []matcher // by cookie name
	identity   v1alpha1.Identity
	users      map[string]bool
	tenants    map[string]bool
	gate       string
	pct        bool
	weight     int32
	anon       int32
	ranks      [bucket.N]uint8
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
	// Bucket is the user's bucket, or the anonymous client's from its
	// bucket cookie (-1 when there is neither).
	Bucket int `json:"bucket"`
	// SetCookie, when set, is a Set-Cookie header value the edge adds to
	// the response: a new anonymous client's signed bucket.
	SetCookie string `json:"setCookie,omitempty"`
}

// Anonymous clients' sticky buckets, when the edge has a lane key.
const (
	// BucketCookie names the signed bucket cookie of anonymous clients
	// (not the gate's graylane-bucket, which is bound to a user id).
	BucketCookie = "graylane-anon-bucket"
	// BucketCookieAge is how long it is valid.
	BucketCookieAge = 30 * 24 * time.Hour
	bucketKind      = "graylane-bucket-v1"
)

// Whitelist asks an outside whitelist (the gate) for a user's or tenant's
// lane. ok is false when the gate names no lane for them.
type Whitelist func(gate, user, tenant string) (lane string, ok bool)

// NewEntry builds the entry for the Active lanes (states as Compile used
// them); key verifies signed lane headers (nil: none accepted).
//
// Header names are kept in canonical form, so that reading them on every
// request does not canonicalize (and allocate) again.
func NewEntry(in *Input, lanes []*Resolved, key []byte) *Entry {
	e := &Entry{key: key}
	seen := map[string]bool{}
	for _, l := range lanes {
		s := l.Spec
		laneHeader := textproto.CanonicalMIMEHeaderKey(s.Propagation.Header)
		if !seen[laneHeader] {
			seen[laneHeader] = true
			e.headers = append(e.headers, laneHeader)
			e.baggageKeys = append(e.baggageKeys, s.Propagation.Header)
		}
		st := in.StateOf(l)
		if st.Phase != Active {
			continue
		}
		el := entryLane{name: l.Name, header: laneHeader, baggageKey: s.Propagation.Header, baggage: s.Propagates(v1alpha1.PropagateBaggage),
			identity: s.Entry.Identity, users: map[string]bool{}, tenants: map[string]bool{}}
		el.identity.UserHeader = textproto.CanonicalMIMEHeaderKey(el.identity.UserHeader)
		el.identity.TenantHeader = textproto.CanonicalMIMEHeaderKey(el.identity.TenantHeader)
		for _, h := range s.Entry.Headers {
			el.headers = append(el.headers, newMatcher(textproto.CanonicalMIMEHeaderKey(h.Name), h.Exact, h.Prefix, h.Regex))
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
	signedLane := e.strip(h, now)
	d := e.decide(h, signedLane, rnd, whitelist, now)
	if d.Lane != "" {
		for _, l := range e.lanes {
			if l.name == d.Lane {
				h.Set(l.header, l.name)
				if l.baggage {
					addBaggage(h, l.baggageKey, l.name)
				}
			}
		}
	}
	return d
}

// strip removes lane headers and lane baggage members, returning the lane
// of a validly signed header, if any.
func (e *Entry) strip(h http.Header, now time.Time) string {
	found := ""
	for _, name := range e.headers {
		for _, v := range h.Values(name) {
			if lane, ok := Verify(e.key, v, now); ok && found == "" && e.active(lane) {
				found = lane
			}
		}
		h.Del(name)
	}
	if vs := h.Values("Baggage"); len(vs) > 0 {
		kept := vs[:0:0]
		for _, v := range vs {
			if v = dropBaggage(v, e.baggageKeys); v != "" {
				kept = append(kept, v)
			}
		}
		h["Baggage"] = kept
		if len(kept) == 0 {
			h.Del("Baggage")
		}
	}
	return found
}

func (e *Entry) active(lane string) bool {
	for _, l := range e.lanes {
		if l.name == lane {
			return true
		}
	}
	return false
}

func (e *Entry) decide(h http.Header, signedLane string, rnd float64, whitelist Whitelist, now time.Time) Decision {
	d := Decision{Bucket: -1, Reason: "none"}
	if signedLane != "" {
		d.Lane, d.Reason = signedLane, "signed"
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
	return e.byIdentity(h, rnd, whitelist, now)
}

type anonBucket struct {
	bucket    int // -1: none (no lane key)
	setCookie string
}

// anonymousBucket is an anonymous client's sticky bucket: from its signed
// bucket cookie, or, when it has none, a new one drawn from rnd that the
// response sets. Without a lane key there is none.
func (e *Entry) anonymousBucket(h http.Header, rnd float64, now time.Time) anonBucket {
	if len(e.key) == 0 {
		return anonBucket{bucket: -1}
	}
	for _, c := range parseCookies(h) {
		if c.Name != BucketCookie {
			continue
		}
		if v, ok := signed.Verify(e.key, bucketKind, c.Value, "", now); ok {
			if b, err := strconv.Atoi(v); err == nil && b >= 0 && b < bucket.N && strconv.Itoa(b) == v {
				return anonBucket{bucket: b}
			}
		}
	}
	b := min(int(rnd*bucket.N), bucket.N-1)
	c := &http.Cookie{Name: BucketCookie, Value: signed.Value(e.key, bucketKind, strconv.Itoa(b), "", now.Add(BucketCookieAge)),
		Path: "/", MaxAge: int(BucketCookieAge / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode}
	return anonBucket{bucket: b, setCookie: c.String()}
}

// byIdentity applies the whitelists, then the percentages.
func (e *Entry) byIdentity(h http.Header, rnd float64, whitelist Whitelist, now time.Time) Decision {
	d := Decision{Bucket: -1, Reason: "none"}
	// An anonymous client's bucket is read (or drawn and signed) only
	// when a percentage rule needs it.
	var anon *anonBucket
	anonymous := func() anonBucket {
		if anon == nil {
			a := e.anonymousBucket(h, rnd, now)
			anon = &a
		}
		return *anon
	}
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
			switch anon := anonymous(); {
			case anon.bucket >= 0:
				// Sticky: the client's own bucket, in this lane's order.
				d.Bucket, d.SetCookie = anon.bucket, anon.setCookie
				if int32(l.ranks[anon.bucket]) < l.anon {
					return Decision{Lane: l.name, Reason: "anonymous", Bucket: anon.bucket, SetCookie: anon.setCookie}
				}
			case rnd*100 < float64(l.anon):
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

// Package decide is Graylane's one lane decision engine. Given the entry
// rules of a set of lanes, a request and the whitelist snapshots those
// lanes consult, it says which lane the request enters, why, and what to
// set on the response. The edge of `graylane up` (internal/lane) and the
// gate's /v1/decide, login hook and ext_authz check (internal/gate) all
// call it, so they agree by construction.
//
// It is pure: no I/O, no clock, no randomness; the time and a random draw
// are inputs.
package decide

import (
	"fmt"
	"net/http"
	"net/textproto"
	"time"

	"github.com/graylane/graylane/internal/bucket"
)

// Reasons: why a decision was made. One vocabulary for the edge and the
// gate, in the order the rules are tried.
const (
	// ReasonSigned: a lane header signed with the lane key (QA, pipelines).
	ReasonSigned = "signed"
	// ReasonHeader: a header rule of the lane matched.
	ReasonHeader = "header"
	// ReasonCookie: a cookie rule of the lane matched.
	ReasonCookie = "cookie"
	// ReasonWhitelist: a whitelist entry of the user or tenant (inline in
	// the lane or in a gate's whitelist) put the caller in the lane, or
	// pinned them out of the lanes that consult that whitelist.
	ReasonWhitelist = "whitelist"
	// ReasonPercentage: the user's sticky bucket is within the lane's
	// weight.
	ReasonPercentage = "percentage"
	// ReasonAnonymous: a client without a user id entered by the lane's
	// anonymous weight.
	ReasonAnonymous = "anonymous"
	// ReasonNone: no rule admitted the request.
	ReasonNone = "none"
)

// Sources: what identified the caller, finer than the reason.
const (
	SourceHeader    = "header"    // signed: a signed lane header
	SourceRule      = "rule"      // header or cookie: the request matched a rule
	SourceUser      = "user"      // whitelist: an entry of the user id
	SourceTenant    = "tenant"    // whitelist: an entry of the tenant id
	SourceHash      = "hash"      // the user's bucket from the hash of the user id
	SourceCookie    = "cookie"    // the bucket from a signed bucket cookie
	SourceDraw      = "draw"      // anonymous: a draw for this one request (no lane key)
	SourceAnonymous = "anonymous" // none: no user id and no bucket
)

// Rules are the entry rules of a set of lanes.
type Rules struct {
	// Lanes are tried in this order within each kind of rule; callers
	// order them by name.
	Lanes []Lane
	// Identity says where the caller's ids are read for lanes that do not
	// say (and for decisions without lanes).
	Identity Identity
	// LaneKey verifies signed lane header values (nil: none accepted) and
	// signs anonymous clients' bucket cookies.
	LaneKey []byte
	// AnonymousBuckets gives clients without a user id a sticky bucket:
	// a signed cookie (AnonymousCookie) drawn on their first request.
	// Needs LaneKey; without it anonymous clients are drawn per request.
	AnonymousBuckets bool
	// UserBucket, when its Key is set, lets a signed bucket cookie bound
	// to the user id (the gate's login-hook cookie) fix the user's bucket.
	UserBucket BucketCookie
}

// BucketCookie names a signed bucket cookie and its key.
type BucketCookie struct {
	Name string
	Key  []byte
}

// Lane is one lane's entry rules.
type Lane struct {
	// Name is the lane name (the lane header's value).
	Name string
	// Headers: a request whose header matches any of these enters.
	Headers []Match
	// Cookies: a request with a cookie whose value matches enters.
	Cookies []Match
	// Identity overrides Rules.Identity when any field is set.
	Identity Identity
	// Users and Tenants always enter (an inline whitelist).
	Users, Tenants []string
	// Whitelist names the whitelist snapshot the lane consults ("" none):
	// an entry naming this lane admits; an entry naming anything else
	// keeps the caller out of this lane.
	Whitelist string
	// Percentage, when set, lets a share of users and anonymous clients
	// in by their sticky bucket.
	Percentage *Percentage
}

// Percentage is a lane's share of users (Weight) and of clients without a
// user id (Anonymous), 0..100 each.
type Percentage struct {
	Weight, Anonymous int
}

// Match matches a header or cookie by name: its value equals Exact, starts
// with Prefix, or matches Regex (RE2, the whole value); with none of the
// three, presence matches.
type Match struct {
	Name                 string
	Exact, Prefix, Regex string
}

// Identity says where a caller's ids are read. Empty fields are not read.
type Identity struct {
	UserHeader string // header carrying the user id
	// JWTClaim is the claim of the verified JWT payload in
	// JWTPayloadHeader (base64url JSON, Istio's outputPayloadToHeader)
	// carrying the user id, read when the user header is absent.
	JWTClaim, JWTPayloadHeader string
	UserCookie                 string // cookie carrying the user id, read last
	TenantHeader               string // header carrying the tenant id
}

func (id Identity) zero() bool { return id == Identity{} }

// IDs are a caller's ids given directly.
type IDs struct {
	User, Tenant string
}

// Request is what the engine knows of one request.
type Request struct {
	// Header is read by header and cookie rules and for the ids and
	// bucket cookies. The edge has removed lane headers sent from
	// outside: they count only as LaneValues.
	Header http.Header
	// LaneValues are the lane header values the client sent: one signed
	// with the lane key for one of the lanes decides.
	LaneValues []string
	// IDs, when set, are the caller's ids (the gate's API); the lanes'
	// identity sources are not read.
	IDs *IDs
	// Draw is uniform in [0,1): an anonymous client's draw (or its new
	// bucket, with AnonymousBuckets).
	Draw float64
}

// Decision is where a request goes and why.
type Decision struct {
	// Lane is the lane entered, "" for none.
	Lane string `json:"lane"`
	// Reason is one of the Reason constants.
	Reason string `json:"reason"`
	// Source is one of the Source constants.
	Source string `json:"source"`
	// Bucket is the caller's bucket 0..99 when the decision read it (the
	// user's, or an anonymous client's from its cookie), -1 otherwise.
	Bucket int `json:"bucket"`
	// SetCookie, when set, is a Set-Cookie header value for the response:
	// a new anonymous client's signed bucket.
	SetCookie string `json:"setCookie,omitempty"`
}

// Whitelists returns the current snapshot of a named whitelist, nil when
// none is known (yet): then it admits nobody and pins nobody.
type Whitelists func(name string) *Whitelist

// Engine decides. Build it with New; it is immutable and safe for
// concurrent use.
type Engine struct {
	lanes       []lane
	idents      []identity // distinct identity sources; lane.ident indexes it
	byName      map[string]int
	laneKey     []byte
	anonBuckets bool
	userBucket  BucketCookie
	// rules of the kinds, to skip whole steps
	anyHeader, anyCookie, anyList, anyWhitelist, anyPct bool
}

type lane struct {
	name             string
	headers, cookies []matcher
	ident            int
	users, tenants   map[string]bool
	whitelist        string
	pct              bool
	weight, anon     int
	ranks            [bucket.N]uint8
}

type identity struct {
	userHeader, jwtHeader, tenantHeader string // canonical
	jwtClaim, userCookie                string
}

// New compiles rules. An invalid regex is an error naming the lane and
// the rule.
func New(r Rules) (*Engine, error) {
	e := &Engine{byName: make(map[string]int, len(r.Lanes)), laneKey: r.LaneKey, userBucket: r.UserBucket,
		anonBuckets: r.AnonymousBuckets && len(r.LaneKey) > 0}
	e.identOf(r.Identity)
	for i, l := range r.Lanes {
		el := lane{name: l.Name, whitelist: l.Whitelist}
		for j, m := range l.Headers {
			cm, err := compileMatch(textproto.CanonicalMIMEHeaderKey(m.Name), m)
			if err != nil {
				return nil, fmt.Errorf("lane %s: headers[%d]: %w", l.Name, j, err)
			}
			el.headers = append(el.headers, cm)
		}
		for j, m := range l.Cookies {
			cm, err := compileMatch(m.Name, m)
			if err != nil {
				return nil, fmt.Errorf("lane %s: cookies[%d]: %w", l.Name, j, err)
			}
			el.cookies = append(el.cookies, cm)
		}
		id := l.Identity
		if id.zero() {
			id = r.Identity
		}
		el.ident = e.identOf(id)
		el.users, el.tenants = set(l.Users), set(l.Tenants)
		if p := l.Percentage; p != nil {
			el.pct, el.weight, el.anon = true, p.Weight, p.Anonymous
			el.ranks = bucket.LaneRanks(l.Name)
		}
		if _, dup := e.byName[l.Name]; !dup {
			e.byName[l.Name] = i
		}
		e.anyHeader = e.anyHeader || len(el.headers) > 0
		e.anyCookie = e.anyCookie || len(el.cookies) > 0
		e.anyList = e.anyList || len(el.users)+len(el.tenants) > 0
		e.anyWhitelist = e.anyWhitelist || el.whitelist != ""
		e.anyPct = e.anyPct || el.pct
		e.lanes = append(e.lanes, el)
	}
	return e, nil
}

func set(ids []string) map[string]bool {
	if len(ids) == 0 {
		return nil
	}
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// identOf returns the index of an identity source, adding it if new.
func (e *Engine) identOf(id Identity) int {
	jwt := id.JWTPayloadHeader
	if id.JWTClaim == "" {
		jwt = ""
	}
	ci := identity{userHeader: canonical(id.UserHeader), jwtHeader: canonical(jwt), tenantHeader: canonical(id.TenantHeader),
		jwtClaim: id.JWTClaim, userCookie: id.UserCookie}
	if ci.jwtHeader == "" {
		ci.jwtClaim = ""
	}
	for i, x := range e.idents {
		if x == ci {
			return i
		}
	}
	e.idents = append(e.idents, ci)
	return len(e.idents) - 1
}

func canonical(name string) string {
	if name == "" {
		return ""
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

// Lanes returns the lane names in rule order.
func (e *Engine) Lanes() []string {
	out := make([]string, len(e.lanes))
	for i := range e.lanes {
		out[i] = e.lanes[i].name
	}
	return out
}

// Has reports whether name is one of the lanes.
func (e *Engine) Has(name string) bool {
	_, ok := e.byName[name]
	return ok
}

// LaneOfBucket is the lane the percentage rules give a user with bucket
// b when no earlier rule decides, "" for none.
func (e *Engine) LaneOfBucket(b int) string {
	for i := range e.lanes {
		if l := &e.lanes[i]; l.pct && int(l.ranks[b]) < l.weight {
			return l.name
		}
	}
	return ""
}

// Decide returns the lane of a request. The rules are tried in this
// order, lanes in rule order within each, and the first that admits
// decides:
//
//  1. signed: a lane value signed with the lane key for one of the lanes;
//  2. header rules, then 3. cookie rules;
//  4. whitelists: the user's entries (inline lists, then the whitelist
//     snapshots), then the tenant's. A snapshot entry naming another lane
//     (or base) keeps the caller out of the lanes consulting it;
//  5. percentage: the user's bucket (a valid signed bucket cookie, else the
//     hash of the user id) against each lane's weight; without a user id,
//     the anonymous client's bucket (or draw) against the anonymous weight;
//  6. none.
func (e *Engine) Decide(req Request, wl Whitelists, now time.Time) Decision {
	if len(req.LaneValues) > 0 && len(e.laneKey) > 0 {
		for _, v := range req.LaneValues {
			if name, ok := VerifyLane(e.laneKey, v, now); ok && e.Has(name) {
				return Decision{Lane: name, Reason: ReasonSigned, Source: SourceHeader, Bucket: -1}
			}
		}
	}
	c := call{e: e, req: req, now: now, wl: wl}
	if e.anyHeader {
		if d, ok := c.headerRules(); ok {
			return d
		}
	}
	if e.anyCookie {
		if d, ok := c.cookieRules(); ok {
			return d
		}
	}
	if d, ok := c.whitelists(); ok {
		return d
	}
	return c.percentages()
}

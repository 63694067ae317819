package decide

import (
	"strconv"
	"strings"
	"time"

	"github.com/graylane/graylane/internal/bucket"
	"github.com/graylane/graylane/internal/signed"
)

// call is the state of one decision: what has been read of the request so
// far (ids, cookies, buckets), so that nothing is read twice.
//
// It lives on the stack: no field points into the call itself.
type call struct {
	e   *Engine
	req Request
	now time.Time
	wl  Whitelists

	cookies     []cookie
	cookiesRead bool
	ids         [2]ids // by identity source; idsMore for more sources
	idsMore     []ids
	excluded    []bool // lanes a whitelist entry pinned the caller out of
	pinSource   string // SourceUser or SourceTenant of the first pin
	pinIdent    int
	anon        anonBucket
	anonRead    bool
	wls         [2]namedWhitelist // whitelists asked for so far; wlsMore beyond
	nwls        int
	wlsMore     map[string]*Whitelist
}

type namedWhitelist struct {
	name string
	w    *Whitelist
}

// ids are the caller's ids from one identity source.
type ids struct {
	read         bool
	user, tenant string
	bucket       int // the user's bucket, -1 until computed
	bucketSource string
}

type anonBucket struct {
	bucket    int // -1: none (no lane key)
	setCookie string
}

func (c *call) headerRules() (Decision, bool) {
	h := c.req.Header
	for i := range c.e.lanes {
		l := &c.e.lanes[i]
		for j := range l.headers {
			m := &l.headers[j]
			vs := h[m.name]
			if len(vs) == 0 {
				continue
			}
			v := vs[0]
			if len(vs) > 1 {
				// Several values match as one, joined by commas, as
				// Envoy matches them.
				v = strings.Join(vs, ",")
			}
			if m.match(v) {
				return Decision{Lane: l.name, Reason: ReasonHeader, Source: SourceRule, Bucket: -1}, true
			}
		}
	}
	return Decision{}, false
}

func (c *call) cookieRules() (Decision, bool) {
	cookies := c.parsedCookies()
	if len(cookies) == 0 {
		return Decision{}, false
	}
	for i := range c.e.lanes {
		l := &c.e.lanes[i]
		for j := range l.cookies {
			m := &l.cookies[j]
			for _, ck := range cookies {
				if ck.name == m.name && m.match(ck.value) {
					return Decision{Lane: l.name, Reason: ReasonCookie, Source: SourceRule, Bucket: -1}, true
				}
			}
		}
	}
	return Decision{}, false
}

func (c *call) parsedCookies() []cookie {
	if !c.cookiesRead {
		c.cookiesRead = true
		if c.req.Header != nil {
			c.cookies = parseCookies(c.req.Header["Cookie"])
		}
	}
	return c.cookies
}

// cookie returns the value of the first cookie called name.
func (c *call) cookie(name string) string {
	for _, ck := range c.parsedCookies() {
		if ck.name == name {
			return ck.value
		}
	}
	return ""
}

// idsOf reads the caller's ids from identity source i (once).
func (c *call) idsOf(i int) *ids {
	var x *ids
	if i < len(c.ids) {
		x = &c.ids[i]
	} else {
		if c.idsMore == nil {
			c.idsMore = make([]ids, len(c.e.idents)-len(c.ids))
		}
		x = &c.idsMore[i-len(c.ids)]
	}
	if x.read {
		return x
	}
	x.read, x.bucket = true, -1
	if c.req.IDs != nil {
		x.user, x.tenant = cleanID(c.req.IDs.User), cleanID(c.req.IDs.Tenant)
		return x
	}
	id := &c.e.idents[i]
	h := c.req.Header
	if id.userHeader != "" {
		x.user = cleanID(first(h, id.userHeader))
	}
	if x.user == "" && id.jwtClaim != "" {
		x.user = cleanID(jwtClaim(first(h, id.jwtHeader), id.jwtClaim))
	}
	if x.user == "" && id.userCookie != "" {
		x.user = cleanID(c.cookie(id.userCookie))
	}
	if id.tenantHeader != "" {
		x.tenant = cleanID(first(h, id.tenantHeader))
	}
	return x
}

func first(h map[string][]string, name string) string {
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// userBucket is the user's bucket and where it came from: a valid signed
// bucket cookie for this user (when the rules verify them), else the
// hash of the user id. -1 without a user id.
func (c *call) userBucket(i int) (int, string) {
	x := c.idsOf(i)
	if x.user == "" {
		return -1, ""
	}
	if x.bucket >= 0 {
		return x.bucket, x.bucketSource
	}
	x.bucket, x.bucketSource = bucket.Of(x.user), SourceHash
	if ub := c.e.userBucket; len(ub.Key) > 0 && ub.Name != "" {
		for _, ck := range c.parsedCookies() {
			if ck.name != ub.Name {
				continue
			}
			if b, ok := verifyBucket(ub.Key, ck.value, x.user, c.now); ok {
				x.bucket, x.bucketSource = b, SourceCookie
				break
			}
		}
	}
	return x.bucket, x.bucketSource
}

// anonymous is an anonymous client's sticky bucket: from its signed bucket
// cookie, or, when it has none, a new one from the draw that the response
// sets. Without anonymous buckets there is none.
func (c *call) anonymous() anonBucket {
	if c.anonRead {
		return c.anon
	}
	c.anonRead = true
	c.anon = anonBucket{bucket: -1}
	if !c.e.anonBuckets {
		return c.anon
	}
	for _, ck := range c.parsedCookies() {
		if ck.name != AnonymousCookie {
			continue
		}
		if b, ok := verifyBucket(c.e.laneKey, ck.value, "", c.now); ok {
			c.anon.bucket = b
			return c.anon
		}
	}
	b := min(max(int(c.req.Draw*bucket.N), 0), bucket.N-1)
	c.anon = anonBucket{bucket: b, setCookie: AnonymousSetCookie(c.e.laneKey, b, c.now)}
	return c.anon
}

func verifyBucket(key []byte, value, user string, now time.Time) (int, bool) {
	v, ok := signed.Verify(key, bucketKind, value, user, now)
	if !ok {
		return -1, false
	}
	b, err := strconv.Atoi(v)
	if err != nil || b < 0 || b >= bucket.N || strconv.Itoa(b) != v {
		return -1, false
	}
	return b, true
}

// whitelist returns a named whitelist snapshot, asking wl once per name.
func (c *call) whitelist(name string) *Whitelist {
	if c.wl == nil {
		return nil
	}
	for i := range c.nwls {
		if c.wls[i].name == name {
			return c.wls[i].w
		}
	}
	if w, ok := c.wlsMore[name]; ok {
		return w
	}
	w := c.wl(name)
	if c.nwls < len(c.wls) {
		c.wls[c.nwls] = namedWhitelist{name, w}
		c.nwls++
	} else {
		if c.wlsMore == nil {
			c.wlsMore = map[string]*Whitelist{}
		}
		c.wlsMore[name] = w
	}
	return w
}

func (c *call) isExcluded(i int) bool { return c.excluded != nil && c.excluded[i] }

func (c *call) exclude(i int, source string, ident int) {
	if c.excluded == nil {
		c.excluded = make([]bool, len(c.e.lanes))
	}
	c.excluded[i] = true
	if c.pinSource == "" {
		c.pinSource, c.pinIdent = source, ident
	}
}

// whitelists applies the whitelist rules: every lane's entries of the
// user (inline, then snapshots), then of the tenant. An entry of the user
// beats one of the tenant: a lane the user's entry pinned the caller out
// of is not admitted by the tenant's.
func (c *call) whitelists() (Decision, bool) {
	e := c.e
	if !e.anyList && !e.anyWhitelist {
		return Decision{}, false
	}
	for _, kind := range [2]string{SourceUser, SourceTenant} {
		if e.anyList {
			for i := range e.lanes {
				l := &e.lanes[i]
				list := l.users
				if kind == SourceTenant {
					list = l.tenants
				}
				if list == nil || c.isExcluded(i) {
					continue
				}
				if id := c.id(l.ident, kind); id != "" && list[id] {
					return c.whitelisted(i, kind), true
				}
			}
		}
		if !e.anyWhitelist {
			continue
		}
		for i := range e.lanes {
			l := &e.lanes[i]
			if l.whitelist == "" || c.isExcluded(i) {
				continue
			}
			id := c.id(l.ident, kind)
			if id == "" {
				continue
			}
			pin, ok := c.whitelist(l.whitelist).lookup(kind, id, c.now)
			if !ok {
				continue
			}
			if pin == l.name {
				return c.whitelisted(i, kind), true
			}
			c.exclude(i, kind, l.ident)
		}
	}
	return Decision{}, false
}

func (c *call) id(ident int, kind string) string {
	x := c.idsOf(ident)
	if kind == SourceTenant {
		return x.tenant
	}
	return x.user
}

func (c *call) whitelisted(i int, kind string) Decision {
	l := &c.e.lanes[i]
	b, _ := c.userBucket(l.ident)
	return Decision{Lane: l.name, Reason: ReasonWhitelist, Source: kind, Bucket: b}
}

// percentages applies the percentage rules, and says none (or whitelist,
// for a caller a whitelist pinned out of lanes) when no lane admits.
func (c *call) percentages() Decision {
	none := Decision{Reason: ReasonNone, Source: SourceAnonymous, Bucket: -1}
	decided := false // none's bucket and source are set
	for i := range c.e.lanes {
		l := &c.e.lanes[i]
		if !l.pct || c.isExcluded(i) {
			continue
		}
		if b, src := c.userBucket(l.ident); b >= 0 {
			if int(l.ranks[b]) < l.weight {
				return Decision{Lane: l.name, Reason: ReasonPercentage, Source: src, Bucket: b}
			}
			if !decided {
				none.Bucket, none.Source, decided = b, src, true
			}
			continue
		}
		switch a := c.anonymous(); {
		case a.bucket >= 0:
			// Sticky: the client's own bucket, in this lane's order.
			if int(l.ranks[a.bucket]) < l.anon {
				return Decision{Lane: l.name, Reason: ReasonAnonymous, Source: SourceCookie, Bucket: a.bucket, SetCookie: a.setCookie}
			}
			if !decided {
				none.Bucket, none.Source, none.SetCookie, decided = a.bucket, SourceCookie, a.setCookie, true
			}
		case c.req.Draw*100 < float64(l.anon):
			return Decision{Lane: l.name, Reason: ReasonAnonymous, Source: SourceDraw, Bucket: -1}
		}
	}
	if c.pinSource != "" {
		b, _ := c.userBucket(c.pinIdent)
		if b < 0 {
			b = none.Bucket
		}
		return Decision{Reason: ReasonWhitelist, Source: c.pinSource, Bucket: b, SetCookie: none.SetCookie}
	}
	if !decided {
		ident := 0 // Rules.Identity, for rules without lanes
		if len(c.e.lanes) > 0 {
			ident = c.e.lanes[0].ident
		}
		if b, src := c.userBucket(ident); b >= 0 {
			none.Bucket, none.Source = b, src
		}
	}
	return none
}

package lane

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/decide"
)

// Entry decides at the edge which lane a request enters. It is built once
// per configuration and used concurrently. The decision itself is the
// engine of internal/decide, which the gate uses too; Entry adds what is
// the edge's own: removing lane headers sent from outside and setting the
// lane header (and baggage member) of the lane entered.
type Entry struct {
	engine      *decide.Engine
	lanes       []entryLane
	headers     []string // every lane header name (canonical), to strip
	baggageKeys []string // the same names as baggage keys (as written)
	whitelists  []string // gate URLs the active lanes consult
}

type entryLane struct {
	name       string
	header     string // canonical
	baggageKey string // the header name as written
	baggage    bool
}

// Decision is an entry decision (see decide.Decision for the reasons).
type Decision = decide.Decision

// Anonymous clients' sticky buckets, when the edge has a lane key.
const (
	// BucketCookie names the signed bucket cookie of anonymous clients
	// (not the gate's graylane-bucket, which is bound to a user id).
	BucketCookie = decide.AnonymousCookie
	// BucketCookieAge is how long it is valid.
	BucketCookieAge = decide.AnonymousCookieAge
)

// NewEntry builds the entry for the Active lanes (states as Compile used
// them); key verifies signed lane headers and signs anonymous clients'
// bucket cookies (nil: none). A lane whose whitelist names a gate consults
// the whitelist snapshot called by the gate's URL (see Apply).
func NewEntry(in *Input, lanes []*Resolved, key []byte) (*Entry, error) {
	e := &Entry{}
	seen := map[string]bool{}
	seenGate := map[string]bool{}
	rules := decide.Rules{LaneKey: key, AnonymousBuckets: len(key) > 0}
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
		e.lanes = append(e.lanes, entryLane{name: l.Name, header: laneHeader, baggageKey: s.Propagation.Header,
			baggage: s.Propagates(v1alpha1.PropagateBaggage)})
		dl := rulesOf(l, st)
		if dl.Whitelist != "" && !seenGate[dl.Whitelist] {
			seenGate[dl.Whitelist] = true
			e.whitelists = append(e.whitelists, dl.Whitelist)
		}
		rules.Lanes = append(rules.Lanes, dl)
	}
	engine, err := decide.New(rules)
	if err != nil {
		return nil, fmt.Errorf("lane entry: %w", err)
	}
	e.engine = engine
	return e, nil
}

// rulesOf is an active lane's entry as decision rules.
func rulesOf(l *Resolved, st State) decide.Lane {
	s := l.Spec.Entry
	dl := decide.Lane{Name: l.Name, Identity: decide.Identity{UserHeader: s.Identity.UserHeader,
		UserCookie: s.Identity.UserCookie, TenantHeader: s.Identity.TenantHeader}}
	for _, h := range s.Headers {
		dl.Headers = append(dl.Headers, decide.Match{Name: h.Name, Exact: h.Exact, Prefix: h.Prefix, Regex: h.Regex})
	}
	for _, c := range s.Cookies {
		dl.Cookies = append(dl.Cookies, decide.Match{Name: c.Name, Exact: c.Exact, Regex: c.Regex})
	}
	if w := s.Whitelist; w != nil {
		dl.Users, dl.Tenants, dl.Whitelist = w.Users, w.Tenants, w.Gate
	}
	if p := s.Percentage; p != nil || l.Spec.Plan != nil {
		anon := st.Weight
		if p != nil && p.AnonymousWeight != nil && l.Spec.Plan == nil {
			anon = *p.AnonymousWeight
		}
		dl.Percentage = &decide.Percentage{Weight: int(st.Weight), Anonymous: int(anon)}
	}
	return dl
}

// Empty reports whether no lane exists (the edge has nothing to do).
func (e *Entry) Empty() bool { return e == nil || len(e.headers) == 0 }

// Whitelists are the names (gate URLs) of the whitelist snapshots the
// active lanes consult.
func (e *Entry) Whitelists() []string {
	if e == nil {
		return nil
	}
	return e.whitelists
}

// Apply decides the lane of an edge request and rewrites its headers:
// lane headers from outside are removed (a validly signed one decides the
// lane), then the lane header (and the baggage member, when the lane
// propagates by baggage) is set for the lane entered. rnd is a uniform
// draw in [0,1) for anonymous requests; whitelists gives the current
// snapshot of a gate's whitelist by the gate's URL (nil: none known). It
// does no I/O.
func (e *Entry) Apply(h http.Header, rnd float64, whitelists decide.Whitelists, now time.Time) Decision {
	if e.Empty() {
		return Decision{Reason: decide.ReasonNone, Source: decide.SourceAnonymous, Bucket: -1}
	}
	sent := e.strip(h)
	d := e.engine.Decide(decide.Request{Header: h, LaneValues: sent, Draw: rnd}, whitelists, now)
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
// header values that were sent (a signed one may decide).
func (e *Entry) strip(h http.Header) []string {
	var sent []string
	for _, name := range e.headers {
		if vs, ok := h[name]; ok {
			sent = append(sent, vs...)
			delete(h, name)
		}
	}
	if vs := h["Baggage"]; len(vs) > 0 {
		kept := vs[:0:0]
		for _, v := range vs {
			if v = dropBaggage(v, e.baggageKeys); v != "" {
				kept = append(kept, v)
			}
		}
		h["Baggage"] = kept
		if len(kept) == 0 {
			delete(h, "Baggage")
		}
	}
	return sent
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

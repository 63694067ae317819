package gate

import (
	"time"

	"github.com/graylane/graylane/internal/bucket"
	"github.com/graylane/graylane/internal/gate/store"
)

// Reasons a decision gives.
const (
	ReasonWhitelist = "whitelist"
	ReasonBucket    = "bucket"
	ReasonBase      = "base"
	ReasonSigned    = "signed" // ext_authz: a signed lane header
)

// Sources of a decision, finer than the reason.
const (
	SourceUser      = "user"      // whitelist entry of the user
	SourceTenant    = "tenant"    // whitelist entry of the tenant
	SourceHash      = "hash"      // bucket from the user id hash
	SourceCookie    = "cookie"    // bucket from a valid signed bucket cookie
	SourceAnonymous = "anonymous" // no user id: base
	SourceHeader    = "header"    // a signed lane header (ext_authz)
)

// Identity is who is asking. Bucket >= 0 is a verified bucket from a signed
// cookie; -1 means: hash the user id.
type Identity struct {
	User   string
	Tenant string
	Bucket int
}

// Decision is the lane of a caller and why.
type Decision struct {
	Lane   string `json:"lane"`
	Reason string `json:"reason"`
	Source string `json:"source"`
	// Bucket is the user's bucket 0..99, or -1 without a user id.
	Bucket int `json:"bucket"`
}

// laneState is a lane of a snapshot with its bucket order.
type laneState struct {
	name   string
	weight int
	ranks  [bucket.N]uint8
}

// Snapshot is an immutable view of the store that decisions read. Build it
// with NewSnapshot; never modify it afterwards.
type Snapshot struct {
	Version  int64
	LoadedAt time.Time
	State    store.State

	lanes   []laneState // weight > 0, ordered by name
	known   map[string]int
	users   map[string]store.Entry
	tenants map[string]store.Entry
}

// NewSnapshot indexes a store state.
func NewSnapshot(st store.State, loadedAt time.Time) *Snapshot {
	s := &Snapshot{
		Version: st.Version, LoadedAt: loadedAt, State: st,
		known:   make(map[string]int, len(st.Lanes)+1),
		users:   make(map[string]store.Entry),
		tenants: make(map[string]store.Entry),
	}
	s.known[store.BaseLane] = 0
	for _, l := range st.Lanes { // the store orders them by name
		s.known[l.Name] = l.Weight
		if l.Weight > 0 {
			s.lanes = append(s.lanes, laneState{name: l.Name, weight: l.Weight, ranks: bucket.LaneRanks(l.Name)})
		}
	}
	for _, e := range st.Entries {
		if e.Kind == store.KindTenant {
			s.tenants[e.ID] = e
		} else {
			s.users[e.ID] = e
		}
	}
	return s
}

// KnownLane reports whether the lane exists (base always does).
func (s *Snapshot) KnownLane(name string) bool {
	_, ok := s.known[name]
	return ok
}

// Decide returns the caller's lane:
//
//  1. a live (unexpired) whitelist entry of the user, then of the tenant;
//  2. without a user id: base;
//  3. the user's bucket b (from a verified cookie, else bucket.Of(user)): the
//     first lane by name with weight > 0 whose lane bucket LaneRanks[b] is
//     below its weight;
//  4. base.
func (s *Snapshot) Decide(id Identity, now time.Time) Decision {
	if id.User != "" {
		if e, ok := s.users[id.User]; ok && live(e, now) {
			return Decision{Lane: e.Lane, Reason: ReasonWhitelist, Source: SourceUser, Bucket: s.bucketOf(id)}
		}
	}
	if id.Tenant != "" {
		if e, ok := s.tenants[id.Tenant]; ok && live(e, now) {
			return Decision{Lane: e.Lane, Reason: ReasonWhitelist, Source: SourceTenant, Bucket: s.bucketOf(id)}
		}
	}
	if id.User == "" {
		return Decision{Lane: store.BaseLane, Reason: ReasonBase, Source: SourceAnonymous, Bucket: -1}
	}
	src := SourceHash
	if id.Bucket >= 0 && id.Bucket < bucket.N {
		src = SourceCookie
	}
	b := s.bucketOf(id)
	for i := range s.lanes {
		l := &s.lanes[i]
		if int(l.ranks[b]) < l.weight {
			return Decision{Lane: l.name, Reason: ReasonBucket, Source: src, Bucket: b}
		}
	}
	return Decision{Lane: store.BaseLane, Reason: ReasonBase, Source: src, Bucket: b}
}

func (s *Snapshot) bucketOf(id Identity) int {
	if id.User == "" {
		return -1
	}
	if id.Bucket >= 0 && id.Bucket < bucket.N {
		return id.Bucket
	}
	return bucket.Of(id.User)
}

func live(e store.Entry, now time.Time) bool {
	return e.ExpiresAt == nil || now.Before(*e.ExpiresAt)
}

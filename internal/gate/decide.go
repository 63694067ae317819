package gate

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/graylane/graylane/internal/decide"
	"github.com/graylane/graylane/internal/gate/store"
	"github.com/graylane/graylane/internal/gateclient"
)

// whitelistName is the name the gate's own lanes consult its whitelist by.
const whitelistName = "gate"

// Snapshot is an immutable view of the store that decisions read. Build it
// with NewSnapshot; never modify it afterwards.
type Snapshot struct {
	Version  int64
	LoadedAt time.Time
	State    store.State

	engine    *decide.Engine
	whitelist *decide.Whitelist
	lookup    decide.Whitelists // s.whitelists, made once
	known     map[string]bool
	wire      func() []byte // the /v1/snapshot body, encoded once
}

// NewSnapshot indexes a store state for decisions. base holds the gate's
// identity sources, lane key and bucket cookie; every lane of the store
// becomes a lane of the rules that consults the store's whitelist and
// admits users by its weight (anonymous clients: none).
func NewSnapshot(st store.State, loadedAt time.Time, base decide.Rules) (*Snapshot, error) {
	s := &Snapshot{Version: st.Version, LoadedAt: loadedAt, State: st, known: map[string]bool{store.BaseLane: true}}
	rules := base
	rules.Lanes = nil
	for _, l := range st.Lanes { // the store orders them by name
		s.known[l.Name] = true
		rules.Lanes = append(rules.Lanes, decide.Lane{Name: l.Name, Whitelist: whitelistName, Percentage: &decide.Percentage{Weight: l.Weight}})
	}
	engine, err := decide.New(rules)
	if err != nil {
		return nil, fmt.Errorf("decision rules: %w", err)
	}
	s.engine = engine
	w := &decide.Whitelist{Version: st.Version, Users: map[string]decide.Pin{}, Tenants: map[string]decide.Pin{}}
	wire := gateclient.Snapshot{Version: st.Version, Entries: make([]gateclient.SnapshotEntry, 0, len(st.Entries))}
	for _, e := range st.Entries {
		p := decide.Pin{Lane: e.Lane}
		if e.ExpiresAt != nil {
			p.Until = *e.ExpiresAt
		}
		if e.Kind == store.KindTenant {
			w.Tenants[e.ID] = p
		} else {
			w.Users[e.ID] = p
		}
		wire.Entries = append(wire.Entries, gateclient.SnapshotEntry{Kind: string(e.Kind), ID: e.ID, Lane: e.Lane, ExpiresAt: e.ExpiresAt})
	}
	s.whitelist = w
	s.lookup = s.whitelists
	s.wire = sync.OnceValue(func() []byte {
		b, err := json.Marshal(wire)
		if err != nil { // plain strings and times: cannot happen
			return []byte(`{"version":` + fmt.Sprint(st.Version) + `,"entries":[]}`)
		}
		return b
	})
	return s, nil
}

// KnownLane reports whether the lane exists (base always does).
func (s *Snapshot) KnownLane(name string) bool { return s.known[name] }

func (s *Snapshot) whitelists(name string) *decide.Whitelist {
	if name == whitelistName {
		return s.whitelist
	}
	return nil
}

// Decide returns a caller's lane, with the engine every lane entry uses
// (internal/decide): a signed lane header, the whitelist entry of the user,
// then of the tenant, then the user's bucket against the lanes' weights.
// No lane is base.
func (s *Snapshot) Decide(req decide.Request, now time.Time) gateclient.Decision {
	return wireDecision(s.engine.Decide(req, s.lookup, now))
}

// DecideIDs returns the lane of a caller given by ids.
func (s *Snapshot) DecideIDs(user, tenant string, now time.Time) gateclient.Decision {
	return s.Decide(decide.Request{IDs: &decide.IDs{User: user, Tenant: tenant}}, now)
}

// LaneOfBucket is the lane of a user with bucket b whom no whitelist entry
// names.
func (s *Snapshot) LaneOfBucket(b int) string {
	if l := s.engine.LaneOfBucket(b); l != "" {
		return l
	}
	return store.BaseLane
}

func wireDecision(d decide.Decision) gateclient.Decision {
	lane := d.Lane
	if lane == "" {
		lane = store.BaseLane
	}
	return gateclient.Decision{Lane: lane, Reason: d.Reason, Source: d.Source, Bucket: d.Bucket}
}

package decide

import "time"

// Pin is a whitelist entry: the caller goes to Lane until Until (zero:
// no expiry). A lane name that no lane consulting the whitelist has (the
// gate's "base", for one) keeps the caller out of those lanes.
type Pin struct {
	Lane  string
	Until time.Time
}

// Whitelist is an immutable whitelist snapshot: the lanes of user ids and
// tenant ids. Build it completely, then share it; never modify it after.
type Whitelist struct {
	// Version is the change counter of the data (the gate's store).
	Version int64
	Users   map[string]Pin
	Tenants map[string]Pin
}

// lookup returns the lane of a live entry of the id.
func (w *Whitelist) lookup(kind, id string, now time.Time) (string, bool) {
	if w == nil {
		return "", false
	}
	m := w.Users
	if kind == SourceTenant {
		m = w.Tenants
	}
	p, ok := m[id]
	if !ok || !p.Until.IsZero() && !now.Before(p.Until) {
		return "", false
	}
	return p.Lane, true
}

// Len is the number of entries.
func (w *Whitelist) Len() int {
	if w == nil {
		return 0
	}
	return len(w.Users) + len(w.Tenants)
}

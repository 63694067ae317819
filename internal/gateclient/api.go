// Package gateclient is the thin client of a running `graylane gate`: the
// wire types of its HTTP API, an API client (the CLI's), and Follower,
// which keeps a gate's whitelist in memory as a snapshot refreshed in the
// background (the edge of `graylane up`). It links no SQL: the store stays
// in internal/gate.
package gateclient

import (
	"fmt"
	"strings"
	"time"
)

// BaseLane is the gate's implicit lane of everyone not in another lane.
const BaseLane = "base"

// Entry is one whitelist entry: callers with this user or tenant id go to
// Lane.
type Entry struct {
	Kind      string     `json:"kind"` // user or tenant
	ID        string     `json:"id"`
	Lane      string     `json:"lane"`
	Note      string     `json:"note,omitempty"`
	CreatedBy string     `json:"createdBy,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// EntryList is the answer of GET /v1/whitelist.
type EntryList struct {
	Version int64   `json:"version"`
	Items   []Entry `json:"items"`
}

// EntryRequest is the body of POST /v1/whitelist.
type EntryRequest struct {
	Kind      string     `json:"kind"`
	ID        string     `json:"id"`
	Lane      string     `json:"lane"`
	Note      string     `json:"note,omitempty"`
	CreatedBy string     `json:"createdBy,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// ImportResult is the answer of POST /v1/whitelist/import.
type ImportResult struct {
	Imported int   `json:"imported"`
	Version  int64 `json:"version"`
}

// LaneInfo is a lane in GET /v1/lanes. Share is the percentage of user ids
// the percentage rule sends to the lane: its weight, less the buckets an
// earlier lane (by name) already takes.
type LaneInfo struct {
	Name      string    `json:"name"`
	Weight    int       `json:"weight"`
	Share     int       `json:"share"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// LaneList is the answer of GET /v1/lanes.
type LaneList struct {
	Version int64      `json:"version"`
	Items   []LaneInfo `json:"items"`
}

// LaneRequest is the body of PUT /v1/lanes/{lane}.
type LaneRequest struct {
	Weight *int `json:"weight"`
}

// Decision is the answer of GET /v1/decide: the lane (base for none), the
// reason and source of internal/decide's vocabulary, and the bucket.
type Decision struct {
	Lane   string `json:"lane"`
	Reason string `json:"reason"`
	Source string `json:"source"`
	// Bucket is the user's bucket 0..99, or -1 without a user id.
	Bucket int `json:"bucket"`
}

// LoginRequest is the body of POST /v1/login-hook.
type LoginRequest struct {
	User   string `json:"user"`
	Tenant string `json:"tenant,omitempty"`
}

// LoginResponse is the decision and the Set-Cookie header values the auth
// center adds to its login response (they are also set on this response).
type LoginResponse struct {
	Decision
	SetCookie []string `json:"setCookie"`
}

// Snapshot is the answer of GET /v1/snapshot: the whitelist as lane entry
// needs it, at the store's change counter Version (also the ETag).
type Snapshot struct {
	Version int64           `json:"version"`
	Entries []SnapshotEntry `json:"entries"`
}

// SnapshotEntry is a whitelist entry in a snapshot.
type SnapshotEntry struct {
	Kind      string     `json:"kind"`
	ID        string     `json:"id"`
	Lane      string     `json:"lane"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// APIError is the body of every 4xx/5xx answer.
type APIError struct {
	Code    string      `json:"code"`
	Message string      `json:"message"`
	Lines   []LineError `json:"lines,omitempty"`
}

// LineError is a problem on one line of an imported CSV file.
type LineError struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// StatusError is a non-2xx answer of the gate.
type StatusError struct {
	Status int
	APIError
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "gate answered %d %s: %s", e.Status, e.Code, e.Message)
	for _, l := range e.Lines {
		fmt.Fprintf(&b, "\n  line %d: %s", l.Line, l.Message)
	}
	return b.String()
}

// BadInput reports whether the gate rejected the request itself (4xx).
func (e *StatusError) BadInput() bool { return e.Status >= 400 && e.Status < 500 }

package gateclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graylane/graylane/internal/decide"
)

// Snapshot fetches the gate's whitelist snapshot. have is the version the
// caller holds (-1 for none): when it is still current the answer is
// unchanged (changed false, HTTP 304). With wait > 0 the gate holds the
// request until its version differs from have or wait passes (a long
// poll), so a change reaches the caller as soon as the gate has it.
func (c *Client) Snapshot(ctx context.Context, have int64, wait time.Duration) (snap Snapshot, changed bool, err error) {
	path := "/v1/snapshot"
	if wait > 0 {
		path += "?wait=" + wait.String()
	}
	req, err := c.request(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return snap, false, err
	}
	if have >= 0 {
		req.Header.Set("If-None-Match", ETag(have))
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return snap, false, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		return snap, false, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return snap, false, fmt.Errorf("GET %s: read answer: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		return snap, false, statusError(resp, b)
	}
	if err := json.Unmarshal(b, &snap); err != nil {
		return snap, false, fmt.Errorf("GET %s: decode answer: %w", path, err)
	}
	return snap, snap.Version != have, nil
}

// ETag is the entity tag of a snapshot version.
func ETag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// ParseETag reads an If-None-Match value written by ETag (a weak W/ tag
// too); ok is false for anything else.
func ParseETag(v string) (int64, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
	if len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' {
		return 0, false
	}
	n, err := strconv.ParseInt(v[1:len(v)-1], 10, 64)
	return n, err == nil
}

// Whitelist turns a snapshot into the decision engine's form.
func (s Snapshot) Whitelist() *decide.Whitelist {
	w := &decide.Whitelist{Version: s.Version, Users: map[string]decide.Pin{}, Tenants: map[string]decide.Pin{}}
	for _, e := range s.Entries {
		p := decide.Pin{Lane: e.Lane}
		if e.ExpiresAt != nil {
			p.Until = *e.ExpiresAt
		}
		switch e.Kind {
		case "user":
			w.Users[e.ID] = p
		case "tenant":
			w.Tenants[e.ID] = p
		}
	}
	return w
}

// FollowerOptions tune a Follower; zero values take the defaults.
type FollowerOptions struct {
	// Wait is how long one long poll may be held by the gate (default
	// 20s; the gate caps it at 25s).
	Wait time.Duration
	// MinInterval separates the starts of two requests (default 200ms),
	// so a gate that answers at once is not asked in a tight loop.
	MinInterval time.Duration
	// Retry is the first delay after a failure (default 250ms), doubled
	// up to MaxRetry (default 5s).
	Retry, MaxRetry time.Duration
}

// Follower keeps a gate's whitelist in memory: Run refreshes it in the
// background by long polls of GET /v1/snapshot, and Whitelist reads it
// with no I/O. When the gate cannot be reached the last-known whitelist
// stays in use; the change is logged once, and once again on recovery.
type Follower struct {
	c   Client
	log *slog.Logger
	o   FollowerOptions
	cur atomic.Pointer[decide.Whitelist]

	mu sync.Mutex
	st FollowerStatus
}

// FollowerStatus says how current a Follower's whitelist is.
type FollowerStatus struct {
	Gate    string `json:"gate"`
	Loaded  bool   `json:"loaded"` // a snapshot has arrived
	Version int64  `json:"version"`
	Entries int    `json:"entries"`
	// Stale: the last refresh failed, decisions use the last-known
	// whitelist (none before the first snapshot: it admits nobody).
	Stale bool   `json:"stale"`
	Error string `json:"error,omitempty"`
	// Failures counts the refreshes that failed in a row.
	Failures int `json:"failures"`
	// Since is when the current state (fresh or stale) began.
	Since time.Time `json:"since"`
}

// NewFollower follows the gate at base; token is its bearer token.
func NewFollower(base, token string, log *slog.Logger, o FollowerOptions) *Follower {
	if o.Wait <= 0 {
		o.Wait = 20 * time.Second
	}
	if o.MinInterval <= 0 {
		o.MinInterval = 200 * time.Millisecond
	}
	if o.Retry <= 0 {
		o.Retry = 250 * time.Millisecond
	}
	if o.MaxRetry < o.Retry {
		o.MaxRetry = max(5*time.Second, o.Retry)
	}
	c := Client{Base: base, Token: token, HTTP: &http.Client{Timeout: o.Wait + 10*time.Second}}
	return &Follower{c: c, log: log, o: o, st: FollowerStatus{Gate: base, Since: time.Now()}}
}

// Whitelist is the last-known whitelist, nil before the first snapshot.
func (f *Follower) Whitelist() *decide.Whitelist { return f.cur.Load() }

// Status reports how current the whitelist is.
func (f *Follower) Status() FollowerStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

// Run refreshes the whitelist until ctx ends.
func (f *Follower) Run(ctx context.Context) {
	delay := f.o.Retry
	for ctx.Err() == nil {
		start := time.Now()
		have := int64(-1)
		if w := f.cur.Load(); w != nil {
			have = w.Version
		}
		snap, changed, err := f.c.Snapshot(ctx, have, f.o.Wait)
		if ctx.Err() != nil {
			return
		}
		if err == nil && !changed && have < 0 {
			err = fmt.Errorf("GET /v1/snapshot: 304 Not Modified without a snapshot to keep")
		}
		if err != nil {
			f.failed(err)
			if !sleep(ctx, delay) {
				return
			}
			delay = min(2*delay, f.o.MaxRetry)
			continue
		}
		delay = f.o.Retry
		if changed {
			w := snap.Whitelist()
			f.cur.Store(w)
			f.log.Info("gate whitelist loaded", "gate", f.c.Base, "version", w.Version, "entries", w.Len())
		}
		f.fresh()
		if !sleep(ctx, f.o.MinInterval-time.Since(start)) {
			return
		}
	}
}

func (f *Follower) failed(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.st.Stale {
		f.st.Stale, f.st.Since = true, time.Now()
		if w := f.cur.Load(); w != nil {
			f.log.Warn("gate unreachable: lane entry keeps the last-known whitelist", "gate", f.c.Base, "version", w.Version, "err", err)
		} else {
			f.log.Warn("gate unreachable: its whitelist admits nobody until a first snapshot arrives", "gate", f.c.Base, "err", err)
		}
	}
	f.st.Error = err.Error()
	f.st.Failures++
}

func (f *Follower) fresh() {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.cur.Load()
	if f.st.Stale {
		f.log.Info("gate reachable again", "gate", f.c.Base, "version", w.Version)
		f.st.Since = time.Now()
	} else if !f.st.Loaded {
		f.st.Since = time.Now()
	}
	f.st.Loaded, f.st.Stale, f.st.Error, f.st.Failures, f.st.Version, f.st.Entries = true, false, "", 0, w.Version, w.Len()
}

// sleep waits d (nothing when d <= 0); false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

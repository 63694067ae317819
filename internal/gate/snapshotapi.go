package gate

import (
	"fmt"
	"net/http"
	"time"

	"github.com/graylane/graylane/internal/gateclient"
)

// MaxSnapshotWait caps the wait of a long poll of GET /v1/snapshot.
const MaxSnapshotWait = 25 * time.Second

// getSnapshot serves the whitelist as a versioned snapshot, the store's
// change counter as its ETag. A request whose If-None-Match names the
// current version is answered 304; with ?wait=DURATION it is first held
// until the version changes (answered 200 at once, so a change reaches
// followers as soon as this replica has it) or the wait passes (304).
func (h *Handler) getSnapshot(w http.ResponseWriter, r *http.Request) {
	var wait time.Duration
	if q := r.URL.Query().Get("wait"); q != "" {
		d, err := time.ParseDuration(q)
		if err != nil || d < 0 {
			h.fail(w, badRequest("wait %q: want a duration such as 20s", q))
			return
		}
		wait = min(d, MaxSnapshotWait)
	}
	have, conditional := gateclient.ParseETag(r.Header.Get("If-None-Match"))
	var timeout <-chan time.Time
	for {
		s, changed, closing := h.snaps.next()
		if s == nil {
			writeError(w, http.StatusServiceUnavailable, "starting", "no snapshot loaded yet", nil)
			return
		}
		if !conditional || s.Version != have {
			w.Header().Set("ETag", gateclient.ETag(s.Version))
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-cache")
			body := s.wire()
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body)
			return
		}
		if timeout == nil && wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
			h.snaps.held.Add(1)
			defer h.snaps.held.Add(-1)
		}
		if timeout == nil {
			notModified(w, s.Version)
			return
		}
		select {
		case <-changed:
		case <-timeout:
			notModified(w, s.Version)
			return
		case <-closing:
			notModified(w, s.Version)
			return
		case <-r.Context().Done():
			return
		}
	}
}

func notModified(w http.ResponseWriter, version int64) {
	w.Header().Set("ETag", gateclient.ETag(version))
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusNotModified)
}

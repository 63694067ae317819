package gate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/graylane/graylane/internal/gate/store"
	"github.com/graylane/graylane/internal/gateclient"
)

// errBody is a request body problem: status and code to answer with.
type errBody struct {
	status int
	code   string
	msg    string
}

func (e *errBody) Error() string { return e.msg }

// decodeJSON reads one JSON object of at most MaxJSONBody bytes, unknown
// fields rejected.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &errBody{http.StatusBadRequest, "bad_request", "body: want exactly one JSON object"}
	}
	return nil
}

func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &errBody{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body larger than %d bytes", tooBig.Limit)}
	}
	if errors.Is(err, io.EOF) {
		return &errBody{http.StatusBadRequest, "bad_request", "body: empty, want a JSON object"}
	}
	return &errBody{http.StatusBadRequest, "bad_request", "body: " + err.Error()}
}

// fail answers an error from decoding, validation or the store.
func (h *Handler) fail(w http.ResponseWriter, err error) {
	var eb *errBody
	switch {
	case errors.As(err, &eb):
		writeError(w, eb.status, eb.code, eb.msg, nil)
	case errors.Is(err, store.ErrUnknownLane):
		writeError(w, http.StatusBadRequest, "unknown_lane", err.Error(), nil)
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error(), nil)
	case errors.Is(err, store.ErrLaneInUse):
		writeError(w, http.StatusConflict, "lane_in_use", err.Error(), nil)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "store did not answer in time", nil)
	default:
		h.log.Error("gate store operation failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "store unavailable: "+err.Error(), nil)
	}
}

func badRequest(format string, args ...any) error {
	return &errBody{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}

// snapshot returns the current snapshot or answers 503.
func (h *Handler) snapshot(w http.ResponseWriter) *Snapshot {
	s := h.snaps.Current()
	if s == nil {
		writeError(w, http.StatusServiceUnavailable, "starting", "no snapshot loaded yet", nil)
	}
	return s
}

// changed refreshes the snapshot after a write so this replica reads its
// own writes; other replicas poll.
func (h *Handler) changed(ctx context.Context) {
	if err := h.snaps.Refresh(ctx); err != nil {
		h.log.Warn("gate snapshot refresh after a change failed; the poller retries", "err", err)
	}
}

func storeCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}

// wrote records a store write's outcome in the gate's health.
func (h *Handler) wrote(ctx context.Context, err error) { h.snaps.Wrote(ctx, err) }

func (h *Handler) decide(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	user, tenant := q.Get("user"), q.Get("tenant")
	if user != "" {
		if err := ValidateID(user); err != nil {
			h.fail(w, badRequest("user: %v", err))
			return
		}
	}
	if tenant != "" {
		if err := ValidateID(tenant); err != nil {
			h.fail(w, badRequest("tenant: %v", err))
			return
		}
	}
	s := h.snapshot(w)
	if s == nil {
		return
	}
	d := s.DecideIDs(user, tenant, h.now())
	h.metrics.observeDecision(d)
	writeJSON(w, http.StatusOK, d)
}

// wireEntry is a store entry in the API's form.
func wireEntry(e store.Entry) gateclient.Entry {
	return gateclient.Entry{Kind: string(e.Kind), ID: e.ID, Lane: e.Lane, Note: e.Note, CreatedBy: e.CreatedBy, CreatedAt: e.CreatedAt, ExpiresAt: e.ExpiresAt}
}

func (h *Handler) listEntries(w http.ResponseWriter, r *http.Request) {
	s := h.snapshot(w)
	if s == nil {
		return
	}
	kind, lane := r.URL.Query().Get("kind"), r.URL.Query().Get("lane")
	if kind != "" {
		if _, err := ParseKind(kind); err != nil {
			h.fail(w, badRequest("%v", err))
			return
		}
	}
	out := gateclient.EntryList{Version: s.Version, Items: []gateclient.Entry{}}
	for _, e := range s.State.Entries {
		if (kind == "" || string(e.Kind) == kind) && (lane == "" || e.Lane == lane) {
			out.Items = append(out.Items, wireEntry(e))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) pathEntry(r *http.Request) (store.Kind, string, error) {
	kind, err := ParseKind(r.PathValue("kind"))
	if err != nil {
		return "", "", badRequest("%v", err)
	}
	id := r.PathValue("id")
	if err := ValidateID(id); err != nil {
		return "", "", badRequest("%v", err)
	}
	return kind, id, nil
}

func (h *Handler) getEntry(w http.ResponseWriter, r *http.Request) {
	kind, id, err := h.pathEntry(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	s := h.snapshot(w)
	if s == nil {
		return
	}
	for _, e := range s.State.Entries {
		if e.Kind == kind && e.ID == id {
			writeJSON(w, http.StatusOK, wireEntry(e))
			return
		}
	}
	h.fail(w, fmt.Errorf("whitelist entry %s %q: %w", kind, id, store.ErrNotFound))
}

func (h *Handler) putEntry(w http.ResponseWriter, r *http.Request) {
	var req gateclient.EntryRequest
	if err := decodeJSON(w, r, &req); err != nil {
		h.fail(w, err)
		return
	}
	s := h.snapshot(w)
	if s == nil {
		return
	}
	kind, err := ParseKind(req.Kind)
	if err != nil {
		h.fail(w, badRequest("%v", err))
		return
	}
	now := h.now()
	e := store.Entry{Kind: kind, ID: req.ID, Lane: req.Lane, Note: req.Note, CreatedBy: req.CreatedBy, CreatedAt: now.UTC().Truncate(time.Millisecond), ExpiresAt: req.ExpiresAt}
	if e.CreatedBy == "" {
		e.CreatedBy = "api"
	}
	if err := checkEntry(e, func(string) bool { return true }, now); err != nil {
		h.fail(w, badRequest("%v", err))
		return
	}
	if e.ExpiresAt != nil {
		t := e.ExpiresAt.UTC().Truncate(time.Millisecond)
		e.ExpiresAt = &t
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	created, err := h.store.PutEntry(ctx, e)
	h.wrote(ctx, err)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.changed(ctx)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, wireEntry(e))
}

func (h *Handler) importCSV(w http.ResponseWriter, r *http.Request) {
	s := h.snapshot(w)
	if s == nil {
		return
	}
	createdBy := r.URL.Query().Get("createdBy")
	if createdBy == "" {
		createdBy = "import"
	}
	if err := ValidateID(createdBy); err != nil {
		h.fail(w, badRequest("createdBy: %v", err))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxCSVBody))
	if err != nil {
		h.fail(w, bodyError(err))
		return
	}
	now := h.now()
	entries, lineErrs := ParseCSV(strings.NewReader(string(body)), s.KnownLane, createdBy, now.UTC().Truncate(time.Millisecond))
	if len(lineErrs) > 0 {
		writeError(w, http.StatusBadRequest, "invalid_csv",
			fmt.Sprintf("%d problem(s) in the CSV; nothing was imported", len(lineErrs)), lineErrs)
		return
	}
	if len(entries) == 0 {
		h.fail(w, badRequest("CSV has no entries"))
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	err = h.store.ImportEntries(ctx, entries)
	h.wrote(ctx, err)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.changed(ctx)
	writeJSON(w, http.StatusOK, gateclient.ImportResult{Imported: len(entries), Version: h.snaps.Current().Version})
}

func (h *Handler) deleteEntry(w http.ResponseWriter, r *http.Request) {
	kind, id, err := h.pathEntry(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	err = h.store.DeleteEntry(ctx, kind, id)
	h.wrote(ctx, err)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.changed(ctx)
	writeJSON(w, http.StatusOK, map[string]string{"deleted": string(kind) + "/" + id})
}

package gate

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/graylane/graylane/internal/decide"
	"github.com/graylane/graylane/internal/gateclient"
)

// Body limits.
const (
	MaxJSONBody = 1 << 20 // 1 MiB
	MaxCSVBody  = 8 << 20 // 8 MiB
	MaxCSVRows  = 100_000
)

// IdentityOptions are the identity sources of decisions at /authz/.
type IdentityOptions struct {
	UserHeader       string // header carrying the user id (default x-user-id; "" disables)
	TenantHeader     string // header carrying the tenant id (default x-tenant-id; "" disables)
	UserCookie       string // cookie carrying the user id ("" disables)
	JWTClaim         string // claim of the verified JWT payload carrying the user id ("" disables)
	JWTPayloadHeader string // header with the base64url JWT payload from Istio (default x-jwt-payload)
	LaneHeader       string // header set upstream by /authz/ (default x-graylane)
}

// decide is the identity as the decision engine reads it.
func (o IdentityOptions) decide() decide.Identity {
	return decide.Identity{UserHeader: o.UserHeader, TenantHeader: o.TenantHeader, UserCookie: o.UserCookie,
		JWTClaim: o.JWTClaim, JWTPayloadHeader: o.JWTPayloadHeader}
}

// Handler serves the gate's HTTP API.
type Handler struct {
	snaps      *Snapshots
	store      Store
	signer     *Signer
	metrics    *Metrics
	log        *slog.Logger
	id         IdentityOptions
	adminToken []byte
	laneKey    []byte
	openRead   bool
	now        func() time.Time
	mux        *http.ServeMux
}

// MinAdminTokenLen is the shortest admin token the gate accepts.
const MinAdminTokenLen = 16

func checkAdminToken(token string) error {
	if len(token) < MinAdminTokenLen {
		return fmt.Errorf("admin token: want at least %d characters, got %d", MinAdminTokenLen, len(token))
	}
	return nil
}

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	Identity   IdentityOptions
	AdminToken string
	// OpenRead serves the read-only endpoints (GET whitelist, lanes,
	// decide) without a token.
	OpenRead bool
	// LaneKey, when set, lets the ext_authz check accept lane headers
	// signed with it (`graylane lane sign`), as `graylane up` does.
	LaneKey []byte
	Now     func() time.Time // default time.Now
}

// withDefaults fills the defaults of the options.
func (o HandlerOptions) withDefaults() HandlerOptions {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Identity.JWTPayloadHeader == "" {
		o.Identity.JWTPayloadHeader = "x-jwt-payload"
	}
	if o.Identity.LaneHeader == "" {
		o.Identity.LaneHeader = "x-graylane"
	}
	return o
}

// NewHandler builds the HTTP API. store should be instrumented by metrics.
func NewHandler(snaps *Snapshots, st Store, signer *Signer, m *Metrics, log *slog.Logger, o HandlerOptions) (*Handler, error) {
	if err := checkAdminToken(o.AdminToken); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	h := &Handler{
		snaps: snaps, store: st, signer: signer, metrics: m, log: log, id: o.Identity,
		adminToken: []byte(o.AdminToken), laneKey: o.LaneKey, openRead: o.OpenRead, now: o.Now, mux: http.NewServeMux(),
	}
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	m.HandleFunc("GET /readyz", h.readyz)
	m.Handle("GET /metrics", promhttp.HandlerFor(h.metrics.Registry, promhttp.HandlerOpts{}))
	m.HandleFunc("/authz/", h.authz)
	m.HandleFunc("/authz", h.authz)

	m.HandleFunc("GET /v1/decide", h.read(h.decide))
	m.HandleFunc("GET /v1/whitelist", h.read(h.listEntries))
	m.HandleFunc("GET /v1/whitelist/{kind}/{id}", h.read(h.getEntry))
	m.HandleFunc("GET /v1/lanes", h.read(h.listLanes))
	m.HandleFunc("GET /v1/snapshot", h.read(h.getSnapshot))

	m.HandleFunc("POST /v1/whitelist", h.admin(h.putEntry))
	m.HandleFunc("POST /v1/whitelist/import", h.admin(h.importCSV))
	m.HandleFunc("DELETE /v1/whitelist/{kind}/{id}", h.admin(h.deleteEntry))
	m.HandleFunc("PUT /v1/lanes/{lane}", h.admin(h.setLane))
	m.HandleFunc("DELETE /v1/lanes/{lane}", h.admin(h.deleteLane))
	m.HandleFunc("POST /v1/login-hook", h.admin(h.loginHook))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path), nil)
	})
}

// ServeHTTP serves the API; a panic in a handler answers 500, never kills
// the process.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("gate handler panic", "path", r.URL.Path, "panic", v)
			writeError(w, http.StatusInternalServerError, "internal", "internal error", nil)
		}
	}()
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), h.adminToken) == 1
}

func (h *Handler) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="graylane-gate"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token", nil)
			return
		}
		next(w, r)
	}
}

func (h *Handler) read(next http.HandlerFunc) http.HandlerFunc {
	if h.openRead {
		return next
	}
	return h.admin(next)
}

// readyz says ready, degraded (200: the snapshot still serves; a 503 would
// take every replica out of the ext_authz cluster) or starting (503).
func (h *Handler) readyz(w http.ResponseWriter, _ *http.Request) {
	st := h.snaps.Status(h.now())
	body := map[string]any{"status": "ready", "version": st.Version, "snapshotAgeSeconds": st.Age.Seconds()}
	if st.Degraded {
		body["error"] = st.Error
		body["problems"] = st.Problems
	}
	switch {
	case !st.Ready:
		body["status"] = "starting"
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	case st.Degraded:
		body["status"] = "degraded"
	}
	writeJSON(w, http.StatusOK, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string, lines []gateclient.LineError) {
	writeJSON(w, status, map[string]gateclient.APIError{"error": {Code: code, Message: msg, Lines: lines}})
}

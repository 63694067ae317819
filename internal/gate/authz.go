package gate

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/graylane/graylane/internal/gate/store"
	"github.com/graylane/graylane/internal/lane"
)

// identity reads the caller from a request at /authz/: the user id from the
// user header, else the JWT claim, else the user cookie; the tenant id from
// the tenant header; a verified bucket cookie. An invalid id counts as
// absent: /authz/ always allows.
func (h *Handler) identity(r *http.Request, now time.Time) Identity {
	id := Identity{Bucket: -1}
	if h.id.UserHeader != "" {
		id.User = strings.TrimSpace(r.Header.Get(h.id.UserHeader))
	}
	if id.User == "" && h.id.JWTClaim != "" {
		id.User = jwtClaim(r.Header.Get(h.id.JWTPayloadHeader), h.id.JWTClaim)
	}
	if id.User == "" && h.id.UserCookie != "" {
		if c, err := r.Cookie(h.id.UserCookie); err == nil {
			id.User = c.Value
		}
	}
	if h.id.TenantHeader != "" {
		id.Tenant = strings.TrimSpace(r.Header.Get(h.id.TenantHeader))
	}
	if id.User != "" && ValidateID(id.User) != nil {
		id.User = ""
	}
	if id.Tenant != "" && ValidateID(id.Tenant) != nil {
		id.Tenant = ""
	}
	if id.User != "" {
		if c, err := r.Cookie(h.signer.Options().BucketName); err == nil {
			if b, ok := h.signer.VerifyBucket(c.Value, id.User, now); ok {
				id.Bucket = b
			}
		}
	}
	return id
}

// jwtClaim reads a string (or number) claim from the base64url JSON payload
// Istio's RequestAuthentication forwards (outputPayloadToHeader) after
// verifying the token. Anything unreadable gives "".
func jwtClaim(payload, claim string) string {
	payload = strings.TrimSpace(payload)
	if payload == "" || len(payload) > 16<<10 {
		return ""
	}
	var raw []byte
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(payload); err == nil {
			raw = b
			break
		}
	}
	if raw == nil {
		return ""
	}
	var claims map[string]any
	if json.Unmarshal(raw, &claims) != nil {
		return ""
	}
	switch v := claims[claim].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// authz is the Envoy/Istio HTTP ext_authz check: it always allows (200)
// and sets the lane header, which Envoy adds upstream replacing any value
// the client sent. A lane header the client sent that is signed with the
// lane key (`graylane lane sign`) for a known lane decides; other client
// values are simply replaced. Before the first snapshot it answers base.
func (h *Handler) authz(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	d := Decision{Lane: store.BaseLane, Reason: ReasonBase, Source: SourceAnonymous, Bucket: -1}
	if s := h.snaps.Current(); s != nil {
		d = s.Decide(h.identity(r, now), now)
		if l, ok := lane.Verify(h.laneKey, r.Header.Get(h.id.LaneHeader), now); ok && s.KnownLane(l) {
			d = Decision{Lane: l, Reason: ReasonSigned, Source: SourceHeader, Bucket: d.Bucket}
		}
	}
	h.metrics.observeDecision(d)
	w.Header().Set(h.id.LaneHeader, d.Lane)
	w.WriteHeader(http.StatusOK)
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

func (h *Handler) loginHook(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		h.fail(w, err)
		return
	}
	if err := ValidateID(req.User); err != nil {
		h.fail(w, badRequest("user: %v", err))
		return
	}
	if req.Tenant != "" {
		if err := ValidateID(req.Tenant); err != nil {
			h.fail(w, badRequest("tenant: %v", err))
			return
		}
	}
	s := h.snapshot(w)
	if s == nil {
		return
	}
	now := h.now()
	d := s.Decide(Identity{User: req.User, Tenant: req.Tenant, Bucket: -1}, now)
	h.metrics.observeDecision(d)
	resp := LoginResponse{Decision: d}
	for _, c := range h.signer.Cookies(d, req.User, now) {
		v := c.String()
		resp.SetCookie = append(resp.SetCookie, v)
		w.Header().Add("Set-Cookie", v)
	}
	writeJSON(w, http.StatusOK, resp)
}

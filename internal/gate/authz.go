package gate

import (
	"net/http"

	"github.com/graylane/graylane/internal/decide"
	"github.com/graylane/graylane/internal/gate/store"
	"github.com/graylane/graylane/internal/gateclient"
)

// authz is the Envoy/Istio HTTP ext_authz check: it always allows (200)
// and sets the lane header, which Envoy adds upstream replacing any value
// the client sent. The decision engine reads the caller from the request
// (user header, else the JWT claim, else the user cookie; tenant header; a
// signed bucket cookie); a lane header the client sent that is signed with
// the lane key for one of the gate's lanes decides. Before the first
// snapshot it answers base.
func (h *Handler) authz(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	d := gateclient.Decision{Lane: store.BaseLane, Reason: decide.ReasonNone, Source: decide.SourceAnonymous, Bucket: -1}
	if s := h.snaps.Current(); s != nil {
		req := decide.Request{Header: r.Header}
		if len(h.laneKey) > 0 {
			req.LaneValues = r.Header.Values(h.id.LaneHeader)
		}
		d = s.Decide(req, now)
	}
	h.metrics.observeDecision(d)
	w.Header().Set(h.id.LaneHeader, d.Lane)
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) loginHook(w http.ResponseWriter, r *http.Request) {
	var req gateclient.LoginRequest
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
	d := s.DecideIDs(req.User, req.Tenant, now)
	h.metrics.observeDecision(d)
	resp := gateclient.LoginResponse{Decision: d}
	for _, c := range h.signer.Cookies(d, req.User, now) {
		v := c.String()
		resp.SetCookie = append(resp.SetCookie, v)
		w.Header().Add("Set-Cookie", v)
	}
	writeJSON(w, http.StatusOK, resp)
}

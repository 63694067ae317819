package gate

import (
	"fmt"
	"net/http"

	"github.com/graylane/graylane/internal/bucket"
	"github.com/graylane/graylane/internal/gate/store"
	"github.com/graylane/graylane/internal/gateclient"
)

// Shares counts, for every lane, the buckets 0..99 the percentage rule
// sends to it (base included).
func (s *Snapshot) Shares() map[string]int {
	out := map[string]int{store.BaseLane: 0}
	for b := range bucket.N {
		out[s.LaneOfBucket(b)]++
	}
	return out
}

func (h *Handler) listLanes(w http.ResponseWriter, _ *http.Request) {
	s := h.snapshot(w)
	if s == nil {
		return
	}
	shares := s.Shares()
	out := gateclient.LaneList{Version: s.Version, Items: []gateclient.LaneInfo{}}
	for _, l := range s.State.Lanes {
		out.Items = append(out.Items, gateclient.LaneInfo{Name: l.Name, Weight: l.Weight, Share: shares[l.Name], UpdatedAt: l.UpdatedAt})
	}
	writeJSON(w, http.StatusOK, out)
}

func pathLane(r *http.Request) (string, error) {
	name := r.PathValue("lane")
	if err := ValidateLane(name); err != nil {
		return "", badRequest("%v", err)
	}
	if name == store.BaseLane {
		return "", badRequest("lane %q is implicit: it holds everyone not in another lane", name)
	}
	return name, nil
}

func (h *Handler) setLane(w http.ResponseWriter, r *http.Request) {
	name, err := pathLane(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	var req gateclient.LaneRequest
	if err := decodeJSON(w, r, &req); err != nil {
		h.fail(w, err)
		return
	}
	if req.Weight == nil || *req.Weight < 0 || *req.Weight > 100 {
		h.fail(w, badRequest("weight: want an integer 0..100"))
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	created, err := h.store.SetLane(ctx, name, *req.Weight)
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
	info := gateclient.LaneInfo{Name: name, Weight: *req.Weight}
	if s := h.snaps.Current(); s != nil && s.KnownLane(name) {
		info.Share = s.Shares()[name]
	}
	writeJSON(w, status, info)
}

func (h *Handler) deleteLane(w http.ResponseWriter, r *http.Request) {
	name, err := pathLane(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	ctx, cancel := storeCtx(r)
	defer cancel()
	err = h.store.DeleteLane(ctx, name)
	h.wrote(ctx, err)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.changed(ctx)
	writeJSON(w, http.StatusOK, map[string]string{"deleted": fmt.Sprintf("lane/%s", name)})
}

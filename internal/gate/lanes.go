package gate

import (
	"fmt"
	"net/http"
	"time"

	"github.com/graylane/graylane/internal/bucket"
	"github.com/graylane/graylane/internal/gate/store"
)

// LaneInfo is a lane in GET /v1/lanes. Share is the percentage of user ids
// the bucket rule sends to the lane: its weight, less the buckets an
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

// Shares counts, for every lane, the buckets 0..99 the bucket rule sends to
// it (base included).
func (s *Snapshot) Shares() map[string]int {
	out := map[string]int{store.BaseLane: 0}
	for b := range bucket.N {
		lane := store.BaseLane
		for i := range s.lanes {
			if int(s.lanes[i].ranks[b]) < s.lanes[i].weight {
				lane = s.lanes[i].name
				break
			}
		}
		out[lane]++
	}
	return out
}

func (h *Handler) listLanes(w http.ResponseWriter, _ *http.Request) {
	s := h.snapshot(w)
	if s == nil {
		return
	}
	shares := s.Shares()
	out := LaneList{Version: s.Version, Items: []LaneInfo{}}
	for _, l := range s.State.Lanes {
		out.Items = append(out.Items, LaneInfo{Name: l.Name, Weight: l.Weight, Share: shares[l.Name], UpdatedAt: l.UpdatedAt})
	}
	writeJSON(w, http.StatusOK, out)
}

// LaneRequest is the body of PUT /v1/lanes/{lane}.
type LaneRequest struct {
	Weight *int `json:"weight"`
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
	var req LaneRequest
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
	if err != nil {
		h.fail(w, err)
		return
	}
	h.changed(ctx)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	info := LaneInfo{Name: name, Weight: *req.Weight}
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
	if err := h.store.DeleteLane(ctx, name); err != nil {
		h.fail(w, err)
		return
	}
	h.changed(ctx)
	writeJSON(w, http.StatusOK, map[string]string{"deleted": fmt.Sprintf("lane/%s", name)})
}

package embedded

import (
	"math/rand/v2"
	"net/http"
	"time"
)

// enterLane runs the lane entry on a request arriving at a gateway; a new
// anonymous client's bucket cookie goes into the response header. Gate
// whitelists come from the followers' in-memory snapshots (gates.go).
func (r *Runtime) enterLane(cfg *config, h, resp http.Header) {
	if cfg.entry.Empty() {
		return
	}
	if d := cfg.entry.Apply(h, rand.Float64(), r.gateWhitelist, time.Now()); d.SetCookie != "" {
		resp.Add("Set-Cookie", d.SetCookie)
	}
}

package embedded

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/adminapi"
)

// Deadlines of the waits that follow progress. A release under analysis
// changes its status at least once a measurement interval (1 s in these
// tests) and whenever a pod becomes ready; a status that stays the same
// for progressStall is stuck. progressLimit bounds a wait whose status
// keeps changing without ever getting there (an analysis that measures
// forever): a hang, not a slow machine.
const (
	progressStall = time.Minute
	progressLimit = 4 * time.Minute
)

// waitProgress polls get until it reports done and returns what it got.
// It fails when what get returns (compared as JSON) has not changed for
// progressStall, or after progressLimit.
func waitProgress[T any](t *testing.T, what string, get func() (T, bool)) T {
	t.Helper()
	start := time.Now()
	changed, last := start, ""
	for {
		v, done := get()
		if done {
			return v
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("waiting for %s: status does not encode: %v", what, err)
		}
		now := time.Now()
		if s := string(b); s != last {
			changed, last = now, s
		}
		switch {
		case now.Sub(changed) > progressStall:
			t.Fatalf("waiting for %s: no progress for %s: %s", what, progressStall, last)
		case now.Sub(start) > progressLimit:
			t.Fatalf("waiting for %s: not there after %s: %s", what, progressLimit, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitRolloutProgress waits until the only Rollout satisfies ok, for as
// long as its status makes progress (waitProgress).
func waitRolloutProgress(t *testing.T, rt *Runtime, what string, ok func(adminapi.RolloutStatus) bool) adminapi.RolloutStatus {
	t.Helper()
	rs := waitProgress(t, "rollout "+what, func() ([]adminapi.RolloutStatus, bool) {
		rs := rt.Rollouts()
		return rs, len(rs) == 1 && ok(rs[0])
	})
	return rs[0]
}

// waitLaneProgress waits until the only lane satisfies ok, for as long as
// its status makes progress (waitProgress).
func waitLaneProgress(t *testing.T, rt *Runtime, what string, ok func(adminapi.LaneStatus) bool) adminapi.LaneStatus {
	t.Helper()
	ls := waitProgress(t, "lane "+what, func() ([]adminapi.LaneStatus, bool) {
		ls := rt.Lanes()
		return ls, len(ls) == 1 && ok(ls[0])
	})
	return ls[0]
}

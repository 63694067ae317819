package gate

import (
	"encoding/base64"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/bucket"
	"github.com/graylane/graylane/internal/gate/store"
)

func snapshotOf(weights map[string]int) *Snapshot {
	var st store.State
	for _, name := range []string{"a", "b", "c", "d"} {
		if w, ok := weights[name]; ok {
			st.Lanes = append(st.Lanes, store.Lane{Name: name, Weight: w})
		}
	}
	s, err := NewSnapshot(st, time.Time{}, testRules)
	if err != nil {
		panic(err) // no match rules: New cannot fail
	}
	return s
}

// TestBucketMonotonic: raising any one lane's weight only moves users into
// that lane; nobody changes between other lanes or base. Random weight
// sets, every bucket, every lane.
func TestBucketMonotonic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lanes := []string{"a", "b", "c", "d"}
	for range 300 {
		weights := map[string]int{}
		for _, l := range lanes {
			weights[l] = rng.IntN(60)
		}
		raised := lanes[rng.IntN(len(lanes))]
		before := snapshotOf(weights)
		weights[raised] += 1 + rng.IntN(100-weights[raised])
		after := snapshotOf(weights)
		for b := range bucket.N {
			was, is := before.LaneOfBucket(b), after.LaneOfBucket(b)
			if was != is && is != raised {
				t.Fatalf("raising %s to %d moved bucket %d from %s to %s (weights %v)", raised, weights[raised], b, was, is, weights)
			}
		}
	}
}

// TestShares: a lane alone holds exactly its weight; lanes overlap only
// where an earlier lane wins.
func TestShares(t *testing.T) {
	tests := []struct {
		weights map[string]int
		lane    string
		want    int
	}{
		{map[string]int{"a": 10}, "a", 10},
		{map[string]int{"a": 100}, "a", 100},
		{map[string]int{"a": 0}, "a", 0},
		{map[string]int{"a": 100, "b": 50}, "b", 0},
		{map[string]int{"a": 30, "b": 20}, "a", 30},
	}
	for _, tt := range tests {
		got := snapshotOf(tt.weights).Shares()[tt.lane]
		if got != tt.want {
			t.Errorf("Shares(%v)[%s] = %d, want %d", tt.weights, tt.lane, got, tt.want)
		}
	}
}

func base64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

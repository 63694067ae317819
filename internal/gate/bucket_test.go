package gate

import (
	"encoding/base64"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/gate/store"
)

// TestBucketStable pins the documented hash: these values must never
// change, on any machine or version.
func TestBucketStable(t *testing.T) {
	got := map[string]int{}
	for _, id := range []string{"", "alice", "bob", "user-1", "tenant:acme", "张三"} {
		got[id] = Bucket(id)
	}
	// Cross-checked with Python hashlib.sha256.
	want := map[string]int{"": 22, "alice": 72, "bob": 9, "user-1": 95, "tenant:acme": 8, "张三": 57}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Bucket (-want +got):\n%s", diff)
	}
}

// TestBucketUniform: over 1M ids, the share below every weight W is W% ±1
// point, and every bucket holds 1% ±5% of the ids.
func TestBucketUniform(t *testing.T) {
	const n = 1_000_000
	var counts [Buckets]int
	for i := range n {
		counts[Bucket("user-"+strconv.Itoa(i))]++
	}
	below := 0
	for b := range Buckets {
		if c := counts[b]; c < n/Buckets*95/100 || c > n/Buckets*105/100 {
			t.Errorf("bucket %d holds %d ids, want %d ±5%%", b, c, n/Buckets)
		}
		below += counts[b]
		share := float64(below) / n * 100
		if want := float64(b + 1); share < want-1 || share > want+1 {
			t.Errorf("weight %d admits %.2f%% of ids, want %.0f%% ±1", b+1, share, want)
		}
	}
}

func TestLaneRanksPermutation(t *testing.T) {
	for _, lane := range []string{"v2", "canary", "a"} {
		r := LaneRanks(lane)
		seen := map[uint8]bool{}
		for _, v := range r {
			seen[v] = true
		}
		if len(seen) != Buckets {
			t.Errorf("LaneRanks(%q) is not a permutation of 0..99", lane)
		}
	}
	if LaneRanks("v2") == LaneRanks("v3") {
		t.Error("two lanes share an order")
	}
}

func snapshotOf(weights map[string]int) *Snapshot {
	var st store.State
	for _, name := range []string{"a", "b", "c", "d"} {
		if w, ok := weights[name]; ok {
			st.Lanes = append(st.Lanes, store.Lane{Name: name, Weight: w})
		}
	}
	return NewSnapshot(st, time.Time{})
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
		for b := range Buckets {
			id := Identity{User: "u", Bucket: b}
			was, is := before.Decide(id, time.Time{}).Lane, after.Decide(id, time.Time{}).Lane
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

package bucket

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBucketStable pins the documented hash: these values must never
// change, on any machine or version.
func TestBucketStable(t *testing.T) {
	got := map[string]int{}
	for _, id := range []string{"", "alice", "bob", "user-1", "tenant:acme", "张三"} {
		got[id] = Of(id)
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
	var counts [N]int
	for i := range n {
		counts[Of("user-"+strconv.Itoa(i))]++
	}
	below := 0
	for b := range N {
		if c := counts[b]; c < n/N*95/100 || c > n/N*105/100 {
			t.Errorf("bucket %d holds %d ids, want %d ±5%%", b, c, n/N)
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
		if len(seen) != N {
			t.Errorf("LaneRanks(%q) is not a permutation of 0..99", lane)
		}
	}
	if LaneRanks("v2") == LaneRanks("v3") {
		t.Error("two lanes share an order")
	}
}

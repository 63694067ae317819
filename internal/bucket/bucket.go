// Package bucket is the sticky, monotonic user bucket shared by the gate and
// lane entry: a user's bucket 0..99 and each lane's own order of the
// buckets. Pure functions; the hashes are part of Graylane's contract.
package bucket

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strconv"
)

// N is the number of percentage buckets: a user's bucket is 0..99.
const N = 100

// Of is the user's sticky bucket, 0..99: the first 8 bytes of
// SHA-256("graylane-bucket-v1:" + userID) read as a big-endian uint64,
// modulo 100. It depends on nothing but the user id, so it is the same on
// every machine and in every version of Graylane.
func Of(userID string) int {
	return int(hash64("graylane-bucket-v1:"+userID) % N)
}

// LaneRanks is a lane's own order of the 100 buckets: LaneRanks(L)[b] is the
// lane bucket of user bucket b in lane L, and a user is in L when their lane
// bucket is below L's weight. The order sorts b = 0..99 by the first 8 bytes
// of SHA-256("graylane-lane-v1:" + L + ":" + decimal(b)) (big-endian uint64,
// ties by b). Each lane thus holds exactly `weight` of the 100 buckets, and
// lanes are independent of each other: raising one lane's weight changes no
// other lane's set of buckets.
func LaneRanks(lane string) [N]uint8 {
	type keyed struct {
		key uint64
		b   int
	}
	order := make([]keyed, N)
	for b := range N {
		order[b] = keyed{hash64("graylane-lane-v1:" + lane + ":" + strconv.Itoa(b)), b}
	}
	slices.SortFunc(order, func(x, y keyed) int {
		switch {
		case x.key < y.key:
			return -1
		case x.key > y.key:
			return 1
		}
		return x.b - y.b
	})
	var ranks [N]uint8
	for rank, k := range order {
		ranks[k.b] = uint8(rank)
	}
	return ranks
}

func hash64(s string) uint64 {
	sum := sha256.Sum256([]byte(s))
	return binary.BigEndian.Uint64(sum[:8])
}

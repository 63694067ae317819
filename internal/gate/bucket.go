package gate

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strconv"
)

// Buckets is the number of percentage buckets: a user's bucket is 0..99.
const Buckets = 100

// Bucket is the user's sticky bucket, 0..99: the first 8 bytes of
// SHA-256("graylane-bucket-v1:" + userID) read as a big-endian uint64,
// modulo 100. It depends on nothing but the user id, so it is the same on
// every machine and in every version of Graylane.
func Bucket(userID string) int {
	return int(hash64("graylane-bucket-v1:"+userID) % Buckets)
}

// LaneRanks is a lane's own order of the 100 buckets: LaneRanks(L)[b] is the
// lane bucket of user bucket b in lane L, and a user is in L when their lane
// bucket is below L's weight. The order sorts b = 0..99 by the first 8 bytes
// of SHA-256("graylane-lane-v1:" + L + ":" + decimal(b)) (big-endian uint64,
// ties by b). Each lane thus holds exactly `weight` of the 100 buckets, and
// lanes are independent of each other: raising one lane's weight changes no
// other lane's set of buckets.
func LaneRanks(lane string) [Buckets]uint8 {
	type keyed struct {
		key uint64
		b   int
	}
	order := make([]keyed, Buckets)
	for b := range Buckets {
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
	var ranks [Buckets]uint8
	for rank, k := range order {
		ranks[k.b] = uint8(rank)
	}
	return ranks
}

func hash64(s string) uint64 {
	sum := sha256.Sum256([]byte(s))
	return binary.BigEndian.Uint64(sum[:8])
}

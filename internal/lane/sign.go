package lane

import (
	"time"

	"github.com/graylane/graylane/internal/decide"
)

// Sign returns a signed lane header value valid until expires: the format
// of decide.SignLane, which the edge and the gate's ext_authz accept.
func Sign(key []byte, lane string, expires time.Time) string {
	return decide.SignLane(key, lane, expires)
}

// Verify returns the lane of a signed value that is well formed, signed
// with key and not expired at now (decide.VerifyLane).
func Verify(key []byte, value string, now time.Time) (string, bool) {
	return decide.VerifyLane(key, value, now)
}

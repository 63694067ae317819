package lane

import (
	"time"

	"github.com/graylane/graylane/internal/signed"
)

// A signed lane header value lets a caller from outside (QA, a test
// pipeline) put a request in a lane on purpose:
//
//	LANE.EXPIRES.SIG    SIG = base64url(HMAC-SHA256(key, "graylane-lane-header-v1|" LANE "|" EXPIRES "|"))
//
// in the format of internal/signed (the gate's cookies use it too), with
// the edge's lane key. Lane names are DNS labels, so they hold no dot.
// Unsigned or badly signed lane headers from outside are removed at the
// edge.
const headerKind = "graylane-lane-header-v1"

// Sign returns a signed lane header value valid until expires.
func Sign(key []byte, lane string, expires time.Time) string {
	return signed.Value(key, headerKind, lane, "", expires)
}

// Verify returns the lane of a signed value that is well formed, signed
// with key and not expired at now.
func Verify(key []byte, value string, now time.Time) (string, bool) {
	return signed.Verify(key, headerKind, value, "", now)
}

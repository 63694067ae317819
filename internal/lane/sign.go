package lane

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// A signed lane header value lets a caller from outside (QA, a test
// pipeline) put a request in a lane on purpose:
//
//	LANE.EXPIRES.SIG
//
// EXPIRES is a Unix time in seconds, SIG the unpadded base64url HMAC-SHA256,
// under the edge's lane key, of "graylane-lane-header-v1\n" + LANE + "\n" +
// EXPIRES. Lane names are DNS labels, so they hold no dot. Unsigned or
// badly signed lane headers from outside are removed at the edge.
const signContext = "graylane-lane-header-v1\n"

// Sign returns a signed lane header value valid until expires.
func Sign(key []byte, lane string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return lane + "." + exp + "." + mac(key, lane, exp)
}

func mac(key []byte, lane, exp string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(signContext + lane + "\n" + exp))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// Verify returns the lane of a signed value that is well formed, signed
// with key and not expired at now.
func Verify(key []byte, value string, now time.Time) (string, bool) {
	if len(key) == 0 {
		return "", false
	}
	lane, rest, ok := strings.Cut(value, ".")
	if !ok {
		return "", false
	}
	exp, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() > t {
		return "", false
	}
	if !hmac.Equal([]byte(sig), []byte(mac(key, lane, exp))) {
		return "", false
	}
	return lane, true
}

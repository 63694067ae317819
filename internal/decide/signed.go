package decide

import (
	"net/http"
	"strconv"
	"time"

	"github.com/graylane/graylane/internal/signed"
)

// A signed lane header value lets a caller from outside (QA, a test
// pipeline) put a request in a lane on purpose:
//
//	LANE.EXPIRES.SIG    SIG = base64url(HMAC-SHA256(key, "graylane-lane-header-v1|" LANE "|" EXPIRES "|"))
//
// in the format of internal/signed (the gate's cookies use it too), with
// the lane key. Lane names are DNS labels, so they hold no dot.
const laneHeaderKind = "graylane-lane-header-v1"

// SignLane returns a signed lane header value valid until expires.
func SignLane(key []byte, lane string, expires time.Time) string {
	return signed.Value(key, laneHeaderKind, lane, "", expires)
}

// VerifyLane returns the lane of a signed value that is well formed,
// signed with key and not expired at now.
func VerifyLane(key []byte, value string, now time.Time) (string, bool) {
	return signed.Verify(key, laneHeaderKind, value, "", now)
}

// Anonymous clients' sticky buckets.
const (
	// AnonymousCookie names the signed bucket cookie of clients without
	// a user id (not the gate's graylane-bucket, which is bound to a user
	// id): B.EXPIRES.SIG, signed with the lane key.
	AnonymousCookie = "graylane-anon-bucket"
	// AnonymousCookieAge is how long it is valid.
	AnonymousCookieAge = 30 * 24 * time.Hour
	// bucketKind is the signed kind of bucket cookies (user-bound ones
	// have the user id as subject, anonymous ones none).
	bucketKind = "graylane-bucket-v1"
)

// AnonymousSetCookie is the Set-Cookie value giving an anonymous client
// bucket b.
func AnonymousSetCookie(key []byte, b int, now time.Time) string {
	c := &http.Cookie{Name: AnonymousCookie, Value: signed.Value(key, bucketKind, strconv.Itoa(b), "", now.Add(AnonymousCookieAge)),
		Path: "/", MaxAge: int(AnonymousCookieAge / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode}
	return c.String()
}

// UserBucketValue is the value of a bucket cookie bound to user (the
// gate's login-hook cookie), signed with key.
func UserBucketValue(key []byte, b int, user string, expires time.Time) string {
	return signed.Value(key, bucketKind, strconv.Itoa(b), user, expires)
}

// VerifyUserBucket returns the bucket of a valid bucket cookie value for
// user.
func VerifyUserBucket(key []byte, value, user string, now time.Time) (int, bool) {
	return verifyBucket(key, value, user, now)
}

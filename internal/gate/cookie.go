package gate

import (
	"errors"
	"net/http"
	"time"

	"github.com/graylane/graylane/internal/decide"
	"github.com/graylane/graylane/internal/gateclient"
	"github.com/graylane/graylane/internal/signed"
)

// MinCookieKeyLen is the shortest accepted HMAC key.
const MinCookieKeyLen = 32

// CookieOptions shape the cookies the gate issues.
type CookieOptions struct {
	Key        []byte
	LaneName   string        // default graylane-lane
	BucketName string        // default graylane-bucket
	MaxAge     time.Duration // default 24h
	Secure     bool
	Domain     string
	Path       string // default /
}

// Signer issues and verifies the signed lane and bucket cookies (the
// format of internal/signed):
//
// Lane cookie value:   LANE "." EXPIRY "." base64url(HMAC-SHA256(key, "graylane-lane-v1|" LANE "|" EXPIRY "|" USER))
// Bucket cookie value: B    "." EXPIRY "." base64url(HMAC-SHA256(key, "graylane-bucket-v1|" B "|" EXPIRY "|" USER))
//
// EXPIRY is Unix seconds, base64url is unpadded. The signature binds the
// value to the user id, so a cookie is only valid for the user it was
// issued to; an expired cookie or one whose HMAC fails is ignored.
type Signer struct{ o CookieOptions }

// NewSigner checks the key and fills defaults.
func NewSigner(o CookieOptions) (*Signer, error) {
	if len(o.Key) < MinCookieKeyLen {
		return nil, errors.New("cookie key: want at least 32 bytes")
	}
	if o.LaneName == "" {
		o.LaneName = "graylane-lane"
	}
	if o.BucketName == "" {
		o.BucketName = "graylane-bucket"
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 24 * time.Hour
	}
	if o.Path == "" {
		o.Path = "/"
	}
	return &Signer{o: o}, nil
}

// Options returns the effective options.
func (s *Signer) Options() CookieOptions { return s.o }

// LaneValue is the lane cookie value for user.
func (s *Signer) LaneValue(lane, user string, expires time.Time) string {
	return signed.Value(s.o.Key, "graylane-lane-v1", lane, user, expires)
}

// BucketValue is the bucket cookie value for user.
func (s *Signer) BucketValue(bucket int, user string, expires time.Time) string {
	return decide.UserBucketValue(s.o.Key, bucket, user, expires)
}

// VerifyLane returns the lane of a valid lane cookie value for user.
func (s *Signer) VerifyLane(value, user string, now time.Time) (string, bool) {
	return signed.Verify(s.o.Key, "graylane-lane-v1", value, user, now)
}

// VerifyBucket returns the bucket of a valid bucket cookie value for user
// (the decision engine reads the cookie the same way at /authz/).
func (s *Signer) VerifyBucket(value, user string, now time.Time) (int, bool) {
	return decide.VerifyUserBucket(s.o.Key, value, user, now)
}

// bucketCookie is the bucket cookie as the decision engine verifies it.
func (s *Signer) bucketCookie() decide.BucketCookie {
	return decide.BucketCookie{Name: s.o.BucketName, Key: s.o.Key}
}

// Cookies returns the lane and bucket cookies for a decision about user.
func (s *Signer) Cookies(d gateclient.Decision, user string, now time.Time) []*http.Cookie {
	expires := now.Add(s.o.MaxAge)
	mk := func(name, value string) *http.Cookie {
		return &http.Cookie{
			Name: name, Value: value, Path: s.o.Path, Domain: s.o.Domain,
			MaxAge: int(s.o.MaxAge / time.Second), HttpOnly: true, Secure: s.o.Secure, SameSite: http.SameSiteLaxMode,
		}
	}
	out := []*http.Cookie{mk(s.o.LaneName, s.LaneValue(d.Lane, user, expires))}
	if d.Bucket >= 0 {
		out = append(out, mk(s.o.BucketName, s.BucketValue(d.Bucket, user, expires)))
	}
	return out
}

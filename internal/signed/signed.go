// Package signed makes and checks short HMAC-signed values, the format the
// gate's cookies and the lane edge share:
//
//	PAYLOAD "." EXPIRY "." base64url(HMAC-SHA256(key, KIND "|" PAYLOAD "|" EXPIRY "|" SUBJECT))
//
// EXPIRY is Unix seconds and base64url is unpadded. KIND keeps one kind of
// value from passing for another; SUBJECT binds a value to a user id (or
// is empty). PAYLOAD must not contain a dot. Pure functions.
package signed

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Value returns the signed value of payload, valid until expires.
func Value(key []byte, kind, payload, subject string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return payload + "." + exp + "." + mac(key, kind, payload, exp, subject)
}

func mac(key []byte, kind, payload, exp, subject string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(kind + "|" + payload + "|" + exp + "|" + subject))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Verify returns the payload of a well-formed value signed with key for
// kind and subject that has not expired at now.
func Verify(key []byte, kind, value, subject string, now time.Time) (string, bool) {
	if len(key) == 0 {
		return "", false
	}
	payload, rest, ok := strings.Cut(value, ".")
	if !ok {
		return "", false
	}
	exp, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() >= unix {
		return "", false
	}
	if !hmac.Equal([]byte(sig), []byte(mac(key, kind, payload, exp, subject))) {
		return "", false
	}
	return payload, true
}

package decide

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxIDLen bounds a user or tenant id.
const MaxIDLen = 128

// cleanID returns an id as the engine uses it: trimmed of spaces, and
// "" (absent: the caller is anonymous) when it is longer than MaxIDLen
// bytes, not UTF-8, or holds a space or a control character.
func cleanID(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > MaxIDLen {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf {
			return cleanUnicode(s)
		} else if c <= ' ' || c == 0x7f {
			return ""
		}
	}
	return s
}

func cleanUnicode(s string) string {
	if !utf8.ValidString(s) {
		return ""
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return ""
		}
	}
	return s
}

// jwtClaim reads a string (or number) claim from the base64url JSON payload
// Istio's RequestAuthentication forwards (outputPayloadToHeader) after
// verifying the token. Anything unreadable gives "".
func jwtClaim(payload, claim string) string {
	payload = strings.TrimSpace(payload)
	if payload == "" || len(payload) > 16<<10 {
		return ""
	}
	var raw []byte
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(payload); err == nil {
			raw = b
			break
		}
	}
	if raw == nil {
		return ""
	}
	var claims map[string]any
	if json.Unmarshal(raw, &claims) != nil {
		return ""
	}
	switch v := claims[claim].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

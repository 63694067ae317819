package signed

import (
	"strings"
	"testing"
	"time"
)

func TestValueVerify(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	v := Value(key, "k1", "gray", "alice", now.Add(time.Minute))
	// Pinned: the format is shared with cookies already issued.
	if want := "gray.1800000060."; !strings.HasPrefix(v, want) || len(v) != len(want)+43 {
		t.Fatalf("Value = %q, want %q + 43 base64url characters", v, want)
	}
	tests := []struct {
		name                 string
		key                  []byte
		kind, value, subject string
		at                   time.Time
		wantPayload          string
		wantOK               bool
	}{
		{"valid", key, "k1", v, "alice", now, "gray", true},
		{"last second", key, "k1", v, "alice", now.Add(59 * time.Second), "gray", true},
		{"expired", key, "k1", v, "alice", now.Add(time.Minute), "", false},
		{"other kind", key, "k2", v, "alice", now, "", false},
		{"other subject", key, "k1", v, "bob", now, "", false},
		{"other key", []byte("another key, also 32 bytes long!"), "k1", v, "alice", now, "", false},
		{"no key", nil, "k1", v, "alice", now, "", false},
		{"payload changed", key, "k1", "blue" + v[4:], "alice", now, "", false},
		{"expiry changed", key, "k1", strings.Replace(v, ".1800000060.", ".1900000060.", 1), "alice", now, "", false},
		{"no dots", key, "k1", "gray", "alice", now, "", false},
		{"one dot", key, "k1", "gray.1800000060", "alice", now, "", false},
		{"bad expiry", key, "k1", "gray.soon.x", "alice", now, "", false},
	}
	for _, tt := range tests {
		got, ok := Verify(tt.key, tt.kind, tt.value, tt.subject, tt.at)
		if got != tt.wantPayload || ok != tt.wantOK {
			t.Errorf("%s: Verify = %q, %v; want %q, %v", tt.name, got, ok, tt.wantPayload, tt.wantOK)
		}
	}
}

// FuzzVerify: any value is refused or verified without a panic, and only
// values this package made verify.
func FuzzVerify(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	f.Add(Value(key, "k", "p", "s", time.Unix(2_000_000_000, 0)))
	f.Add("..")
	f.Add("a.-1.b")
	f.Fuzz(func(t *testing.T, v string) {
		p, ok := Verify(key, "k", v, "s", time.Unix(1_900_000_000, 0))
		if ok && Value(key, "k", p, "s", time.Unix(mustExpiry(t, v), 0)) != v {
			t.Errorf("%q verified but is not what Value makes", v)
		}
	})
}

func mustExpiry(t *testing.T, v string) int64 {
	parts := strings.Split(v, ".")
	var n int64
	for _, c := range parts[1] {
		n = n*10 + int64(c-'0')
	}
	return n
}

package gate

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/graylane/graylane/internal/gate/store"
)

// Limits on identifiers.
const (
	MaxIDLen   = 128
	MaxLaneLen = 63
	MaxNoteLen = 512
)

// ValidateID checks a user or tenant id: 1..128 bytes of ASCII letters,
// digits and . _ - @ : + = ~ (no spaces, commas, semicolons or quotes, so
// ids are safe in CSV, headers and cookies).
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("id is empty")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("id is %d bytes long, at most %d allowed", len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			return fmt.Errorf("id %q: character %q at offset %d not allowed (letters, digits and . _ - @ : + = ~)", id, id[i], i)
		}
	}
	return nil
}

func idByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("._-@:+=~", c) >= 0
}

// ValidateLane checks a lane name: a DNS label (lowercase letters, digits
// and '-', 1..63, starting and ending with a letter or digit).
func ValidateLane(name string) error {
	if name == "" || len(name) > MaxLaneLen {
		return fmt.Errorf("lane %q: want 1..%d characters", name, MaxLaneLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' && i > 0 && i < len(name)-1
		if !ok {
			return fmt.Errorf("lane %q: want a DNS label (lowercase letters, digits, '-' inside)", name)
		}
	}
	return nil
}

// ParseKind checks a whitelist kind.
func ParseKind(s string) (store.Kind, error) {
	switch k := store.Kind(s); k {
	case store.KindUser, store.KindTenant:
		return k, nil
	}
	return "", fmt.Errorf("kind %q: want user or tenant", s)
}

// ValidateNote checks a note: at most 512 bytes of UTF-8 without control
// characters.
func ValidateNote(note string) error {
	if len(note) > MaxNoteLen {
		return fmt.Errorf("note is %d bytes long, at most %d allowed", len(note), MaxNoteLen)
	}
	if !utf8.ValidString(note) {
		return fmt.Errorf("note is not valid UTF-8")
	}
	for _, r := range note {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("note contains a control character")
		}
	}
	return nil
}

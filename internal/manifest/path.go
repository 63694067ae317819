package manifest

import (
	"strconv"
	"strings"
)

// fieldPath appends a mapping key to a field path: ".key", or `["key"]`
// when the key is not a plain identifier (dots, slashes, spaces, ...).
func fieldPath(parent, key string) string {
	if !plainKey(key) {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// indexPath appends a list index to a field path: "[i]".
func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

func plainKey(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// splitPath splits a field path into segments whose concatenation (without
// separators for the first one) rebuilds the prefixes, e.g.
// `spec.http[2]["a.b"]` -> ["spec", ".http", "[2]", `["a.b"]`].
// A malformed tail is kept as one last segment.
func splitPath(path string) []string {
	var segs []string
	for i := 0; i < len(path); {
		j := nextSegment(path, i)
		if j <= i {
			return append(segs, path[i:])
		}
		segs = append(segs, path[i:j])
		i = j
	}
	return segs
}

// nextSegment returns the end of the segment starting at i.
func nextSegment(path string, i int) int {
	if path[i] == '[' {
		if i+1 < len(path) && path[i+1] == '"' {
			q, err := strconv.QuotedPrefix(path[i+1:])
			if err != nil {
				return -1
			}
			end := i + 1 + len(q)
			if end < len(path) && path[end] == ']' {
				return end + 1
			}
			return -1
		}
		k := strings.IndexByte(path[i:], ']')
		if k < 0 {
			return -1
		}
		return i + k + 1
	}
	j := i
	if path[j] == '.' {
		j++
	}
	for j < len(path) && path[j] != '.' && path[j] != '[' {
		j++
	}
	return j
}

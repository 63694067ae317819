package springprops

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Set returns content with the given properties set (value non-nil: added
// or replaced) or deleted (nil), everything else kept: other properties,
// their order, comments. New properties go at the end (.properties) or
// after the existing keys of their map (YAML), in sorted order. When
// nothing changes, content is returned as it is, so setting the same
// values again writes nothing new.
func Set(content []byte, format string, set map[string]*string) ([]byte, error) {
	switch format {
	case YAML:
		return setYAML(content, set)
	case Properties:
		return setProperties(content, set)
	}
	return nil, fmt.Errorf("unknown configuration format %q (want %s or %s)", format, YAML, Properties)
}

// logicalLine is one property line of a .properties document (after line
// continuations are joined), or a blank or comment line (key "").
type logicalLine struct {
	raw        string // the lines as written, joined with "\n"
	key, value string
	line       int // first line, 1-based
}

// splitProperties reads a .properties document as java.util.Properties.load
// does: '#' and '!' comments, lines continued by an odd number of trailing
// backslashes, the key ending at the first unescaped '=', ':' or white
// space, escapes \t \n \r \f \uXXXX and \X for X.
func splitProperties(content []byte) ([]logicalLine, error) {
	text := strings.ReplaceAll(strings.ReplaceAll(string(content), "\r\n", "\n"), "\r", "\n")
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil, nil
	}
	lines := strings.Split(text, "\n")
	var out []logicalLine
	for i := 0; i < len(lines); i++ {
		start := i
		trimmed := strings.TrimLeft(lines[i], " \t\f")
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == '!' {
			out = append(out, logicalLine{raw: lines[i], line: i + 1})
			continue
		}
		logical := trimmed
		raw := lines[i]
		for continued(logical) && i+1 < len(lines) {
			i++
			raw += "\n" + lines[i]
			logical = logical[:len(logical)-1] + strings.TrimLeft(lines[i], " \t\f")
		}
		if continued(logical) {
			logical = logical[:len(logical)-1]
		}
		key, value, err := keyValue(logical)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start+1, err)
		}
		out = append(out, logicalLine{raw: raw, key: key, value: value, line: start + 1})
	}
	return out, nil
}

// continued: the line ends in an odd number of backslashes.
func continued(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func keyValue(s string) (string, string, error) {
	end := len(s)
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == '=' || s[i] == ':' || s[i] == ' ' || s[i] == '\t' || s[i] == '\f' {
			end = i
			break
		}
	}
	rest := strings.TrimLeft(s[end:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	key, err := unescape(s[:end])
	if err != nil {
		return "", "", err
	}
	value, err := unescape(rest)
	if err != nil {
		return "", "", err
	}
	return key, value, nil
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf("malformed \\uxxxx encoding")
			}
			r, err := strconv.ParseUint(s[i+1:i+5], 16, 32)
			if err != nil {
				return "", fmt.Errorf("malformed \\uxxxx encoding")
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

func parseProperties(content []byte) (map[string]string, error) {
	lines, err := splitProperties(content)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range lines {
		if l.key != "" {
			out[l.key] = l.value
		}
	}
	return out, nil
}

func setProperties(content []byte, set map[string]*string) ([]byte, error) {
	lines, err := splitProperties(content)
	if err != nil {
		return nil, err
	}
	byCanonical := map[string]string{}
	for k := range set {
		byCanonical[Canonical(k)] = k
	}
	done := map[string]bool{}
	changed := false
	var b strings.Builder
	for _, l := range lines {
		want, ok := byCanonical[Canonical(l.key)]
		if l.key == "" || !ok {
			b.WriteString(l.raw + "\n")
			continue
		}
		v := set[want]
		if done[want] || v == nil { // a second spelling of the same property, or deleted
			changed = true
			continue
		}
		done[want] = true
		if l.value == *v {
			b.WriteString(l.raw + "\n")
			continue
		}
		changed = true
		b.WriteString(escape(l.key, true) + "=" + escape(*v, false) + "\n")
	}
	for _, k := range sortedKeys(set) {
		if done[k] || set[k] == nil {
			continue
		}
		changed = true
		if last := strings.TrimSuffix(b.String(), "\n"); continued(last[strings.LastIndexByte(last, '\n')+1:]) {
			// The document ends in a continued line: an empty line ends it
			// before the new property.
			b.WriteString("\n")
		}
		b.WriteString(escape(k, true) + "=" + escape(*set[k], false) + "\n")
	}
	if !changed {
		return content, nil
	}
	return []byte(b.String()), nil
}

// escape writes s so that splitProperties reads it back: in keys also
// the separators; in values a leading space.
func escape(s string, key bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		r := s[i]
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\f':
			b.WriteString(`\f`)
		case '=', ':', ' ', '#', '!':
			if key || (r == ' ' && i == 0) || ((r == '#' || r == '!') && i == 0) {
				b.WriteByte('\\')
			}
			b.WriteByte(r)
		default:
			b.WriteByte(r)
		}
	}
	return b.String()
}

func sortedKeys(m map[string]*string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

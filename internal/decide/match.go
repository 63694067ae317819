package decide

import (
	"fmt"
	"regexp"
	"strings"
)

// matcher is a compiled Match.
type matcher struct {
	name          string // canonical header name, or the cookie name
	exact, prefix string
	re            *regexp.Regexp
	present       bool
}

func compileMatch(name string, m Match) (matcher, error) {
	out := matcher{name: name, exact: m.Exact, prefix: m.Prefix}
	switch {
	case m.Regex != "":
		re, err := regexp.Compile("^(?:" + m.Regex + ")$")
		if err != nil {
			return matcher{}, fmt.Errorf("regex %q: %w", m.Regex, err)
		}
		out.re = re
	case m.Prefix == "" && m.Exact == "":
		out.present = true
	}
	return out, nil
}

// match reports whether a value matches: regex over prefix over exact,
// presence when none is set.
func (m *matcher) match(v string) bool {
	switch {
	case m.present:
		return true
	case m.re != nil:
		return m.re.MatchString(v)
	case m.prefix != "":
		return strings.HasPrefix(v, m.prefix)
	}
	return v == m.exact
}

// cookie is one name=value pair of a Cookie header.
type cookie struct{ name, value string }

// parseCookies reads Cookie header lines leniently, as a browser sends
// them and as net/http's Request.Cookies reads them: pairs separated by
// ';', a pair without '=' or with an empty name skipped, a value in double
// quotes unquoted. One malformed pair does not hide the others.
func parseCookies(lines []string) []cookie {
	var out []cookie
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
			name = strings.TrimSpace(name)
			if !ok || name == "" {
				continue
			}
			value = strings.TrimSpace(value)
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			out = append(out, cookie{name, value})
		}
	}
	return out
}

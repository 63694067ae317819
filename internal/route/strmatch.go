package route

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

type matchKind uint8

const (
	kindPresent  matchKind = iota // any value, as long as it is there
	kindExact                     // whole value equals s
	kindPrefix                    // value starts with s
	kindSuffix                    // value ends with s (from a regex)
	kindContains                  // value contains s (from a regex)
	kindOneOf                     // value equals one of set (from a regex)
	kindRegex                     // RE2 full match
)

// strMatcher is a compiled Istio StringMatch.
type strMatcher struct {
	kind matchKind
	s    string
	set  []string
	fold bool // ASCII case-insensitive (ignoreUriCase)
	// noNL: the literal forms above stand for a regex whose ".*" does not
	// match a newline, so a value containing one goes to re instead.
	noNL bool
	re   *regexp.Regexp
	// need are literals every value matching re contains, and lead a
	// literal it starts with: cheap rejects before the regex engine runs.
	need []string
	lead string
}

// compileStringMatch builds a matcher. A nil StringMatch or one with no
// match type means "present". Empty prefix also means "present", as Istio
// translates it.
func compileStringMatch(m *networking.StringMatch, fold bool) (*strMatcher, error) {
	out := &strMatcher{fold: fold}
	if m == nil {
		return out, nil
	}
	switch t := m.MatchType.(type) {
	case *networking.StringMatch_Exact:
		out.kind, out.s = kindExact, t.Exact
	case *networking.StringMatch_Prefix:
		if t.Prefix != "" {
			out.kind, out.s = kindPrefix, t.Prefix
		}
	case *networking.StringMatch_Regex:
		return compileRegex(t.Regex, fold)
	}
	return out, nil
}

func compileRegex(expr string, fold bool) (*strMatcher, error) {
	src := expr
	if fold {
		src = "(?i)" + src
	}
	// The user's pattern is parsed on its own first (with regexp.Compile's
	// flags), so that an error quotes what they wrote, not the anchored
	// form compiled below.
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("invalid RE2 regex %q: %w", expr, err)
	}
	re, err := regexp.Compile("^(?:" + src + ")$")
	if err != nil {
		return nil, fmt.Errorf("invalid RE2 regex %q: %w", expr, err)
	}
	out := &strMatcher{kind: kindRegex, re: re, s: expr}
	if fold {
		return out, nil
	}
	parsed = parsed.Simplify()
	parsed = trimAnchors(parsed)
	if set, ok := finiteStrings(parsed, 16); ok {
		if len(set) == 1 {
			out.kind, out.s = kindExact, set[0]
		} else {
			out.kind, out.set = kindOneOf, set
		}
		return out, nil
	}
	if kind, lit, noNL, ok := anchoredShape(parsed); ok {
		out.kind, out.s, out.noNL = kind, lit, noNL
		return out, nil
	}
	out.need = requiredLiterals(parsed, nil)
	out.lead = leadingLiteral(parsed)
	return out, nil
}

// trimAnchors drops a leading ^ and trailing $ (\A, \z): they change
// nothing in a full match.
func trimAnchors(re *syntax.Regexp) *syntax.Regexp {
	if re.Op != syntax.OpConcat || len(re.Sub) == 0 {
		return re
	}
	subs := re.Sub
	if subs[0].Op == syntax.OpBeginText {
		subs = subs[1:]
	}
	if n := len(subs); n > 0 && subs[n-1].Op == syntax.OpEndText {
		subs = subs[:n-1]
	}
	if len(subs) == len(re.Sub) {
		return re
	}
	if len(subs) == 1 {
		return subs[0]
	}
	out := *re
	out.Sub = subs
	return &out
}

// finiteStrings lists every string re matches, when that is a small finite
// set of case-sensitive strings: "v1", "v1|v2", "canary-(a|b)", "v[12]".
func finiteStrings(re *syntax.Regexp, limit int) ([]string, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		return []string{string(re.Rune)}, true
	case syntax.OpCapture:
		return finiteStrings(re.Sub[0], limit)
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(out) >= limit {
					return nil, false
				}
				out = append(out, string(r))
			}
		}
		return out, len(out) > 0
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			set, ok := finiteStrings(sub, limit)
			if !ok || len(out)+len(set) > limit {
				return nil, false
			}
			out = append(out, set...)
		}
		return out, true
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			set, ok := finiteStrings(sub, limit)
			if !ok || len(out)*len(set) > limit {
				return nil, false
			}
			next := make([]string, 0, len(out)*len(set))
			for _, a := range out {
				for _, b := range set {
					next = append(next, a+b)
				}
			}
			out = next
		}
		return out, true
	case syntax.OpQuest:
		set, ok := finiteStrings(re.Sub[0], limit-1)
		if !ok {
			return nil, false
		}
		return append([]string{""}, set...), true
	}
	return nil, false
}

// anyStar reports whether re is ".*" and whether its dot excludes newline.
func anyStar(re *syntax.Regexp) (isStar, noNL bool) {
	if re.Op != syntax.OpStar || len(re.Sub) != 1 {
		return false, false
	}
	switch re.Sub[0].Op {
	case syntax.OpAnyChar:
		return true, false
	case syntax.OpAnyCharNotNL:
		return true, true
	}
	return false, false
}

// anchoredShape recognises lit.*, .*lit and .*lit.* .
func anchoredShape(re *syntax.Regexp) (matchKind, string, bool, bool) {
	if re.Op != syntax.OpConcat {
		return 0, "", false, false
	}
	subs := re.Sub
	leadStar, leadNL := anyStar(subs[0])
	trailStar, trailNL := anyStar(subs[len(subs)-1])
	from, to := 0, len(subs)
	if leadStar {
		from++
	}
	if trailStar {
		to--
	}
	if from >= to || (!leadStar && !trailStar) {
		return 0, "", false, false
	}
	var b strings.Builder
	for _, sub := range subs[from:to] {
		set, ok := finiteStrings(sub, 1)
		if !ok || len(set) != 1 {
			return 0, "", false, false
		}
		b.WriteString(set[0])
	}
	noNL := leadNL || trailNL
	switch {
	case leadStar && trailStar:
		return kindContains, b.String(), noNL, true
	case leadStar:
		return kindSuffix, b.String(), noNL, true
	default:
		return kindPrefix, b.String(), noNL, true
	}
}

// requiredLiterals collects the case-sensitive literals (two bytes or
// more) at the top level of a concatenation: every match contains each.
func requiredLiterals(re *syntax.Regexp, out []string) []string {
	switch re.Op {
	case syntax.OpCapture:
		return requiredLiterals(re.Sub[0], out)
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase == 0 && len(string(re.Rune)) >= 2 {
			out = append(out, string(re.Rune))
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			out = requiredLiterals(sub, out)
		}
	}
	return out
}

// leadingLiteral is the literal a full match must start with.
func leadingLiteral(re *syntax.Regexp) string {
	for re.Op == syntax.OpCapture || (re.Op == syntax.OpConcat && len(re.Sub) > 0) {
		re = re.Sub[0]
	}
	if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0 {
		return string(re.Rune)
	}
	return ""
}

// match reports whether v satisfies the matcher.
func (m *strMatcher) match(v string) bool {
	if m.noNL && strings.IndexByte(v, '\n') >= 0 {
		return m.re.MatchString(v)
	}
	switch m.kind {
	case kindPresent:
		return true
	case kindExact:
		if m.fold {
			return strings.EqualFold(v, m.s)
		}
		return v == m.s
	case kindPrefix:
		if m.fold {
			return len(v) >= len(m.s) && strings.EqualFold(v[:len(m.s)], m.s)
		}
		return strings.HasPrefix(v, m.s)
	case kindSuffix:
		return strings.HasSuffix(v, m.s)
	case kindContains:
		return strings.Contains(v, m.s)
	case kindOneOf:
		for _, s := range m.set {
			if v == s {
				return true
			}
		}
		return false
	default:
		if !strings.HasPrefix(v, m.lead) {
			return false
		}
		for _, n := range m.need {
			if !strings.Contains(v, n) {
				return false
			}
		}
		return m.re.MatchString(v)
	}
}

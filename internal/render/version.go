package render

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
)

// semverish matches v1, 1.2, v1.2.3, v2.0.0-rc.1+build.5: a semantic
// version with an optional "v" and optional minor and patch (as Go module
// versions are abbreviated).
var semverish = regexp.MustCompile(`^v?(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?(?:\.(0|[1-9][0-9]*))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$`)

// semver is a parsed semver-ish version: numbers and pre-release parts.
type semver struct {
	num [3]string // decimal digits without leading zeros ("" = 0)
	pre []string
}

func parseSemver(s string) (semver, bool) {
	m := semverish.FindStringSubmatch(s)
	if m == nil {
		return semver{}, false
	}
	v := semver{num: [3]string{m[1], m[2], m[3]}}
	if m[4] != "" {
		v.pre = strings.Split(m[4], ".")
	}
	return v, true
}

// compareNumeric compares decimal strings without leading zeros of any
// length ("" is 0).
func compareNumeric(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
}

func isNumeric(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// compareSemver orders as semantic versioning does: numbers, then a
// version with a pre-release before the same version without one,
// pre-release identifiers numeric before alphanumeric.
func compareSemver(a, b semver) int {
	for i := range a.num {
		if c := compareNumeric(a.num[i], b.num[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		x, y := a.pre[i], b.pre[i]
		xn, yn := isNumeric(x), isNumeric(y)
		var c int
		switch {
		case xn && yn:
			c = compareNumeric(x, y)
		case xn:
			c = -1
		case yn:
			c = 1
		default:
			c = cmp.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.pre), len(b.pre))
}

// SortVersions sorts version label values from lowest to highest: by
// semantic versioning when every value is a semver-ish version (v1, v1.2,
// 1.2.3, v2.0.0-rc.1), else by string order; equal versions (v1, v1.0.0)
// by string order.
func SortVersions(vs []string) {
	parsed := make(map[string]semver, len(vs))
	for _, v := range vs {
		p, ok := parseSemver(v)
		if !ok {
			slices.Sort(vs)
			return
		}
		parsed[v] = p
	}
	slices.SortFunc(vs, func(a, b string) int {
		return cmp.Or(compareSemver(parsed[a], parsed[b]), cmp.Compare(a, b))
	})
}

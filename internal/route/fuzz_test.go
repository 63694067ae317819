package route

import (
	"regexp"
	"testing"
)

// FuzzRegexMatcher checks that the literal fast paths agree with RE2 full
// match for any expression and value.
func FuzzRegexMatcher(f *testing.F) {
	seeds := [][2]string{
		{".*tenantGray=1.*", "a; tenantGray=1; b"}, {"v1", "v1"}, {"v1|v2", "v2"}, {"^qa-.*$", "qa-\n"},
		{".*@corp\\.com", "x@corp.com"}, {"user-[0-9]{3}", "user-123"}, {"(?s).*x.*", "\nx\n"},
		{"a?b", "b"}, {"[ab]c|d", "bc"}, {"(?i)Gray", "gRAY"}, {"", ""}, {"\\Aab\\z", "ab"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, expr, value string) {
		ref, err := regexp.Compile("^(?:" + expr + ")$")
		m, err2 := compileRegex(expr, false)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("compile disagreement for %q: %v vs %v", expr, err, err2)
		}
		if err != nil {
			return
		}
		if got, want := m.match(value), ref.MatchString(value); got != want {
			t.Fatalf("regex %q value %q: got %v, want %v (kind %d)", expr, value, got, want, m.kind)
		}
	})
}

// FuzzEvaluate sends arbitrary requests through a compiled table: it must
// never panic, and a matched result always carries a route.
func FuzzEvaluate(f *testing.F) {
	tab := Compile(inputYAML(f, seed004+"\n---\n"+matchConfig))
	f.Add("192.168.1.106:86", "/?lane=gray", "GET", "version", "v1", "istio-system/app-gw")
	f.Add("appb", "/items/1", "POST", "cookie", "tenantGray=1", "")
	f.Add("[::1]:80", "", "", "", "", "mesh")
	f.Fuzz(func(t *testing.T, authority, path, method, hk, hv, gw string) {
		r := &Request{Authority: authority, Path: path, Method: method, Header: map[string][]string{}, Source: Source{Gateway: gw}}
		if hk != "" {
			r.Header[headerKey(hk)] = []string{hv}
		}
		res := tab.Evaluate(r)
		if (res.Reason == Matched) != (res.Route != nil) {
			t.Fatalf("reason %v with route %v", res.Reason, res.Route)
		}
		tab.PassthroughHost(r)
		tab.RejectedFor(r)
	})
}

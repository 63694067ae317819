package route

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const matchConfig = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: shop}
spec:
  hosts: [api]
  http:
  - name: exact-path
    match: [{uri: {exact: /exact}}]
    route: [{destination: {host: api, subset: a}}]
  - name: prefix-with-query
    match: [{uri: {prefix: "/q?x=1"}}]
    route: [{destination: {host: api, subset: b}}]
  - name: regex-path
    match: [{uri: {regex: "/items/[0-9]+"}}]
    route: [{destination: {host: api, subset: c}}]
  - name: nocase
    match: [{uri: {prefix: /CASE}, ignoreUriCase: true}]
    route: [{destination: {host: api, subset: d}}]
  - name: nocase-exact
    match: [{uri: {exact: /Exact-NoCase}, ignoreUriCase: true}]
    route: [{destination: {host: api, subset: d}}]
  - name: nocase-regex
    match: [{uri: {regex: "/Rx/[a-z]+"}, ignoreUriCase: true}]
    route: [{destination: {host: api, subset: d}}]
  - name: header-regex-full
    match: [{headers: {version: {regex: v1}}}]
    route: [{destination: {host: api, subset: e}}]
  - name: header-prefix-and-method
    match: [{headers: {x-user: {prefix: qa-}}, method: {exact: POST}}]
    route: [{destination: {host: api, subset: f}}]
  - name: cookie
    match: [{headers: {cookie: {regex: ".*tenantGray=1.*"}}}]
    route: [{destination: {host: api, subset: g}}]
  - name: query
    match: [{queryParams: {lane: {exact: gray}}}]
    route: [{destination: {host: api, subset: h}}]
  - name: without
    match: [{uri: {prefix: /wo}, withoutHeaders: {x-stable: {}}}]
    route: [{destination: {host: api, subset: i}}]
  - name: source
    match: [{sourceLabels: {app: web, version: v2}}, {sourceNamespace: qa}]
    route: [{destination: {host: api, subset: j}}]
  - name: port-and-scheme
    match: [{port: 8443, scheme: {exact: https}}]
    route: [{destination: {host: api, subset: k}}]
  - name: authority
    match: [{authority: {prefix: "api.shop"}}]
    route: [{destination: {host: api, subset: l}}]
  - name: present
    match: [{headers: {x-debug: {}}}]
    route: [{destination: {host: api, subset: m}}]
  - name: default
    route: [{destination: {host: api, subset: z}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: shop}
spec:
  host: api
  subsets: [{name: a}, {name: b}, {name: c}, {name: d}, {name: e}, {name: f}, {name: g}, {name: h}, {name: i}, {name: j}, {name: k}, {name: l}, {name: m}, {name: z}]
`

func TestMatchSemantics(t *testing.T) {
	tab := compileYAML(t, matchConfig)
	web2 := Source{Labels: map[string]string{"app": "web", "version": "v2", "extra": "x"}, Namespace: "shop"}
	tests := []struct {
		name string
		req  *Request
		want string // route name
	}{
		{"exact ignores query", req("GET", "http://api/exact?a=b"), "exact-path"},
		{"exact is exact", req("GET", "http://api/exact/more"), "default"},
		{"prefix sees the query string", req("GET", "http://api/q?x=1&y=2"), "prefix-with-query"},
		{"prefix without the query", req("GET", "http://api/q"), "default"},
		{"regex full match", req("GET", "http://api/items/42"), "regex-path"},
		{"regex must match all of the path", req("GET", "http://api/items/42/x"), "default"},
		{"ignoreUriCase", req("GET", "http://api/case/x"), "nocase"},
		{"ignoreUriCase on exact", req("GET", "http://api/EXACT-nocase"), "nocase-exact"},
		{"ignoreUriCase leaves regex case-sensitive (Envoy ignores case_sensitive for safe_regex)", req("GET", "http://api/rx/abc"), "default"},
		{"regex with ignoreUriCase matches its own case", req("GET", "http://api/Rx/abc"), "nocase-regex"},
		{"regex with ignoreUriCase: classes keep their case", req("GET", "http://api/Rx/ABC"), "default"},
		{"header regex v1", req("GET", "http://api/", "version: v1"), "header-regex-full"},
		{"header regex is anchored", req("GET", "http://api/", "version: v10"), "default"},
		{"fields in a block are ANDed", req("GET", "http://api/", "x-user: qa-1"), "default"},
		{"prefix and method", req("POST", "http://api/", "x-user: qa-1"), "header-prefix-and-method"},
		{"cookie regex", req("GET", "http://api/", "Cookie: tenantGray=1; rememberMe="), "cookie"},
		{"cookie regex, other value", req("GET", "http://api/", "Cookie: tenantGray=0; rememberMe="), "default"},
		{"query param", req("GET", "http://api/p?a=1&lane=gray"), "query"},
		{"query param first value wins", req("GET", "http://api/p?lane=blue&lane=gray"), "default"},
		{"withoutHeaders absent", req("GET", "http://api/wo"), "without"},
		{"withoutHeaders present", req("GET", "http://api/wo", "x-stable: 1"), "default"},
		{"header present", req("GET", "http://api/", "x-debug: "), "present"},
	}
	srcTests := []struct {
		name string
		src  Source
		want string
	}{
		{"sourceLabels subset", web2, "source"},
		{"sourceLabels must all match", Source{Labels: map[string]string{"app": "web"}, Namespace: "shop"}, "authority"},
		{"blocks are ORed: sourceNamespace", Source{Namespace: "qa"}, "source"},
	}
	for _, tc := range srcTests {
		r := req("GET", "http://api.shop/")
		r.Source = tc.src
		tests = append(tests, struct {
			name string
			req  *Request
			want string
		}{tc.name, r, tc.want})
	}
	https := req("GET", "https://api.shop.svc.cluster.local:8443/")
	https.Port = 8443
	tests = append(tests, struct {
		name string
		req  *Request
		want string
	}{"port and scheme", https, "port-and-scheme"})
	for i := range tests {
		if tests[i].req.Source.Namespace == "" {
			tests[i].req.Source.Namespace = "shop"
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := tab.Evaluate(tc.req)
			got := ""
			if res.Route != nil {
				got = res.Route.Name
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("route (-want +got):\n%s", diff)
			}
		})
	}
	if len(tab.Findings) != 0 {
		t.Errorf("unexpected findings: %v", tab.Findings)
	}
}

func TestStringMatcherShapes(t *testing.T) {
	tests := []struct {
		regex string
		kind  matchKind
		yes   []string
		no    []string
	}{
		{"v1", kindExact, []string{"v1"}, []string{"v10", "xv1", ""}},
		{".*tenantGray=1.*", kindContains, []string{"tenantGray=1", "a; tenantGray=1; b"}, []string{"tenantGray=0", "a\ntenantGray=1"}},
		{"(?s).*tenantGray=1.*", kindContains, []string{"a\ntenantGray=1"}, []string{"tenantgray=1"}},
		{"^qa-.*$", kindPrefix, []string{"qa-", "qa-1"}, []string{"xqa-"}},
		{".*@corp\\.com", kindSuffix, []string{"a@corp.com"}, []string{"a@corp.com.cn"}},
		{"v1|v2|canary", kindOneOf, []string{"v1", "v2", "canary"}, []string{"v3", "v1|v2"}},
		{"user-[0-9]{3}", kindRegex, []string{"user-123"}, []string{"user-12", "user-1234", "xuser-123"}},
		{"(?i)gray", kindRegex, []string{"GRAY", "gray"}, []string{"grey"}},
		{"", kindExact, []string{""}, []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.regex, func(t *testing.T) {
			m, err := compileRegex(tc.regex, false)
			if err != nil {
				t.Fatal(err)
			}
			if m.kind != tc.kind {
				t.Errorf("kind = %d, want %d", m.kind, tc.kind)
			}
			for _, v := range tc.yes {
				if !m.match(v) {
					t.Errorf("%q should match %q", tc.regex, v)
				}
			}
			for _, v := range tc.no {
				if m.match(v) {
					t.Errorf("%q should not match %q", tc.regex, v)
				}
			}
		})
	}
}

func TestInvalidRegexRejectsVirtualService(t *testing.T) {
	tab := compileYAML(t, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad}
spec:
  hosts: [api]
  http:
  - match: [{headers: {x: {regex: "a(b"}}}]
    route: [{destination: {host: api}}]
`)
	res := tab.Evaluate(req("GET", "http://api/", "x: ab"))
	if diff := cmp.Diff(Passthrough, res.Reason); diff != "" {
		t.Errorf("reason (-want +got):\n%s", diff)
	}
	got := tab.RejectedFor(req("GET", "http://api/"))
	if len(got) != 1 || got[0].Path != "spec.http[0].match[0].headers.x" {
		t.Fatalf("RejectedFor = %v", got)
	}
}

// An invalid regex is reported with the pattern as written and Go's
// message about it, never the anchored form the matcher compiles.
func TestInvalidRegexMessage(t *testing.T) {
	tests := []struct {
		regex string
		fold  bool
		want  string
	}{
		{"tr(ue", false, "invalid RE2 regex \"tr(ue\": error parsing regexp: missing closing ): `tr(ue`"},
		{"tr(ue", true, "invalid RE2 regex \"tr(ue\": error parsing regexp: missing closing ): `tr(ue`"},
		{"[z-a]", false, "invalid RE2 regex \"[z-a]\": error parsing regexp: invalid character class range: `z-a`"},
		// Balanced only once wrapped: the anchored form would have hidden it.
		{"a)(?:b", false, "invalid RE2 regex \"a)(?:b\": error parsing regexp: unexpected ): `a)(?:b`"},
	}
	for _, tc := range tests {
		_, err := compileRegex(tc.regex, tc.fold)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("compileRegex(%q, %v) error (-want +got):\n%s", tc.regex, tc.fold, diff)
		}
	}
}

package springprops

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEnvName(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"spring.cloud.openfeign.client.config.order-service.url", "SPRING_CLOUD_OPENFEIGN_CLIENT_CONFIG_ORDERSERVICE_URL"},
		{"my.service[0].other", "MY_SERVICE_0_OTHER"},
		{"my.list[1]", "MY_LIST_1"},
		{"order.discountRate", "ORDER_DISCOUNTRATE"},
		{"server.port", "SERVER_PORT"},
	} {
		if got := EnvName(tc.key); got != tc.want {
			t.Errorf("EnvName(%q) = %q, want %q", tc.key, got, tc.want)
		}
		if !ValidEnvName(EnvName(tc.key)) {
			t.Errorf("EnvName(%q) is not a valid variable name", tc.key)
		}
	}
	if got, want := EnvNames("order-service.url"), []string{"ORDERSERVICE_URL", "ORDER_SERVICE_URL"}; !cmp.Equal(got, want) {
		t.Errorf("EnvNames = %q, want %q", got, want)
	}
	if got := EnvNames("server.port"); !cmp.Equal(got, []string{"SERVER_PORT"}) {
		t.Errorf("EnvNames(server.port) = %q", got)
	}
	for _, bad := range []string{"", "1A", "A-B", "A.B", "A B"} {
		if ValidEnvName(bad) {
			t.Errorf("ValidEnvName(%q) = true", bad)
		}
	}
}

func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"Order-Service.URL", "orderservice.url"},
		{"a.b[0].c", "a.b[0].c"},
		{"a.b.[0]", "a.b[0]"},
	} {
		if got := Canonical(tc.key); got != tc.want {
			t.Errorf("Canonical(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

func TestFormatOf(t *testing.T) {
	for id, want := range map[string]string{"a.yaml": YAML, "a.YML": YAML, "a.properties": Properties, "a.json": "", "a": ""} {
		if got := FormatOf(id); got != want {
			t.Errorf("FormatOf(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, format, in string
		want             map[string]string
		wantErr          string
	}{
		{name: "yaml nested and lists", format: YAML, in: `
order-service:
  url: http://gray-order-service:8082
spring:
  cloud.discovery:
    client:
      simple:
        instances:
          pay:
            - uri: http://pay:80
empty:
`, want: map[string]string{
			"order-service.url": "http://gray-order-service:8082",
			"spring.cloud.discovery.client.simple.instances.pay[0].uri": "http://pay:80",
			"empty": "",
		}},
		{name: "yaml later document wins", format: YAML, in: "a: 1\n---\na: 2\nb: 3\n",
			want: map[string]string{"a": "2", "b": "3"}},
		{name: "yaml merge key", format: YAML, in: "base: &b\n  x: 1\nuse:\n  <<: *b\n  y: 2\n",
			want: map[string]string{"base.x": "1", "use.x": "1", "use.y": "2"}},
		{name: "yaml merge key loses to an explicit key", format: YAML, in: "b: &b\n  url: x\n  port: 1\nsvc: {url: mine, <<: *b}\n",
			want: map[string]string{"b.url": "x", "b.port": "1", "svc.url": "mine", "svc.port": "1"}},
		{name: "yaml merge key list, earlier wins", format: YAML, in: "a: &a\n  url: a\nb: &b\n  url: b\n  port: 2\nmulti:\n  <<: [*a, *b]\n",
			want: map[string]string{"a.url": "a", "b.url": "b", "b.port": "2", "multi.url": "a", "multi.port": "2"}},
		{name: "yaml merged map is replaced whole, not merged into", format: YAML,
			in: "base: &b\n  pool: {size: 5, timeout: 30}\n  url: x\nsvc:\n  <<: *b\n  pool: {size: 9}\n",
			want: map[string]string{"base.pool.size": "5", "base.pool.timeout": "30", "base.url": "x",
				"svc.pool.size": "9", "svc.url": "x"}},
		{name: "yaml merge of a map with its own merge key", format: YAML,
			in:   "a: &a {x: 1, y: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b}\n",
			want: map[string]string{"a.x": "1", "a.y": "1", "b.x": "1", "b.y": "2", "c.x": "1", "c.y": "2"}},
		{name: "yaml merge key of a scalar", format: YAML, in: "a: &a 1\nb:\n  <<: *a\n",
			wantErr: "line 1: a merge key (<<) takes a map or a list of maps"},
		{name: "yaml own key after a merged one takes its value", format: YAML,
			in:   "base: &b {a.b: 1}\nsvc: {<<: *b, a: {b: 2}}\n",
			want: map[string]string{"base.a.b": "1", "svc.a.b": "2"}},
		{name: "yaml anchor that contains itself", format: YAML, in: "a: &a {b: *a}\n", wantErr: "line 1: an alias inside its own anchor"},
		{name: "yaml anchor that merges itself", format: YAML, in: "a: &a {<<: *a}\n", wantErr: "line 1: an alias inside its own anchor"},
		{name: "yaml key given twice", format: YAML, in: "a: 1\nb: 2\na: 3\n", wantErr: "line 3: key \"a\" given twice"},
		{name: "yaml aliases of aliases", format: YAML, in: "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
			wantErr: "more than 1048576 values with the aliases expanded"},
		{name: "yaml error has line", format: YAML, in: "a: 1\nb: [\n", wantErr: "line"},
		{name: "yaml scalar document", format: YAML, in: "just text\n", wantErr: "line 1: a document that is a single value"},
		{name: "properties", format: Properties, in: "# comment\n! also\na=1\nb : 2\nc 3\nlong = one \\\n   two\nesc\\ key=x\\ty\nu=\\u00e9\nempty=\n",
			want: map[string]string{"a": "1", "b": "2", "c": "3", "long": "one two", "esc key": "x\ty", "u": "é", "empty": ""}},
		{name: "properties bad unicode", format: Properties, in: "a=1\nb=\\u12\n", wantErr: "line 2: malformed"},
		{name: "unknown format", format: "json", in: "{}", wantErr: "unknown configuration format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in), tc.format)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Parse (-want +got):\n%s", d)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	props := map[string]string{"order-service.url": "http://from-config", "spring.cloud.openfeign.client.config.Pay.url": "http://pay"}
	env := map[string]string{"ORDERSERVICE_URL": "http://from-env"}
	lookupEnv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tc := range []struct {
		key  string
		env  func(string) (string, bool)
		want string
		ok   bool
	}{
		{"order-service.url", nil, "http://from-config", true},
		{"orderService.url", nil, "http://from-config", true},
		{"order-service.url", lookupEnv, "http://from-env", true},
		{"spring.cloud.openfeign.client.config.pay.url", lookupEnv, "http://pay", true},
		{"missing", lookupEnv, "", false},
	} {
		got, ok := Lookup(props, tc.env, tc.key)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %q, %v, want %q, %v", tc.key, got, ok, tc.want, tc.ok)
		}
	}
}

func ptr(s string) *string { return &s }

func TestSet(t *testing.T) {
	for _, tc := range []struct {
		name, format, in string
		set              map[string]*string
		want             string
		wantErr          string
	}{
		{name: "yaml keeps comments and other keys", format: YAML,
			in: "# shared\nserver:\n  port: 8080 # the port\nspring:\n  cloud:\n    openfeign:\n      client:\n        config:\n          order-service:\n            url: http://old\n",
			set: map[string]*string{
				"spring.cloud.openfeign.client.config.order-service.url":    ptr("http://gray-order-service:8082"),
				"spring.cloud.openfeign.client.config.pay.url":              ptr("http://pay:80"),
				"spring.cloud.discovery.client.simple.instances.pay[0].uri": ptr("http://pay:80"),
			},
			want: "# shared\nserver:\n  port: 8080 # the port\nspring:\n  cloud:\n    openfeign:\n      client:\n        config:\n          order-service:\n            url: http://gray-order-service:8082\n          pay:\n            url: http://pay:80\n    discovery:\n      client:\n        simple:\n          instances:\n            pay:\n              - uri: http://pay:80\n"},
		{name: "yaml dotted keys matched in relaxed form", format: YAML,
			in:   "spring.cloud:\n  openfeign.client.config.orderService.url: http://old\n",
			set:  map[string]*string{"spring.cloud.openfeign.client.config.order-service.url": ptr("http://new")},
			want: "spring.cloud:\n  openfeign.client.config.orderService.url: http://new\n"},
		{name: "yaml unchanged is byte for byte", format: YAML,
			in:   "a:   {b: x}   # odd spacing\n",
			set:  map[string]*string{"a.b": ptr("x"), "gone": nil},
			want: "a:   {b: x}   # odd spacing\n"},
		{name: "yaml delete", format: YAML, in: "a:\n  b: 1\n  c: 2\n",
			set: map[string]*string{"a.b": nil}, want: "a:\n  c: 2\n"},
		{name: "yaml empty document", format: YAML, in: "",
			set: map[string]*string{"x.y": ptr("true")}, want: "x:\n  y: \"true\"\n"},
		{name: "yaml bracketed map key keeps its brackets", format: YAML, in: "",
			set:  map[string]*string{"spring.cloud.openfeign.client.config.[Pay.Svc].url": ptr("http://pay:80")},
			want: "spring:\n  cloud:\n    openfeign:\n      client:\n        config:\n          '[Pay.Svc]':\n            url: http://pay:80\n"},
		{name: "yaml list gap", format: YAML, in: "a: 1\n",
			set: map[string]*string{"l[2]": ptr("x")}, wantErr: "l[2]: index 2 of a list that does not exist yet"},
		{name: "properties replace, add, delete, keep comments", format: Properties,
			in:   "# comment\norder-service.url=http://old\nkeep = 1\ndrop=2\n",
			set:  map[string]*string{"orderService.url": ptr("http://new"), "drop": nil, "new.key": ptr(" lead")},
			want: "# comment\norder-service.url=http://new\nkeep = 1\nnew.key=\\ lead\n"},
		{name: "properties unchanged", format: Properties, in: "a = 1\r\n",
			set: map[string]*string{"a": ptr("1")}, want: "a = 1\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Set([]byte(tc.in), tc.format, tc.set)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, string(got)); d != "" {
				t.Errorf("Set (-want +got):\n%s", d)
			}
			again, err := Set(got, tc.format, tc.set)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(got) {
				t.Errorf("setting again changed the document:\n%s", again)
			}
			props, err := Parse(got, tc.format)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.set {
				gotV, ok := Lookup(props, nil, k)
				if v == nil && ok {
					t.Errorf("%s still set to %q", k, gotV)
				}
				if v != nil && gotV != *v {
					t.Errorf("%s = %q, want %q", k, gotV, *v)
				}
			}
		})
	}
}

// FuzzProperties: whatever the document, Set then Parse reads back the
// value that was set, and Set never panics.
func FuzzProperties(f *testing.F) {
	f.Add("a=1\nb\\\n c\n", "k.x", "v a\\l=ue")
	f.Add("#c\n\\u0041=x", "A", "")
	f.Fuzz(func(t *testing.T, doc, key, value string) {
		if key == "" || strings.ContainsAny(key, "[]") {
			return
		}
		out, err := Set([]byte(doc), Properties, map[string]*string{key: &value})
		if err != nil {
			return
		}
		props, err := Parse(out, Properties)
		if err != nil {
			t.Fatalf("Parse of Set's output: %v\n%q", err, out)
		}
		if got, _ := Lookup(props, nil, key); got != value && Canonical(key) != "" {
			t.Fatalf("read back %q, want %q from\n%q", got, value, out)
		}
	})
}

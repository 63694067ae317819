package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPackageOf(t *testing.T) {
	for _, tt := range []struct{ name, want string }{
		{"k8s.io/api/core/v1.(*PodSpec).Unmarshal", "k8s.io/api/core/v1"},
		{"runtime.mallocgc", "runtime"},
		{"type:*k8s.io/api/apps/v1.Deployment", "k8s.io/api/apps/v1"},
		{"type:.eq.github.com/graylane/graylane/internal/nacosserver.instance", "github.com/graylane/graylane/internal/nacosserver"},
		{"go:itab.*k8s.io/api/apps/v1.ControllerRevision,github.com/gogo/protobuf/proto.Message", "k8s.io/api/apps/v1"},
		{"slices.SortFunc[[]k8s.io/api/core/v1.Pod,go.shape.func(k8s.io/api/core/v1.Pod) int]", "slices"},
		{"gopkg.in/yaml%2ev3.(*parser).parse", "gopkg.in/yaml.v3"},
		{"go:func.*", "(linker)"},
		{"type:struct { io.Reader; io.Writer }", "(linker)"},
		{"$f64.3ff0000000000000", "(linker)"},
	} {
		if got := packageOf(tt.name); got != tt.want {
			t.Errorf("packageOf(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestModuleOf(t *testing.T) {
	mods := []string{"github.com/graylane/graylane", "k8s.io/api", "github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/stdlib-not-a-module"}
	for _, tt := range []struct{ pkg, want string }{
		{"github.com/graylane/graylane/internal/gate", "github.com/graylane/graylane"},
		{"github.com/jackc/pgx/v5/pgtype", "github.com/jackc/pgx/v5"},
		{"k8s.io/api", "k8s.io/api"},
		{"k8s.io/apimachinery/pkg/runtime", "(no module in the build info)"}, // not k8s.io/api: a prefix, but not at a slash
		{"net/http", "std"},
		{"(linker)", "(linker)"},
	} {
		if got := moduleOf(tt.pkg, mods); got != tt.want {
			t.Errorf("moduleOf(%q) = %q, want %q", tt.pkg, got, tt.want)
		}
	}
}

func TestShortestChains(t *testing.T) {
	imports := map[string][]string{
		"main": {"a", "b"},
		"a":    {"x/deep"},
		"b":    {"x/top", "c"},
		"c":    {"y/pkg"},
	}
	module := func(p string) string {
		switch p {
		case "x/deep", "x/top":
			return "x"
		case "y/pkg":
			return "y"
		}
		return "main"
	}
	got := shortestChains("main", imports, module)
	want := map[string][]string{
		"main": {"main"},
		"x":    {"main", "a", "x/deep"}, // breadth first: a's import is reached before b's
		"y":    {"main", "b", "c", "y/pkg"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chains (-want +got):\n%s", diff)
	}
}

package expand_test

import (
	"bufio"
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestImports holds the layering that replaced internal/inspect (issue
// 12): the pure pipeline and lint link no shell, the CLI package links no
// part of the core but the loader, and the sample app links no routing,
// lane, render or simulation code.
func TestImports(t *testing.T) {
	root, module := moduleRoot(t)
	shells := []string{"cmd/graylane", "internal/cli", "internal/embedded", "internal/gate", "internal/gateclient",
		"internal/kubeapply", "internal/localapi", "internal/render/command", "internal/route/command", "internal/simulate/command",
		"internal/adminapi", "internal/dataplane", "internal/measure", "internal/promstore", "internal/nacosserver", "internal/sample"}
	core := []string{"internal/expand", "internal/lane", "internal/render", "internal/route", "internal/simulate"}
	tests := []struct {
		pkg         string
		mustNotLink []string
	}{
		{"internal/expand", shells},
		{"internal/lint", shells},
		{"internal/render", shells},
		{"internal/route", shells},
		{"internal/simulate", shells},
		{"internal/rollouttraffic", shells},
		{"internal/plan", shells},
		{"internal/cli", core},
		{"internal/sample", core},
	}
	for _, tc := range tests {
		t.Run(tc.pkg, func(t *testing.T) {
			links := deps(t, root, module, tc.pkg, map[string]bool{})
			var got []string
			for _, p := range tc.mustNotLink {
				if links[p] {
					got = append(got, p)
				}
			}
			if diff := cmp.Diff([]string(nil), got); diff != "" {
				t.Errorf("%s links packages it must not (-want +got):\n%s", tc.pkg, diff)
			}
		})
	}
	if gone, _ := filepath.Glob(filepath.Join(root, "internal", "inspect", "*.go")); len(gone) > 0 {
		t.Errorf("internal/inspect has Go files again (%v): its parts live in internal/cli, internal/expand and the commands' packages", gone)
	}
}

// deps returns the module's packages that pkg (a path inside the module)
// links, test files left out, pkg itself included.
func deps(t *testing.T, root, module, pkg string, seen map[string]bool) map[string]bool {
	t.Helper()
	if seen[pkg] {
		return seen
	}
	seen[pkg] = true
	bp, err := build.ImportDir(filepath.Join(root, filepath.FromSlash(pkg)), 0)
	if err != nil {
		t.Fatalf("%s: %v", pkg, err)
	}
	for _, imp := range bp.Imports {
		if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
			deps(t, root, module, rel, seen)
		}
	}
	return seen
}

// moduleRoot finds the directory of go.mod above the test's directory
// and the module path it declares.
func moduleRoot(t *testing.T) (dir, module string) {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if m, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
					return dir, strings.Trim(strings.TrimSpace(m), `"`)
				}
			}
			t.Fatalf("%s/go.mod: no module line", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

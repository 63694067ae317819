package release

import (
	"go/build"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestImports holds release's place in the layering (issue 12): it links
// no shell - no runtime, admin API, gate, cluster client or metric
// provider; a shell hands it those through its interfaces - and none of
// its files opens a connection or a listener itself.
func TestImports(t *testing.T) {
	const module = "github.com/graylane/graylane/"
	shells := []string{"internal/embedded", "internal/localapi", "internal/adminapi", "internal/dataplane", "internal/nacosserver", "internal/gate", "internal/gateclient", "internal/kubeapply",
		"internal/cli", "internal/measure", "internal/promstore", "internal/sample", "cmd/graylane"}
	links := map[string]bool{}
	var walk func(dir string)
	walk = func(dir string) {
		if links[dir] {
			return
		}
		links[dir] = true
		bp, err := build.ImportDir(filepath.Join("..", "..", filepath.FromSlash(dir)), 0)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, imp := range bp.Imports {
			if rel, ok := strings.CutPrefix(imp, module); ok {
				walk(rel)
			}
		}
	}
	walk("internal/release")
	var got []string
	for _, s := range shells {
		if links[s] {
			got = append(got, s)
		}
	}
	if diff := cmp.Diff([]string(nil), got); diff != "" {
		t.Errorf("internal/release links shells (-want +got):\n%s", diff)
	}
	bp, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range []string{"net", "net/http", "os", "os/exec"} {
		if slices.Contains(bp.Imports, imp) {
			t.Errorf("internal/release imports %s: its I/O belongs to the shell", imp)
		}
	}
}

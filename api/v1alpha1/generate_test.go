package v1alpha1_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/kubetest"
)

// The committed DeepCopy methods and CRDs are what `make generate` makes
// from the current markers: regenerate into a temporary folder and compare.
// Skips when controller-gen is missing or stale (fails under CI=true; `make
// deps` builds it).
func TestGeneratedFilesUpToDate(t *testing.T) {
	root, err := kubetest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", filepath.Join(root, "hack", "build-tools.sh"), "--check").CombinedOutput(); err != nil {
		msg := "controller-gen missing or stale (run `make deps` or hack/build-tools.sh): " + string(out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	tmp := t.TempDir()
	objDir, crdDir := filepath.Join(tmp, "object"), filepath.Join(tmp, "crd")
	cmd := exec.Command("bash", filepath.Join(root, "hack", "generate.sh"), objDir, crdDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/generate.sh: %v\n%s", err, out)
	}
	compareDir(t, objDir, filepath.Join(root, "api", "v1alpha1"), "zz_generated.deepcopy.go")
	compareDir(t, crdDir, filepath.Join(root, "config", "crd", "bases"), "")
}

// compareDir says which files of the generated folder differ from the
// committed folder; only is the one file to compare, or "" for all of both
// folders.
func compareDir(t *testing.T, generated, committed, only string) {
	t.Helper()
	names := func(dir string) []string {
		if only != "" {
			return []string{only}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	if diff := cmp.Diff(names(generated), names(committed)); diff != "" {
		t.Errorf("files in %s (-generated +committed):\n%s\nrun `make generate` and commit the result", committed, diff)
		return
	}
	for _, n := range names(generated) {
		want, err := os.ReadFile(filepath.Join(generated, n))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(committed, n))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s is stale (-generated +committed):\n%s\nrun `make generate` and commit the result", filepath.Join(committed, n), diff)
		}
	}
}

package embedded

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// MakeTempDir removes the folders its prefix names whose owner process is
// gone, and leaves live owners' folders and folders without an owner.
func TestMakeTempDirRemovesStale(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	mk := func(name, owner string) string {
		dir := filepath.Join(tmp, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			writeFile(t, filepath.Join(dir, ownerFile), owner+"\n")
		}
		return dir
	}
	stale := mk("graylane-x-1", strconv.Itoa(dead.Process.Pid))
	live := mk("graylane-x-2", strconv.Itoa(os.Getpid()))
	unowned := mk("graylane-x-3", "")
	other := mk("other-1", strconv.Itoa(dead.Process.Pid))
	dir, err := MakeTempDir("graylane-x-")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir  string
		want bool
	}{{stale, false}, {live, true}, {unowned, true}, {other, true}, {dir, true}} {
		_, err := os.Stat(tc.dir)
		if got := err == nil; got != tc.want {
			t.Errorf("%s exists: %v, want %v", filepath.Base(tc.dir), got, tc.want)
		}
	}
}

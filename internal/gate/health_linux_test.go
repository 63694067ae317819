//go:build linux

package gate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestHealthFullDisk: with the SQLite file on a small tmpfs that is then
// filled up, writes answer 503, /readyz and the metrics say degraded
// (write) while decisions keep coming; freeing the space clears it. It
// needs to mount a tmpfs (root), and skips otherwise.
func TestHealthFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	g := healthGate(t, filepath.Join(dir, "gate.db"))
	filler := filepath.Join(dir, "filler")
	if err := fill(filler); err != nil {
		t.Fatal(err)
	}
	// SQLite may still have room in pages it holds; writes stop at the
	// first one that needs a new page.
	var code int
	var body string
	for i := 0; i < 500; i++ {
		note := strings.Repeat("n", 500)
		code, body = g.do(t, "POST", "/v1/whitelist", fmt.Sprintf(`{"kind":"user","id":"u%d","lane":"v2","note":%q}`, i, note))
		if code != 201 {
			break
		}
	}
	if code != 503 || !strings.Contains(body, "store_unavailable") || !strings.Contains(body, "full") {
		t.Fatalf("write on a full disk = %d %s, want 503 store_unavailable (full)", code, body)
	}
	checkDegraded(t, g, CheckWrite, "full")
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	checkRecovered(t, g)
	g.mustDo(t, 201, "POST", "/v1/whitelist", `{"kind":"user","id":"after","lane":"v2"}`)
}

// fill writes path until the file system is full.
func fill(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return err
		}
	}
}

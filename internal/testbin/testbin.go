// Package testbin builds the graylane binary once for tests that run it
// as a process (the embedded runtime starts `graylane sample` for every
// replica of the built-in sample app).
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Main builds graylane into a temporary folder, runs the tests with its
// path, and removes it. Use it as the body of TestMain.
func Main(m *testing.M, path *string) {
	dir, err := os.MkdirTemp("", "graylane-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testbin: %v\n", err)
		os.Exit(1)
	}
	*path = filepath.Join(dir, "graylane")
	out, err := exec.Command("go", "build", "-o", *path, "github.com/graylane/graylane/cmd/graylane").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testbin: build graylane: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

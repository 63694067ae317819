package embedded

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ownerFile names the process that made a temporary folder.
const ownerFile = ".graylane-owner"

// MakeTempDir creates a temporary folder PREFIX* that names this process
// as its owner. A process stopped cleanly removes its folder itself; one
// killed with SIGKILL cannot, so the folders of the same prefix whose
// owner is gone are removed here first.
func MakeTempDir(prefix string) (string, error) {
	removeStaleTempDirs(prefix)
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// removeStaleTempDirs removes PREFIX* folders whose owner process is gone.
// A folder without an owner file (someone else's, or one being made) is
// left alone.
func removeStaleTempDirs(prefix string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// processAlive: signal 0 reaches the process, or it exists but belongs to
// another user.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

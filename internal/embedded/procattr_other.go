//go:build !linux

package embedded

import (
	"os/exec"
	"syscall"
)

// supervised: only Linux has parent-death signals; elsewhere external
// commands run directly and only a clean stop of the runtime stops them.
const supervised = false

func directAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func supervisorAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// awaitExit waits for a replica's process to end, then kills what is left
// of its process group.
func awaitExit(cmd *exec.Cmd) error {
	err := cmd.Wait()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	return err
}

package embedded

import (
	"os/exec"
	"syscall"
	"unsafe"
)

// supervised: external commands run under `graylane internal-supervise`
// (see Supervise), which stops their whole process group when the runtime
// dies.
const supervised = true

// directAttr is for a child the runtime starts itself (the built-in
// sample): its own process group, killed when the runtime dies.
func directAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// supervisorAttr is for the supervisor of an external command: its own
// process group, and SIGTERM when the runtime dies, which the supervisor
// turns into stopping the group.
func supervisorAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// awaitExit waits for a replica's process (the leader of its process
// group) to end, kills what is left of its group (a shell's background
// children: as on Kubernetes, a container's other processes end with its
// main process), and reaps it. The group is killed while the leader is a
// zombie, so its id cannot have been reused meanwhile.
func awaitExit(cmd *exec.Cmd) error {
	pid := cmd.Process.Pid
	const pPID, wNoWait = 1, 0x01000000
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|wNoWait, 0, 0)
		if errno != syscall.EINTR {
			break
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return cmd.Wait()
}

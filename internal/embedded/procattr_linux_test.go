package embedded

import "syscall"

// dieWithTest makes a started server exit when the test binary dies.
func dieWithTest() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

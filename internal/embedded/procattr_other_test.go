//go:build !linux

package embedded

import "syscall"

// dieWithTest: only Linux can tie a child's life to its parent's; elsewhere
// the test's cleanup stops the server.
func dieWithTest() *syscall.SysProcAttr { return nil }

//go:build unix

package store

import (
	"fmt"
	"os"
	"syscall"
)

// ownerCanReadWrite fails when this process owns the file but its mode
// denies the owner reading or writing it. Opening the file tells the same
// for other users, but not for root, which the mode does not stop (a
// chmod 000 file would fail every other process and any restart as
// another user).
func ownerCanReadWrite(fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) != os.Geteuid() {
		return nil
	}
	if perm := fi.Mode().Perm(); perm&0o600 != 0o600 {
		return fmt.Errorf("mode %04o does not let its owner read and write it", perm)
	}
	return nil
}

//go:build !linux

package sample

import (
	"context"
	"errors"
	"log/slog"
)

// HostSupported: this system can run a sample host (Linux only: the
// runtime hands sockets over with SCM_RIGHTS on a SOCK_SEQPACKET socket).
const HostSupported = false

// RunHostFD reports that sample hosts need Linux.
func RunHostFD(context.Context, *slog.Logger) error {
	return errors.New("sample host: only on Linux")
}

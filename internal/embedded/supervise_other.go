//go:build !linux

package embedded

import (
	"fmt"
	"os"
)

// SuperviseCommand is the hidden graylane subcommand that runs an external
// command for the runtime on Linux.
const SuperviseCommand = "internal-supervise"

const supervisorParentEnv = "GRAYLANE_SUPERVISOR_PARENT"

// Supervise is only used on Linux (see supervise_linux.go).
func Supervise(argv []string) int {
	fmt.Fprintln(os.Stderr, "graylane "+SuperviseCommand+": only on Linux")
	return 2
}

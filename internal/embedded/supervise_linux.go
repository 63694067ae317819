package embedded

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// SuperviseCommand is the hidden graylane subcommand that runs an external
// command for the runtime: `graylane internal-supervise -- ARGV...`.
const SuperviseCommand = "internal-supervise"

// supervisorParentEnv names the runtime's process id for the supervisor.
const supervisorParentEnv = "GRAYLANE_SUPERVISOR_PARENT"

// Supervise runs argv (an external command: /bin/sh -c COMMAND) as the
// runtime's replica and returns the exit code to exit with.
//
// The runtime starts it as the leader of a new process group with SIGTERM
// as its parent-death signal. A shell command may fork (`cd x && ./app`),
// and a parent-death signal reaches only the direct child; so when the
// runtime dies, the supervisor stops the whole group: SIGTERM, then
// SIGKILL after 5 s. A SIGTERM while the runtime lives is the runtime's
// own clean stop, which reached the whole group: the supervisor waits for
// its command. When the command ends, the supervisor ends the same way (the
// same exit code, or the same signal), and the runtime kills what is left
// of the group.
func Supervise(argv []string) int {
	parent, _ := strconv.Atoi(os.Getenv(supervisorParentEnv))
	_ = os.Unsetenv(supervisorParentEnv)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "graylane "+SuperviseCommand+": no command")
		return 2
	}
	if parent == 0 || os.Getppid() != parent {
		// The runtime died before the supervisor could watch it.
		return 1
	}
	// The child's parent-death signal is tied to this thread (see spawner).
	runtime.LockOSThread()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "graylane: start %v: %v\n", argv, err)
		return 127
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		select {
		case err := <-exited:
			return exitLike(cmd.ProcessState, err)
		case <-sigs:
			if os.Getppid() == parent {
				continue // the runtime's clean stop: the group got the signal
			}
			// The runtime is gone: stop the group, this process last.
			group := syscall.Getpgrp()
			_ = syscall.Kill(-group, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(stopGrace):
			}
			_ = syscall.Kill(-group, syscall.SIGKILL)
			return 137
		}
	}
}

// exitLike ends the supervisor as its command ended: a signal is raised
// again on the supervisor, so the runtime sees "signal: killed" rather
// than an exit code.
func exitLike(st *os.ProcessState, err error) int {
	if st == nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			st = ee.ProcessState
		}
	}
	if st == nil {
		return 1
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		signal.Reset(ws.Signal())
		_ = syscall.Kill(os.Getpid(), ws.Signal())
		// A signal whose default is to continue: say so in the code.
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

package embedded

import (
	"errors"
	"os/exec"
	"runtime"
)

// spawner starts the replicas' processes from one goroutine locked to its
// OS thread for the runtime's whole life. On Linux a child's parent-death
// signal (see procAttr) fires when the thread that started it exits, not
// the process, and Go ends idle threads: starting every child from one
// thread that lives as long as the runtime makes the signal mean "the
// runtime died".
type spawner struct {
	reqs     chan spawnReq
	stopping chan struct{}
	done     chan struct{}
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

var errStopping = errors.New("the runtime is stopping")

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), stopping: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *spawner) loop() {
	// Never unlocked: when the loop ends, the thread ends with it, and a
	// child still running (there should be none) gets its parent-death
	// signal.
	runtime.LockOSThread()
	defer close(s.done)
	for {
		select {
		case <-s.stopping:
			return
		case req := <-s.reqs:
			req.err <- req.cmd.Start()
		}
	}
}

// start starts cmd on the spawner's thread.
func (s *spawner) start(cmd *exec.Cmd) error {
	req := spawnReq{cmd: cmd, err: make(chan error, 1)}
	select {
	case s.reqs <- req:
		return <-req.err
	case <-s.stopping:
		return errStopping
	}
}

// stop ends the spawner once every child is stopped.
func (s *spawner) stop() {
	close(s.stopping)
	<-s.done
}

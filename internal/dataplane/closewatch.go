package dataplane

import (
	"io"
	"sync"
	"time"
)

// A connection's goroutine has no background reader (it would cost
// context switches on every request), so while it waits for a pod's
// answer nothing notices the client going away. A closeWatch does, at
// almost no cost for quick answers: arming it resets a timer; only a
// request still waiting after watchDelay gets a watcher, which reads
// the client connection (the loop does not, until the answer is in). If
// the client closes it (EOF, reset), the watcher closes the upstream
// connection, which cancels the upstream request as Envoy does: the pod's
// connection is not kept or pooled, and the proxy's goroutine is free.
//
// The timer is not stopped when the answer comes: disarming only marks
// the watch idle, and a late firing finds it so and does nothing.

// watchDelay is how long a request waits for its answer before its client
// connection is watched.
const WatchDelay = 100 * time.Millisecond

type watchState uint8

const (
	watchIdle     watchState = iota
	watchArmed               // waiting for an answer; not watched yet
	watchWatching            // a watcher reads the client connection
	watchDone                // the watcher has ended
)

type CloseWatch struct {
	d        *downConn
	mu       sync.Mutex
	t        *time.Timer
	state    watchState
	stopping bool      // disarm woke the watcher
	gone     bool      // the client went away
	up       io.Closer // the upstream connection to close then
	done     chan struct{}
}

// arm starts the watch for a request whose upstream connection is up.
// The client connection's reader must not be used until disarm.
func (w *CloseWatch) Arm(up io.Closer) {
	w.mu.Lock()
	w.state, w.up, w.stopping, w.gone = watchArmed, up, false, false
	w.mu.Unlock()
	if w.t == nil {
		w.t = time.AfterFunc(WatchDelay, w.fire)
	} else {
		w.t.Reset(WatchDelay)
	}
}

// fire starts watching, unless the answer came meanwhile.
func (w *CloseWatch) fire() {
	w.mu.Lock()
	if w.state != watchArmed {
		w.mu.Unlock()
		return
	}
	br := w.d.st.rd.br
	if br.Buffered() > 0 {
		// The client sent more (a pipelined request) already: it is
		// still there, and watching would mean reading that request.
		w.mu.Unlock()
		return
	}
	w.state = watchWatching
	done := make(chan struct{})
	w.done = done
	_ = w.d.c.SetReadDeadline(time.Time{}) // disarm wakes the watcher
	w.mu.Unlock()
	_, err := br.Peek(1)
	w.mu.Lock()
	if err != nil && !w.stopping && !IsTimeout(err) {
		w.gone = true
		_ = w.up.Close()
	}
	w.state = watchDone
	w.mu.Unlock()
	close(done)
}

// disarm ends the watch once the answer (or an error) came, and reports
// whether the client went away meanwhile (the upstream connection is
// closed then). Bytes the watcher read stay buffered for the loop.
func (w *CloseWatch) Disarm() bool {
	w.mu.Lock()
	state := w.state
	switch state {
	case watchArmed, watchIdle:
		w.state, w.up = watchIdle, nil
		w.mu.Unlock()
		return false
	case watchWatching:
		w.stopping = true
		_ = w.d.c.SetReadDeadline(time.Unix(1, 0))
	}
	done := w.done
	w.mu.Unlock()
	<-done
	w.mu.Lock()
	gone := w.gone
	w.state, w.up, w.done = watchIdle, nil, nil
	w.mu.Unlock()
	// The watcher changed the read deadline: the loop sets it anew.
	w.d.readAt = time.Unix(1, 0)
	return gone
}

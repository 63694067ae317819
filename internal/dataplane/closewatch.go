package dataplane

import (
	"io"
	"sync"
	"time"
)

// A connection's goroutine has no background reader (it would cost
// context switches on every request), so while it waits for a pod's
// answer nothing notices the client going away. A CloseWatch does, at
// almost no cost for quick answers: arming it notes the time (a timer is
// started only when none is pending); only a request still waiting after
// WatchDelay gets a watcher, which reads
// the client connection (the loop does not, until the answer is in). If
// the client closes it (EOF, reset), the watcher closes the upstream
// connection, which cancels the upstream request as Envoy does: the pod's
// connection is not kept or pooled, and the proxy's goroutine is free.
//
// The timer is not stopped when the answer comes: disarming only marks
// the watch idle, and a late firing finds it so and does nothing. Nor is
// it reset per request (a timer update on every request): a firing that
// finds a request armed less than WatchDelay ago sets the timer for the
// rest of that request's delay.

// WatchDelay is how long a request waits for its answer before its client
// connection is watched.
const WatchDelay = 100 * time.Millisecond

type watchState uint8

const (
	watchIdle     watchState = iota
	watchArmed               // waiting for an answer; not watched yet
	watchWatching            // a watcher reads the client connection
	watchDone                // the watcher has ended
)

// CloseWatch watches a client connection for the client going away while
// its request waits for an answer (see above); every connection of a
// Server has one (ResponseWriter.CloseWatch). Only the connection's
// handler arms and disarms it, one request at a time.
type CloseWatch struct {
	d        *downConn
	mu       sync.Mutex
	t        *time.Timer
	pending  bool      // t is set to fire
	armedAt  time.Time // when the request armed the watch
	state    watchState
	stopping bool      // disarm woke the watcher
	gone     bool      // the client went away
	up       io.Closer // the upstream connection to close then
	done     chan struct{}
}

// Arm starts the watch for a request whose upstream connection is up
// (closed if the client goes away). The client connection's reader must
// not be used until Disarm. Cost: a clock read and an uncontended mutex;
// a timer is started only when none is pending.
func (w *CloseWatch) Arm(up io.Closer) {
	w.mu.Lock()
	w.state, w.up, w.stopping, w.gone = watchArmed, up, false, false
	w.armedAt = time.Now()
	if !w.pending {
		w.pending = true
		if w.t == nil {
			w.t = time.AfterFunc(WatchDelay, w.fire)
		} else {
			w.t.Reset(WatchDelay)
		}
	}
	w.mu.Unlock()
}

// fire starts watching, unless the answer came meanwhile or the request
// armed the watch less than WatchDelay ago (then it fires again when the
// delay has passed).
func (w *CloseWatch) fire() {
	w.mu.Lock()
	if w.state != watchArmed {
		w.pending = false
		w.mu.Unlock()
		return
	}
	if left := WatchDelay - time.Since(w.armedAt); left > 0 {
		w.t.Reset(left)
		w.mu.Unlock()
		return
	}
	w.pending = false
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

// Disarm ends the watch once the answer (or an error) came, and reports
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

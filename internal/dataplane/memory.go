package dataplane

import (
	"runtime/debug"
	"sync"
)

// What the proxy listeners keep of memory is bounded, and given back once
// connections are gone or idle:
//   - a connection holds its 32 KiB connState only while it has a request
//     to serve (an idle one parks: connserver.go);
//   - the free list of connStates keeps at most maxFreeStates (4 MiB),
//     where a sync.Pool would keep every state of a burst until two
//     garbage collections, which an idle process does not run for
//     minutes;
//   - when a burst is over - releaseCount fewer connections, or
//     connStates in use (their connections closed or parked), than at
//     the peak, and half of it at most - the heap is collected and
//     returned to the system at once (debug.FreeOSMemory), in the
//     background: an idle process would otherwise keep its peak resident
//     size (buffers, goroutine stacks) for minutes.

// maxFreeStates bounds the connStates kept for new connections.
const maxFreeStates = 128

// releaseCount is how far connections or states in use must have fallen
// from their peak before memory is given back (about 32 MiB).
const releaseCount = 1000

// statePool is a bounded free list of connStates; the zero value is an
// empty list.
type statePool struct {
	mu   sync.Mutex
	free []*connState
}

// getState takes a connState for a connection that has a request to serve.
func (p *Proxy) getState() *connState {
	p.mem.add(gaugeStates, 1)
	return p.states.get()
}

// putState gives a connState back.
func (p *Proxy) putState(st *connState) {
	p.states.put(st)
	p.mem.add(gaugeStates, -1)
}

func (p *statePool) get() *connState {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		st := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return st
	}
	p.mu.Unlock()
	return newConnState()
}

func (p *statePool) put(st *connState) {
	st.clear()
	p.mu.Lock()
	if len(p.free) < maxFreeStates {
		p.free = append(p.free, st)
	}
	p.mu.Unlock()
}

// The gauges memRelief follows.
const (
	gaugeConns = iota
	gaugeStates
)

// memRelief follows a Proxy's connections and connStates in use, and
// gives memory back after a burst. The zero value counts from zero and
// releases with debug.FreeOSMemory.
type memRelief struct {
	mu        sync.Mutex
	n, peak   [2]int
	releasing bool
	release   func() // nil: debug.FreeOSMemory
}

func (m *memRelief) add(gauge, delta int) {
	m.mu.Lock()
	n := m.n[gauge] + delta
	m.n[gauge] = n
	m.peak[gauge] = max(m.peak[gauge], n)
	start := delta < 0 && !m.releasing && m.peak[gauge]-n >= releaseCount && n <= m.peak[gauge]/2
	m.releasing = m.releasing || start
	m.mu.Unlock()
	if start {
		release := m.release
		if release == nil {
			release = debug.FreeOSMemory
		}
		go func() {
			release()
			m.mu.Lock()
			m.peak, m.releasing = m.n, false
			m.mu.Unlock()
		}()
	}
}

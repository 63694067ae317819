package embedded

import (
	"runtime/debug"
	"sync"
)

// What the proxy listeners keep of memory is bounded, and given back once
// connections are gone:
//   - a connection holds its 32 KiB connState only while it has a request
//     to serve (an idle one parks: connserver.go);
//   - the free list of connStates keeps at most maxFreeStates (4 MiB),
//     where a sync.Pool would keep every state of a burst until two
//     garbage collections, which an idle process does not run for
//     minutes;
//   - when the connections of a burst have closed (releaseConns fewer
//     than the peak, and half of it at most), the heap is collected and
//     returned to the system at once (debug.FreeOSMemory), in the
//     background: an idle process would otherwise keep its peak resident
//     size for minutes.

// maxFreeStates bounds the connStates kept for new connections.
const maxFreeStates = 128

// releaseConns is how many connections must have closed since the peak
// before memory is given back (about 32 MiB of states and stacks).
const releaseConns = 1000

var connStates = &statePool{}

// statePool is a bounded free list of connStates.
type statePool struct {
	mu   sync.Mutex
	free []*connState
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

var connMemory = &memRelief{release: debug.FreeOSMemory}

// memRelief counts the proxies' live connections and gives memory back
// after a burst.
type memRelief struct {
	mu         sync.Mutex
	live, peak int
	running    bool
	release    func()
}

func (m *memRelief) opened() {
	m.mu.Lock()
	m.live++
	m.peak = max(m.peak, m.live)
	m.mu.Unlock()
}

func (m *memRelief) closed() {
	m.mu.Lock()
	m.live--
	start := !m.running && m.peak-m.live >= releaseConns && m.live <= m.peak/2
	if start {
		m.running = true
	}
	m.mu.Unlock()
	if start {
		go func() {
			m.release()
			m.mu.Lock()
			m.peak, m.running = m.live, false
			m.mu.Unlock()
		}()
	}
}

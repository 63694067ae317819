package embedded

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/graylane/graylane/internal/dataplane"
	"github.com/graylane/graylane/internal/route"
)

// injectFault carries out the hop's fault injection as Envoy's fault
// filter does, before the request is forwarded: the delay first (flag
// DI), then the abort, answered here (flag FI, with Envoy's body "fault
// filter abort"). The hop drew both (route.Table.Hop). It reports
// whether the request is finished: aborted, or its client went away
// during the delay (flags DI,DC).
func (r *Runtime) injectFault(w http.ResponseWriter, ew dataplane.ResponseWriter, req *http.Request, hop *route.Hop, m *metric) bool {
	in := hop.Fault
	if in.Delay > 0 {
		m.flags, m.delayed = route.FlagDI, true
		if !waitDelay(ew, req, in.Delay) {
			m.flags = route.FlagDI + "," + dataplane.FlagDC
			if ew != nil {
				ew.Hangup()
			}
			m.record(r.metrics, 0)
			return true
		}
		m.routed = time.Now()
	}
	if hop.Outcome != route.Aborted {
		return false
	}
	m.flags = hop.Flags
	h := w.Header()
	if in.GRPCStatus != "" {
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", in.GRPCStatus)
		h.Set("Grpc-Message", route.FaultBody)
		w.WriteHeader(hop.Status)
	} else {
		h.Set("Content-Type", "text/plain")
		w.WriteHeader(hop.Status)
		_, _ = io.WriteString(w, route.FaultBody)
	}
	m.record(r.metrics, hop.Status)
	return true
}

// waitDelay waits d and reports whether the client is still there. On the
// edge the close watch notices the client going away while nothing reads
// its connection; otherwise the request's context does.
func waitDelay(ew dataplane.ResponseWriter, req *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	gone := &closeSignal{c: make(chan struct{})}
	var watch *dataplane.CloseWatch
	if ew != nil {
		watch = ew.CloseWatch()
		watch.Arm(gone)
	}
	select {
	case <-t.C:
	case <-gone.c:
	case <-req.Context().Done():
	}
	if watch != nil && watch.Disarm() {
		return false
	}
	return req.Context().Err() == nil
}

// closeSignal is the io.Closer a close watch closes when the client goes.
type closeSignal struct {
	once sync.Once
	c    chan struct{}
}

func (s *closeSignal) Close() error {
	s.once.Do(func() { close(s.c) })
	return nil
}

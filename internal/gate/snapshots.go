package gate

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graylane/graylane/internal/gate/store"
)

// Store is what the gate needs from the SQL store.
type Store interface {
	Version(ctx context.Context) (int64, error)
	Load(ctx context.Context) (store.State, error)
	PutEntry(ctx context.Context, e store.Entry) (created bool, err error)
	ImportEntries(ctx context.Context, es []store.Entry) error
	DeleteEntry(ctx context.Context, kind store.Kind, id string) error
	SetLane(ctx context.Context, name string, weight int) (created bool, err error)
	DeleteLane(ctx context.Context, name string) error
}

// Snapshots holds the current snapshot behind an atomic pointer and keeps
// it current: Refresh after every change made through this gate, and Run
// polls the store's change counter for changes made by other replicas.
// While the store is unreachable the last snapshot keeps serving and the
// status says degraded.
type Snapshots struct {
	store Store
	log   *slog.Logger
	cur   atomic.Pointer[Snapshot]

	mu       sync.Mutex
	lastOK   time.Time // last time the snapshot was confirmed current
	degraded bool
	lastErr  string
	loadMu   sync.Mutex // serialises loads
}

// Status is the health of the snapshot.
type Status struct {
	Ready    bool          `json:"ready"` // a snapshot has been loaded
	Degraded bool          `json:"degraded"`
	Error    string        `json:"error,omitempty"`
	Version  int64         `json:"version"`
	Age      time.Duration `json:"-"`
}

// NewSnapshots makes a holder; call Refresh (or Run) to load the first
// snapshot.
func NewSnapshots(s Store, log *slog.Logger) *Snapshots {
	return &Snapshots{store: s, log: log}
}

// Current is the snapshot to decide from, nil before the first load.
func (s *Snapshots) Current() *Snapshot { return s.cur.Load() }

// Refresh loads the store and installs the result. Loads are serialised, so
// the last one to finish read the newest state.
func (s *Snapshots) Refresh(ctx context.Context) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	st, err := s.store.Load(ctx)
	if err != nil {
		s.fail(err)
		return fmt.Errorf("load snapshot: %w", err)
	}
	now := time.Now()
	s.cur.Store(NewSnapshot(st, now))
	s.ok(now)
	return nil
}

// check compares the change counter with the snapshot and reloads when it
// moved (in either direction: a restored database counts as a change).
func (s *Snapshots) check(ctx context.Context) error {
	v, err := s.store.Version(ctx)
	if err != nil {
		s.fail(err)
		return err
	}
	if cur := s.cur.Load(); cur != nil && cur.Version == v {
		s.ok(time.Now())
		return nil
	}
	return s.Refresh(ctx)
}

// Run polls every interval until ctx ends. Each poll has a deadline of
// timeout.
func (s *Snapshots) Run(ctx context.Context, interval, timeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		_ = s.check(pctx)
		cancel()
	}
}

func (s *Snapshots) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.degraded {
		s.log.Warn("gate store unreachable: serving the last snapshot", "err", err)
	}
	s.degraded, s.lastErr = true, err.Error()
}

func (s *Snapshots) ok(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.degraded {
		s.log.Info("gate store reachable again")
	}
	s.degraded, s.lastErr, s.lastOK = false, "", now
}

// Status reports readiness, degradation and the snapshot's age.
func (s *Snapshots) Status(now time.Time) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Degraded: s.degraded, Error: s.lastErr}
	if cur := s.cur.Load(); cur != nil {
		st.Ready, st.Version, st.Age = true, cur.Version, now.Sub(s.lastOK)
	}
	return st
}

package gate

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graylane/graylane/internal/decide"
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
	// CheckWrite proves the store takes writes (a health write that
	// moves no change counter).
	CheckWrite(ctx context.Context) error
	// CheckFile says what is wrong with the store's file (SQLite: moved,
	// replaced, not readable and writable), nil when nothing is.
	CheckFile() error
}

// Health checks of the store; each one failing makes the gate degraded.
const (
	CheckRead  = "read"  // polls and loads of the store
	CheckWrite = "write" // writes, the API's and the periodic health write
	CheckFile  = "file"  // the SQLite file at its path
)

// Checks lists the health checks.
var Checks = []string{CheckRead, CheckWrite, CheckFile}

// Snapshots holds the current snapshot behind an atomic pointer and keeps
// it current: Refresh after every change made through this gate, and Run
// polls the store's change counter for changes made by other replicas.
// It also keeps the store's health: while reads, writes or the file check
// fail, the status says degraded and the last snapshot keeps serving.
type Snapshots struct {
	store Store
	log   *slog.Logger
	rules decide.Rules // the gate's identity sources, keys; lanes come from the store
	cur   atomic.Pointer[Snapshot]
	held  atomic.Int64 // long polls of GET /v1/snapshot waiting for a change

	mu       sync.Mutex
	lastOK   time.Time         // last time the snapshot was confirmed current
	problems map[string]string // failing check -> error
	notify   chan struct{}     // closed and replaced when the version changes
	closing  chan struct{}     // closed by Close: long polls end
	closed   bool
	loadMu   sync.Mutex // serialises loads
}

// Status is the health of the snapshot and the store.
type Status struct {
	Ready    bool              `json:"ready"` // a snapshot has been loaded
	Degraded bool              `json:"degraded"`
	Error    string            `json:"error,omitempty"`
	Problems map[string]string `json:"problems,omitempty"` // failing check -> error
	Version  int64             `json:"version"`
	Age      time.Duration     `json:"-"`
}

// NewSnapshots makes a holder; call Refresh (or Run) to load the first
// snapshot. rules are the decision rules without lanes (see NewSnapshot).
func NewSnapshots(s Store, log *slog.Logger, rules decide.Rules) *Snapshots {
	return &Snapshots{store: s, log: log, rules: rules, problems: map[string]string{},
		notify: make(chan struct{}), closing: make(chan struct{})}
}

// Current is the snapshot to decide from, nil before the first load.
func (s *Snapshots) Current() *Snapshot { return s.cur.Load() }

// next returns the current snapshot and a channel closed when a snapshot
// of another version replaces it, or when the holder closes.
func (s *Snapshots) next() (*Snapshot, <-chan struct{}, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.Load(), s.notify, s.closing
}

// Held is the number of long polls waiting for a change.
func (s *Snapshots) Held() int64 { return s.held.Load() }

// Close ends the long polls waiting for a change.
func (s *Snapshots) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
}

// Refresh loads the store and installs the result. Loads are serialised, so
// the last one to finish read the newest state.
func (s *Snapshots) Refresh(ctx context.Context) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	st, err := s.store.Load(ctx)
	if err != nil {
		s.fail(CheckRead, err)
		return fmt.Errorf("load snapshot: %w", err)
	}
	now := time.Now()
	snap, err := NewSnapshot(st, now, s.rules)
	if err != nil {
		s.fail(CheckRead, err)
		return err
	}
	s.install(snap)
	s.pass(CheckRead)
	s.confirmed(now)
	return nil
}

func (s *Snapshots) install(snap *Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Swap(snap)
	if old == nil || old.Version != snap.Version {
		close(s.notify)
		s.notify = make(chan struct{})
	}
}

// check compares the change counter with the snapshot and reloads when it
// moved (in either direction: a restored database counts as a change), and
// checks the store's file.
func (s *Snapshots) check(ctx context.Context) error {
	if err := s.store.CheckFile(); err != nil {
		s.fail(CheckFile, err)
	} else {
		s.pass(CheckFile)
	}
	v, err := s.store.Version(ctx)
	if err != nil {
		s.fail(CheckRead, err)
		return err
	}
	if cur := s.cur.Load(); cur != nil && cur.Version == v {
		s.pass(CheckRead)
		s.confirmed(time.Now())
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

// RunWriteChecks proves every interval, until ctx ends, that the store
// takes writes; each check has a deadline of timeout. A check that fails
// makes the gate degraded until one succeeds (or an API write does).
func (s *Snapshots) RunWriteChecks(ctx context.Context, interval, timeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		wctx, cancel := context.WithTimeout(ctx, timeout)
		s.Wrote(wctx, s.store.CheckWrite(wctx))
		cancel()
	}
}

// Wrote records the outcome of a write to the store: a failure makes the
// gate degraded, a success (or an answer that refuses the write for what
// it asks: not found, unknown lane, lane in use) clears that. A write the
// caller gave up on (ctx canceled) says nothing.
func (s *Snapshots) Wrote(ctx context.Context, err error) {
	switch {
	case err == nil, store.IsRefusal(err):
		s.pass(CheckWrite)
	case ctx.Err() == context.Canceled:
	default:
		s.fail(CheckWrite, err)
	}
}

func (s *Snapshots) fail(check string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, failing := s.problems[check]; !failing {
		s.log.Warn("gate store check failing: decisions come from the last snapshot", "check", check, "err", err)
	}
	s.problems[check] = err.Error()
}

func (s *Snapshots) pass(check string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, failing := s.problems[check]; failing {
		s.log.Info("gate store check passes again", "check", check)
		delete(s.problems, check)
	}
}

func (s *Snapshots) confirmed(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastOK = now
}

// Failing reports whether a check fails.
func (s *Snapshots) Failing(check string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.problems[check]
	return ok
}

// Status reports readiness, degradation and the snapshot's age.
func (s *Snapshots) Status(now time.Time) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Degraded: len(s.problems) > 0}
	if st.Degraded {
		st.Problems = make(map[string]string, len(s.problems))
		var msgs []string
		for k, v := range s.problems {
			st.Problems[k] = v
			msgs = append(msgs, k+": "+v)
		}
		sort.Strings(msgs)
		st.Error = strings.Join(msgs, "; ")
	}
	if cur := s.cur.Load(); cur != nil {
		st.Ready, st.Version, st.Age = true, cur.Version, now.Sub(s.lastOK)
	}
	return st
}

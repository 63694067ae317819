package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// IsRefusal reports whether err is the store refusing a change for what it
// asks (not found, unknown lane, lane in use): the store answered, so it
// says nothing about the store's health.
func IsRefusal(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnknownLane) || errors.Is(err, ErrLaneInUse)
}

// CheckWrite proves the store takes writes: it updates the one row of
// gate_health in a transaction of its own. A locked database, a full disk,
// a read-only file or a database in read-only mode fail here as a real
// write would. No change counter moves, so no replica reloads for it.
func (s *Store) CheckWrite(ctx context.Context) error {
	res, err := s.db.ExecContext(ctx, s.dialect.bind("UPDATE gate_health SET checked_at = ? WHERE id = 1"), time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("health write: %w", err)
	}
	if _, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("health write: %w", err)
	}
	return nil
}

// CheckFile says what is wrong with the SQLite file the store has open:
// moved or deleted (a restart would create an empty store in its place),
// replaced by another file (the gate still reads the one it opened), or no
// longer readable and writable. An open connection keeps working on a
// moved or chmod-ed file, so only this check notices before a restart.
// Nil for memory and server databases.
func (s *Store) CheckFile() error {
	if s.path == "" {
		return nil
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("sqlite file: %w", err)
	}
	if !os.SameFile(fi, s.opened) {
		return fmt.Errorf("sqlite file %s was replaced by another file: the gate still uses the one it opened; restart it to use the new one", s.path)
	}
	if err := ownerCanReadWrite(fi); err != nil {
		return fmt.Errorf("sqlite file %s: %w", s.path, err)
	}
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sqlite file: not readable and writable: %w", err)
	}
	return f.Close()
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Version reads the change counter. It changes whenever any replica changes
// the whitelist or the lanes.
func (s *Store) Version(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, "SELECT counter FROM gate_changes WHERE id = 1").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errNoCounter
	}
	if err != nil {
		return 0, fmt.Errorf("read change counter: %w", err)
	}
	return v, nil
}

// Load reads the counter, the lanes and the whitelist in one transaction.
func (s *Store) Load(ctx context.Context) (State, error) {
	var st State
	err := s.inTx(ctx, &sql.TxOptions{ReadOnly: s.dialect.name != "sqlite"}, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT counter FROM gate_changes WHERE id = 1").Scan(&st.Version); err != nil {
			return fmt.Errorf("read change counter: %w", err)
		}
		lanes, err := loadLanes(ctx, tx)
		if err != nil {
			return err
		}
		entries, err := loadEntries(ctx, tx)
		if err != nil {
			return err
		}
		st.Lanes, st.Entries = lanes, entries
		return nil
	})
	return st, err
}

func loadLanes(ctx context.Context, tx *sql.Tx) ([]Lane, error) {
	rows, err := tx.QueryContext(ctx, "SELECT name, weight, updated_at FROM gate_lanes ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("read lanes: %w", err)
	}
	defer rows.Close()
	var lanes []Lane
	for rows.Next() {
		var l Lane
		var updated int64
		if err := rows.Scan(&l.Name, &l.Weight, &updated); err != nil {
			return nil, fmt.Errorf("read lanes: %w", err)
		}
		l.UpdatedAt = time.UnixMilli(updated).UTC()
		lanes = append(lanes, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read lanes: %w", err)
	}
	return lanes, nil
}

func loadEntries(ctx context.Context, tx *sql.Tx) ([]Entry, error) {
	rows, err := tx.QueryContext(ctx,
		"SELECT kind, id, lane, note, created_by, created_at, expires_at FROM gate_whitelist ORDER BY kind, id")
	if err != nil {
		return nil, fmt.Errorf("read whitelist: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var kind string
		var created int64
		var expires sql.NullInt64
		if err := rows.Scan(&kind, &e.ID, &e.Lane, &e.Note, &e.CreatedBy, &created, &expires); err != nil {
			return nil, fmt.Errorf("read whitelist: %w", err)
		}
		e.Kind = Kind(kind)
		e.CreatedAt = time.UnixMilli(created).UTC()
		if expires.Valid {
			t := time.UnixMilli(expires.Int64).UTC()
			e.ExpiresAt = &t
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read whitelist: %w", err)
	}
	return out, nil
}

// PutEntry creates or replaces the entry (kind, id). It reports whether the
// entry is new. The lane must exist (or be BaseLane): ErrUnknownLane.
func (s *Store) PutEntry(ctx context.Context, e Entry) (created bool, err error) {
	err = s.inTx(ctx, nil, func(tx *sql.Tx) error {
		lanes, err := s.laneSet(ctx, tx)
		if err != nil {
			return err
		}
		if !lanes[e.Lane] {
			return fmt.Errorf("%w %q", ErrUnknownLane, e.Lane)
		}
		created, err = s.upsertEntry(ctx, tx, e)
		if err != nil {
			return err
		}
		return s.bump(ctx, tx)
	})
	return created, err
}

// ImportEntries creates or replaces all entries in one transaction: all or
// nothing.
func (s *Store) ImportEntries(ctx context.Context, entries []Entry) error {
	return s.inTx(ctx, nil, func(tx *sql.Tx) error {
		lanes, err := s.laneSet(ctx, tx)
		if err != nil {
			return err
		}
		for i, e := range entries {
			if !lanes[e.Lane] {
				return fmt.Errorf("entry %d (%s %s): %w %q", i+1, e.Kind, e.ID, ErrUnknownLane, e.Lane)
			}
			if _, err := s.upsertEntry(ctx, tx, e); err != nil {
				return err
			}
		}
		return s.bump(ctx, tx)
	})
}

func (s *Store) upsertEntry(ctx context.Context, tx *sql.Tx, e Entry) (bool, error) {
	res, err := tx.ExecContext(ctx, s.dialect.bind("DELETE FROM gate_whitelist WHERE kind = ? AND id = ?"), string(e.Kind), e.ID)
	if err != nil {
		return false, fmt.Errorf("replace whitelist entry: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("replace whitelist entry: %w", err)
	}
	var expires sql.NullInt64
	if e.ExpiresAt != nil {
		expires = sql.NullInt64{Int64: e.ExpiresAt.UnixMilli(), Valid: true}
	}
	_, err = tx.ExecContext(ctx, s.dialect.bind(
		"INSERT INTO gate_whitelist (kind, id, lane, note, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)"),
		string(e.Kind), e.ID, e.Lane, e.Note, e.CreatedBy, e.CreatedAt.UnixMilli(), expires)
	if err != nil {
		return false, fmt.Errorf("insert whitelist entry: %w", err)
	}
	return n == 0, nil
}

// DeleteEntry removes (kind, id): ErrNotFound if there is none.
func (s *Store) DeleteEntry(ctx context.Context, kind Kind, id string) error {
	return s.inTx(ctx, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.dialect.bind("DELETE FROM gate_whitelist WHERE kind = ? AND id = ?"), string(kind), id)
		if err != nil {
			return fmt.Errorf("delete whitelist entry: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("whitelist entry %s %q: %w", kind, id, ErrNotFound)
		}
		return s.bump(ctx, tx)
	})
}

// SetLane creates the lane or changes its weight (0..100). It reports
// whether the lane is new.
func (s *Store) SetLane(ctx context.Context, name string, weight int) (created bool, err error) {
	err = s.inTx(ctx, nil, func(tx *sql.Tx) error {
		now := time.Now().UnixMilli()
		_, err := tx.ExecContext(ctx, s.dialect.bind("UPDATE gate_lanes SET weight = ?, updated_at = ? WHERE name = ?"), weight, now, name)
		if err != nil {
			return fmt.Errorf("update lane: %w", err)
		}
		var exists int
		// MySQL reports 0 affected rows when the values did not change.
		if err := tx.QueryRowContext(ctx, s.dialect.bind("SELECT COUNT(*) FROM gate_lanes WHERE name = ?"), name).Scan(&exists); err != nil {
			return fmt.Errorf("read lane: %w", err)
		}
		if exists == 0 {
			created = true
			_, err = tx.ExecContext(ctx, s.dialect.bind("INSERT INTO gate_lanes (name, weight, updated_at) VALUES (?, ?, ?)"), name, weight, now)
			if err != nil {
				return fmt.Errorf("insert lane: %w", err)
			}
		}
		return s.bump(ctx, tx)
	})
	return created, err
}

// DeleteLane removes a lane: ErrNotFound if there is none, ErrLaneInUse
// while whitelist entries name it.
func (s *Store) DeleteLane(ctx context.Context, name string) error {
	return s.inTx(ctx, nil, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.dialect.bind("SELECT COUNT(*) FROM gate_whitelist WHERE lane = ?"), name).Scan(&n); err != nil {
			return fmt.Errorf("count lane entries: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("lane %q: %w (%d)", name, ErrLaneInUse, n)
		}
		res, err := tx.ExecContext(ctx, s.dialect.bind("DELETE FROM gate_lanes WHERE name = ?"), name)
		if err != nil {
			return fmt.Errorf("delete lane: %w", err)
		}
		if k, err := res.RowsAffected(); err != nil || k == 0 {
			return fmt.Errorf("lane %q: %w", name, ErrNotFound)
		}
		return s.bump(ctx, tx)
	})
}

func (s *Store) laneSet(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT name FROM gate_lanes")
	if err != nil {
		return nil, fmt.Errorf("read lanes: %w", err)
	}
	defer rows.Close()
	set := map[string]bool{BaseLane: true}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("read lanes: %w", err)
		}
		set[n] = true
	}
	return set, rows.Err()
}

// bump increments the change counter inside the change's transaction.
func (s *Store) bump(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, "UPDATE gate_changes SET counter = counter + 1 WHERE id = 1"); err != nil {
		return fmt.Errorf("bump change counter: %w", err)
	}
	return nil
}

func (s *Store) inTx(ctx context.Context, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

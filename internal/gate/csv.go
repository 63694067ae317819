package gate

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/graylane/graylane/internal/gate/store"
	"github.com/graylane/graylane/internal/gateclient"
)

// maxLineErrors caps the problems one import reports.
const maxLineErrors = 100

// ParseCSV reads whitelist entries, one per line:
//
//	kind,id,lane[,note[,expiresAt]]
//
// kind is user or tenant, expiresAt is RFC 3339 or empty. Lines starting
// with # and blank lines are skipped; a first line starting with "kind" is
// a header. known reports whether a lane exists. Every problem is
// returned with its line number; entries are only usable when there is
// none.
func ParseCSV(r io.Reader, known func(string) bool, createdBy string, now time.Time) ([]store.Entry, []gateclient.LineError) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	var entries []store.Entry
	var errs []gateclient.LineError
	seen := map[string]int{}
	for first := true; ; first = false {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, append(errs, gateclient.LineError{Line: pe.Line, Message: pe.Err.Error()})
			}
			return nil, append(errs, gateclient.LineError{Line: 0, Message: err.Error()})
		}
		line, _ := cr.FieldPos(0)
		if first && strings.EqualFold(strings.TrimSpace(rec[0]), "kind") {
			continue
		}
		if len(entries)+len(errs) >= MaxCSVRows {
			return nil, append(errs, gateclient.LineError{Line: line, Message: fmt.Sprintf("more than %d entries: split the file", MaxCSVRows)})
		}
		e, err := parseRecord(rec, known, createdBy, now)
		if err == nil {
			key := string(e.Kind) + "\x00" + e.ID
			if prev, dup := seen[key]; dup {
				err = fmt.Errorf("%s %q already on line %d", e.Kind, e.ID, prev)
			}
			seen[key] = line
		}
		if err != nil {
			errs = append(errs, gateclient.LineError{Line: line, Message: err.Error()})
			if len(errs) >= maxLineErrors {
				return nil, errs
			}
			continue
		}
		entries = append(entries, e)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return entries, nil
}

func parseRecord(rec []string, known func(string) bool, createdBy string, now time.Time) (store.Entry, error) {
	for i := range rec {
		rec[i] = strings.TrimSpace(rec[i])
	}
	if len(rec) < 3 || len(rec) > 5 {
		fields := "fields"
		if len(rec) == 1 {
			fields = "field"
		}
		return store.Entry{}, fmt.Errorf("%d %s: want kind,id,lane[,note[,expiresAt]]", len(rec), fields)
	}
	kind, err := ParseKind(rec[0])
	if err != nil {
		return store.Entry{}, err
	}
	e := store.Entry{Kind: kind, ID: rec[1], Lane: rec[2], CreatedBy: createdBy, CreatedAt: now}
	if len(rec) > 3 {
		e.Note = rec[3]
	}
	if len(rec) > 4 && rec[4] != "" {
		t, err := time.Parse(time.RFC3339, rec[4])
		if err != nil {
			return store.Entry{}, fmt.Errorf("expiresAt %q: want RFC 3339, e.g. 2030-01-02T15:04:05Z", rec[4])
		}
		e.ExpiresAt = &t
	}
	return e, checkEntry(e, known, now)
}

// checkEntry validates an entry to be written.
func checkEntry(e store.Entry, known func(string) bool, now time.Time) error {
	if err := ValidateID(e.ID); err != nil {
		return err
	}
	if err := ValidateLane(e.Lane); err != nil {
		return err
	}
	if !known(e.Lane) {
		return fmt.Errorf("unknown lane %q: create it first with PUT /v1/lanes/%s", e.Lane, e.Lane)
	}
	if err := ValidateNote(e.Note); err != nil {
		return err
	}
	if len(e.CreatedBy) > MaxIDLen {
		return fmt.Errorf("createdBy is longer than %d bytes", MaxIDLen)
	}
	if e.CreatedBy != "" {
		if err := ValidateID(e.CreatedBy); err != nil {
			return fmt.Errorf("createdBy: %w", err)
		}
	}
	if e.ExpiresAt != nil && !e.ExpiresAt.After(now) {
		return fmt.Errorf("expiresAt %s is not in the future", e.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

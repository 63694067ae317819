package cli

import (
	"fmt"
	"io"
	"strconv"
)

// FindingsError is returned by a command that found problems in what it
// checked (lint, nacos scan): exit code 1. N counts the findings that fail.
type FindingsError struct{ N int }

func (e *FindingsError) Error() string {
	if e.N == 1 {
		return "1 finding"
	}
	return strconv.Itoa(e.N) + " findings"
}

// WriteFindings writes the report {"findings": [...]} in format: JSON or
// YAML, or text with line(f) for each finding ("no findings" when there
// are none).
func WriteFindings[T any](w io.Writer, format string, fs []T, line func(T) string) error {
	report := struct {
		Findings []T `json:"findings"`
	}{Findings: fs}
	if report.Findings == nil {
		report.Findings = []T{}
	}
	return Write(w, format, report, func(w io.Writer) error {
		for _, f := range fs {
			if _, err := fmt.Fprintln(w, line(f)); err != nil {
				return err
			}
		}
		if len(fs) == 0 {
			_, err := fmt.Fprintln(w, "no findings")
			return err
		}
		return nil
	})
}

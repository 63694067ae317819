package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// InputError marks a problem with what the user gave: flags, URL,
// manifests. The CLI exits with code 2 for it.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// InputErrorf is an InputError of a formatted message.
func InputErrorf(format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...)}
}

// Formats accepted by --output.
const (
	FormatText = "text"
	FormatJSON = "json"
	FormatYAML = "yaml"
)

// CheckFormat validates an --output value.
func CheckFormat(f string) error {
	switch f {
	case FormatText, FormatJSON, FormatYAML, "":
		return nil
	}
	return InputErrorf("--output %q: want text, json or yaml", f)
}

// Write renders v in the format; text uses the given function.
func Write(w io.Writer, format string, v any, text func(io.Writer) error) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case FormatYAML:
		js, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		out, err := yaml.JSONToYAML(js)
		if err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		_, err = w.Write(out)
		return err
	case FormatText, "":
		return text(w)
	}
	return errors.New("unknown output format " + format)
}

package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/cli"
)

func TestSampleCmdInvalid(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad error_rate env", map[string]string{"error_rate": "1.5"}, nil, `invalid error_rate "1.5": must be a number between 0 and 1`},
		{"bad PORT env", map[string]string{"PORT": "abc"}, nil, `invalid PORT "abc": must be a port number, 0..65535`},
		{"bad latency flag", nil, []string{"--latency-ms", "-1"}, `invalid --latency-ms "-1": must not be negative`},
		{"flag wins over bad env", map[string]string{"PORT": "abc"}, []string{"--port", "99999"}, `invalid --port "99999": must be a port number, 0..65535`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"app", "version", "upstream_url", "HOST", "PORT", "error_rate", "latency_ms", "propagate_headers"} {
				t.Setenv(k, tc.env[k]) // "" counts as unset
			}
			var out bytes.Buffer
			c := newSampleCmd(&out, &out)
			c.SetArgs(append([]string{}, tc.args...))
			err := c.ExecuteContext(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			var in *cli.InputError
			if !errors.As(err, &in) {
				t.Errorf("error %T is not an *cli.InputError (exit code 2)", err)
			}
		})
	}
}

// TestSampleCmdStarts runs the command with a context that is already done:
// it listens, logs, and shuts down at once.
func TestSampleCmdStarts(t *testing.T) {
	t.Setenv("app", "appa")
	t.Setenv("version", "v2")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	c := newSampleCmd(&stdout, &stderr)
	c.SetArgs([]string{"--port", "0", "--upstream-url", "http://appb:8000/"})
	if err := c.ExecuteContext(ctx); err != nil {
		t.Fatalf("sample: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"msg=\"sample listening\"", "addr=127.0.0.1:", "app=appa", "version=v2", "upstreams=[http://appb:8000/]"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, stderr.String())
		}
	}
}

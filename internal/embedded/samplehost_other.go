//go:build !linux

package embedded

import (
	"context"
	"errors"
)

// sampleHost is Linux only (sample.HostSupported); elsewhere every replica
// of the built-in sample is a process of its own and r.samples is nil.
type sampleHost struct{}

func newSampleHost(*Runtime) *sampleHost { return nil }

func (*sampleHost) kill(*pod) bool { return false }

func (*sampleHost) isRunning(*pod) bool { return false }

func (*sampleHost) close() {}

func (r *Runtime) runHosted(context.Context, *pod) error {
	return errors.New("the sample host runs only on Linux")
}

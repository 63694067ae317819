// Package load reads the manifest files of a command, with the warnings
// every command prints for documents it does not act on. It is apart from
// internal/cli so that a binary without manifests (graylane-gate) links
// internal/cli without the loader and the Kubernetes, Istio and Argo types.
package load

import (
	"fmt"
	"io"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/manifest"
)

// Load reads the manifests of a command; every load error is an
// InputError. Each document of a kind the loader does not decode is
// reported on warn with its file:line as not being what the command does
// (doing, one of the manifest.Doing constants), with a "did you mean" for
// near misses, unless reads says the command reads it itself (reads may be
// nil). route, simulate, lint, render, convert and apply --local load
// their files here; graylane up logs the same warnings from its runtime.
func Load(paths []string, warn io.Writer, doing string, reads func(*manifest.Object) bool) (*manifest.Set, error) {
	if len(paths) == 0 {
		return nil, cli.InputErrorf("no manifests: give -f FILE or -f DIR")
	}
	set, err := manifest.Load(paths...)
	if err != nil {
		return nil, &cli.InputError{Err: err}
	}
	WarnIgnored(warn, set.IgnoredWarnings(doing, reads))
	return set, nil
}

// WarnIgnored prints the warnings of manifest.Set.IgnoredWarnings, one a
// line, as every command shows them.
func WarnIgnored(w io.Writer, warnings []string) {
	for _, s := range warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
}

// Package cli holds what every command of the graylane binary shares at
// its edge: InputError, the error of a problem with what the user gave
// (flags, URL, manifests), which the binary exits with code 2 for; the
// --output formats (CheckFormat, Write); and reading manifest files with
// the warnings every command prints for documents it does not act on
// (Load, WarnIgnored). It imports no part of the functional core but the
// manifest loader, so a shell links only what it uses.
package cli

// Package cli holds what every command of the graylane and graylane-gate
// binaries shares at its edge: InputError, the error of a problem with what
// the user gave (flags, URL, manifests), which the binaries exit with code
// 2 for; the --output formats (CheckFormat, Write); listen addresses
// (CheckListen, PrintListening). Reading manifest files with the warnings
// every command prints for documents it does not act on is in
// internal/cli/load. It imports no part of the functional core, so a
// shell links only what it uses.
package cli

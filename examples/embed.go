package examples

import "embed"

// Shop is the bundled example `graylane up` runs when no -f is given
// (the files of examples/shop/).
//
//go:embed shop/*.yaml
var Shop embed.FS

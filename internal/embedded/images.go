package embedded

import (
	"fmt"
	"path"
	"strings"
)

// BuiltinSample is the command that runs Graylane's built-in sample app.
const BuiltinSample = "builtin:sample"

// ImageMap turns container images into commands.
type ImageMap struct {
	entries map[string]ImageCommand
}

// ImageCommand is how an image runs: a /bin/sh -c command line (or
// BuiltinSample) in a working directory ("" = graylane up's).
type ImageCommand struct {
	Command string
	Dir     string
}

// DefaultImages are the images that run the built-in sample app without
// any --image flag: the seed documents' demo image and Graylane's own.
var DefaultImages = []string{"go-http-sample", "graylane/sample"}

// NewImageMap builds the image map: DefaultImages, then the image files
// in order (see LoadImageFile), then IMAGE=COMMAND flags; a later mapping
// of an image replaces an earlier one.
func NewImageMap(specs []string, files ...string) (*ImageMap, error) {
	m := &ImageMap{entries: map[string]ImageCommand{}}
	for _, img := range DefaultImages {
		m.entries[img] = ImageCommand{Command: BuiltinSample}
	}
	for _, f := range files {
		entries, err := LoadImageFile(f)
		if err != nil {
			return nil, err
		}
		for img, c := range entries {
			m.entries[img] = c
		}
	}
	for _, s := range specs {
		img, cmd, ok := strings.Cut(s, "=")
		img, cmd = strings.TrimSpace(img), strings.TrimSpace(cmd)
		if !ok || img == "" || cmd == "" {
			return nil, fmt.Errorf("--image %q: want IMAGE=COMMAND (COMMAND may be %s)", s, BuiltinSample)
		}
		m.entries[img] = ImageCommand{Command: cmd}
	}
	return m, nil
}

// Lookup finds the command for an image: by the full reference, then the
// reference without tag or digest, then the repository path without the
// registry, then the last path element.
func (m *ImageMap) Lookup(image string) (ImageCommand, bool) {
	for _, key := range imageKeys(image) {
		if cmd, ok := m.entries[key]; ok {
			return cmd, true
		}
	}
	return ImageCommand{}, false
}

func imageKeys(image string) []string {
	keys := []string{image}
	ref := image
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	keys = append(keys, ref)
	if first, rest, ok := strings.Cut(ref, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		keys = append(keys, rest)
	}
	return append(keys, path.Base(ref))
}

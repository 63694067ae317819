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
	entries map[string]string
}

// DefaultImages are the images that run the built-in sample app without
// any --image flag: the seed documents' demo image and Graylane's own.
var DefaultImages = []string{"go-http-sample", "graylane/sample"}

// NewImageMap parses IMAGE=COMMAND entries on top of the defaults.
func NewImageMap(specs []string) (*ImageMap, error) {
	m := &ImageMap{entries: map[string]string{}}
	for _, img := range DefaultImages {
		m.entries[img] = BuiltinSample
	}
	for _, s := range specs {
		img, cmd, ok := strings.Cut(s, "=")
		img, cmd = strings.TrimSpace(img), strings.TrimSpace(cmd)
		if !ok || img == "" || cmd == "" {
			return nil, fmt.Errorf("--image %q: want IMAGE=COMMAND (COMMAND may be %s)", s, BuiltinSample)
		}
		m.entries[img] = cmd
	}
	return m, nil
}

// Lookup finds the command for an image: by the full reference, then the
// reference without tag or digest, then the repository path without the
// registry, then the last path element.
func (m *ImageMap) Lookup(image string) (string, bool) {
	for _, key := range imageKeys(image) {
		if cmd, ok := m.entries[key]; ok {
			return cmd, true
		}
	}
	return "", false
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

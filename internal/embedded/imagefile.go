package embedded

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/graylane/graylane/internal/manifest"
)

// LoadImageFile reads a YAML file of image mappings, the `images` section
// that `graylane up --images FILE` takes:
//
//	images:
//	  registry.example.com/shop/order: ./bin/order --port $PORT
//	  payment:
//	    command: java -jar payment.jar
//	    dir: ../payment
//
// A command runs under /bin/sh -c in the file's folder, or in dir
// (relative to the file's folder). Every problem is a located
// manifest.Error ("file:line: images[\"x\"]: message"), all of them in a
// manifest.ErrorList.
func LoadImageFile(file string) (map[string]ImageCommand, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--images: %w", err)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("--images: %w", err)
	}
	return parseImageFile(file, filepath.Dir(abs), data)
}

// parseImageFile parses an image file's data; base is the folder that
// relative dirs start from.
func parseImageFile(file, base string, data []byte) (map[string]ImageCommand, error) {
	p := imageFileParser{file: file, base: base, out: map[string]ImageCommand{}}
	doc, err := p.decode(data)
	if err != nil {
		return nil, err
	}
	p.top(doc)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.out, nil
}

type imageFileParser struct {
	file, base string
	out        map[string]ImageCommand
	errs       manifest.ErrorList
}

func (p *imageFileParser) fail(line int, path, format string, args ...any) {
	p.errs = append(p.errs, &manifest.Error{Pos: manifest.Position{File: p.file, Line: line}, Path: path, Msg: fmt.Sprintf(format, args...)})
}

var yamlErrLine = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// decode parses the one YAML document of the file.
func (p *imageFileParser) decode(data []byte) (doc *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, manifest.ErrorList{{Pos: manifest.Position{File: p.file}, Msg: fmt.Sprintf("invalid YAML: %v", r)}}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, manifest.ErrorList{{Pos: manifest.Position{File: p.file, Line: 1}, Msg: "empty file: want an images: section"}}
		}
		return nil, p.syntax(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, manifest.ErrorList{{Pos: manifest.Position{File: p.file, Line: extra.Line}, Msg: "a second YAML document: an image file has one"}}
	case !errors.Is(err, io.EOF):
		return nil, p.syntax(err)
	}
	return &n, nil
}

func (p *imageFileParser) syntax(err error) error {
	msg, line := strings.TrimPrefix(err.Error(), "yaml: "), 0
	if m := yamlErrLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	return manifest.ErrorList{{Pos: manifest.Position{File: p.file, Line: line}, Msg: "invalid YAML: " + msg}}
}

// top checks the document: a mapping with one key, images.
func (p *imageFileParser) top(doc *yaml.Node) {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		p.fail(n.Line, "", "want a mapping with an images: section, got %s", nodeKind(n))
		return
	}
	found := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value != "images" {
			p.fail(k.Line, k.Value, "unknown field (an image file has only images:)")
			continue
		}
		found = true
		p.images(v)
	}
	if !found {
		p.fail(n.Line, "", "no images: section")
	}
}

// images checks the images mapping: IMAGE: COMMAND or IMAGE: {command, dir}.
func (p *imageFileParser) images(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // images: with nothing under it
	}
	if n.Kind != yaml.MappingNode {
		p.fail(n.Line, "images", "want a mapping of IMAGE: COMMAND, got %s", nodeKind(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || strings.TrimSpace(k.Value) == "" {
			p.fail(k.Line, "images", "an image must be a non-empty name, got %s", nodeKind(k))
			continue
		}
		img := strings.TrimSpace(k.Value)
		path := keyPath("images", img)
		if line, dup := seen[img]; dup {
			p.fail(k.Line, path, "mapped twice (first on line %d)", line)
			continue
		}
		seen[img] = k.Line
		if c, ok := p.entry(v, path); ok {
			p.out[img] = c
		}
	}
}

// entry checks one image's command.
func (p *imageFileParser) entry(v *yaml.Node, path string) (ImageCommand, bool) {
	c := ImageCommand{Dir: p.base}
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag != "!!str" || strings.TrimSpace(v.Value) == "" {
			p.fail(v.Line, path, "want a command (a non-empty string, or %s), got %s", BuiltinSample, nodeKind(v))
			return c, false
		}
		c.Command = strings.TrimSpace(v.Value)
		return c, true
	case yaml.MappingNode:
	default:
		p.fail(v.Line, path, "want a command or a mapping with command: and dir:, got %s", nodeKind(v))
		return c, false
	}
	ok := true
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		field := keyPath(path, k.Value)
		if val.Kind != yaml.ScalarNode || val.Tag != "!!str" || strings.TrimSpace(val.Value) == "" {
			p.fail(val.Line, field, "want a non-empty string, got %s", nodeKind(val))
			ok = false
			continue
		}
		switch k.Value {
		case "command":
			c.Command = strings.TrimSpace(val.Value)
		case "dir":
			dir := val.Value
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(p.base, dir)
			}
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				p.fail(val.Line, field, "%s is not a folder", dir)
				ok = false
				continue
			}
			c.Dir = dir
		default:
			p.fail(k.Line, field, "unknown field (want command or dir)")
			ok = false
		}
	}
	if c.Command == "" && ok {
		p.fail(v.Line, path, "command: is missing")
		ok = false
	}
	return c, ok
}

// keyPath appends a key to a field path: .key, or ["key"] when the key
// is not a plain name (image names have dots, slashes and colons).
func keyPath(parent, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			plain = false
			break
		}
	}
	if !plain {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	return parent + "." + key
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!str":
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return "a document"
}

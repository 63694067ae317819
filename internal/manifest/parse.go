package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits that keep hostile inputs cheap.
const (
	maxDepth     = 256     // nesting of mappings and lists
	maxNodes     = 1 << 20 // nodes of one document after alias expansion
	maxDocErrors = 50      // errors reported for one document
)

// chunk is the part of a file between two "---" lines. The separator line
// itself starts the chunk, so that "--- {a: 1}" keeps its content.
type chunk struct {
	data  []byte
	first int // 1-based file line of the chunk's first line
}

// splitDocs splits data on lines that start with "---" followed by a blank
// or the end of the line. It never drops content.
func splitDocs(data []byte) []chunk {
	var chunks []chunk
	start, startLine, line := 0, 1, 1
	for pos := 0; pos < len(data); line++ {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		if pos > start && isDocSeparator(data[pos:next]) {
			chunks = append(chunks, chunk{data: data[start:pos], first: startLine})
			start, startLine = pos, line
		}
		pos = next
	}
	return append(chunks, chunk{data: data[start:], first: startLine})
}

func isDocSeparator(l []byte) bool {
	if !bytes.HasPrefix(l, []byte("---")) {
		return false
	}
	return len(l) == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r' || l[3] == '\n'
}

// parseAll parses every YAML document of data into node trees. It returns
// the documents parsed before an error, and the error.
func parseAll(data []byte) (docs []*yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return docs, err
		}
		docs = append(docs, &n)
	}
}

var yamlLineRE = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// splitYAMLError splits "yaml: line N: msg" into N (0 if absent) and msg.
func splitYAMLError(err error) (int, string) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// syntaxError turns a YAML parse error of a chunk into a located Error.
// yaml.v3 reports the line where the enclosing block started, which can be
// far above the slip, so the line is refined to the first line at which a
// prefix of the chunk fails with the same message.
func syntaxError(file string, c chunk, err error) *Error {
	line, msg := splitYAMLError(err)
	lines := bytes.SplitAfter(c.data, []byte("\n"))
	if k := firstFailingLine(lines, msg); k > 0 {
		line = k
	}
	if line <= 0 || line > len(lines) {
		line = 1
	}
	text := string(lines[line-1])
	return &Error{
		Pos: Position{File: file, Line: c.first + line - 1},
		Msg: "invalid YAML: " + msg + syntaxHint(msg, text),
		err: err,
	}
}

// firstFailingLine returns the smallest k such that the first k lines fail
// to parse with the message msg, or 0. It assumes that failure is monotonic
// in k, and checks its answer.
func firstFailingLine(lines [][]byte, msg string) int {
	fails := func(k int) bool {
		_, err := parseAll(bytes.Join(lines[:k], nil))
		if err == nil {
			return false
		}
		_, m := splitYAMLError(err)
		return m == msg
	}
	lo, hi := 1, len(lines)
	for lo < hi {
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo >= 1 && lo <= len(lines) && fails(lo) {
		return lo
	}
	return 0
}

func syntaxHint(msg, line string) string {
	indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
	switch {
	case strings.Contains(indent, "\t"):
		return " (tabs cannot be used for indentation)"
	case strings.Contains(msg, "expected ',' or"):
		return " (check for a missing comma or closing bracket)"
	case strings.Contains(msg, "did not find expected"),
		strings.Contains(msg, "mapping values are not allowed"),
		strings.Contains(msg, "could not find expected ':'"):
		return " (check the indentation)"
	}
	return ""
}

// nodeKind is the kind of a resolved node.
type nodeKind int

const (
	nNull nodeKind = iota
	nScalar
	nMap
	nSeq
)

// node is a YAML node with aliases and merge keys resolved, duplicate keys
// rejected and file-absolute lines. Aliased subtrees are shared.
type node struct {
	kind   nodeKind
	line   int
	tag    string // short tag of a scalar: !!str, !!int, !!float, !!bool, ...
	value  string // text of a scalar
	quoted bool   // single- or double-quoted scalar
	pairs  []pair // mapping entries in order
	items  []*node
	size   int // nodes in the expanded subtree
}

type pair struct {
	key  string
	line int // line of the key
	val  *node
}

// get returns the value of key in a mapping node, or nil.
func (n *node) get(key string) *node {
	for _, p := range n.pairs {
		if p.key == key {
			return p.val
		}
	}
	return nil
}

// builder converts a yaml.Node tree into a node tree, recording the line of
// every field path and collecting errors.
type builder struct {
	*reporter
	off    int // added to yaml lines
	memo   map[*yaml.Node]*node
	active map[*yaml.Node]bool
	size   int
	full   bool // maxNodes reached
}

func newBuilder(r *reporter, off int) *builder {
	return &builder{reporter: r, off: off, memo: map[*yaml.Node]*node{}, active: map[*yaml.Node]bool{}}
}

func (b *builder) build(y *yaml.Node, path string, depth int) *node {
	null := &node{kind: nNull, line: y.Line + b.off, size: 1}
	if depth > maxDepth {
		b.errorf(null.line, path, "nesting is too deep (more than %d levels)", maxDepth)
		return null
	}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return null
		}
		return b.build(y.Content[0], path, depth)
	case yaml.AliasNode:
		if y.Alias == nil || b.active[y.Alias] {
			b.errorf(null.line, path, "alias *%s refers to itself or to nothing", y.Value)
			return null
		}
		return b.build(y.Alias, path, depth)
	}
	if n, ok := b.memo[y]; ok {
		b.count(n.size, null.line, path)
		return n
	}
	b.active[y] = true
	defer delete(b.active, y)
	var n *node
	switch y.Kind {
	case yaml.MappingNode:
		n = b.mapping(y, path, depth)
	case yaml.SequenceNode:
		n = b.sequence(y, path, depth)
	case yaml.ScalarNode:
		n = b.scalar(y)
		b.count(1, null.line, path)
	default:
		n = null
	}
	if y.Anchor != "" {
		b.memo[y] = n
	}
	return n
}

// count adds expanded nodes and reports excessive aliasing once.
func (b *builder) count(n, line int, path string) {
	b.size += n
	if b.size > maxNodes && !b.full {
		b.full = true
		b.errorf(line, path, "document is too large or contains excessive aliasing")
	}
}

func (b *builder) scalar(y *yaml.Node) *node {
	tag := y.ShortTag()
	quoted := y.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
	if tag == "!!null" {
		return &node{kind: nNull, line: y.Line + b.off, size: 1}
	}
	return &node{kind: nScalar, line: y.Line + b.off, tag: tag, value: y.Value, quoted: quoted, size: 1}
}

func (b *builder) sequence(y *yaml.Node, path string, depth int) *node {
	n := &node{kind: nSeq, line: y.Line + b.off, size: 1}
	b.count(1, n.line, path)
	for i, c := range y.Content {
		if b.full {
			break
		}
		p := indexPath(path, i)
		b.mark(p, c.Line+b.off)
		item := b.build(c, p, depth+1)
		n.items = append(n.items, item)
		n.size += item.size
	}
	return n
}

func (b *builder) mapping(y *yaml.Node, path string, depth int) *node {
	n := &node{kind: nMap, line: y.Line + b.off, size: 1}
	b.count(1, n.line, path)
	seen := map[string]int{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(y.Content) && !b.full; i += 2 {
		ky, vy := y.Content[i], y.Content[i+1]
		if ky.Kind == yaml.ScalarNode && ky.ShortTag() == "!!merge" {
			merges = append(merges, vy)
			continue
		}
		kline := ky.Line + b.off
		key, ok := b.key(ky, path)
		if !ok {
			continue
		}
		if first, dup := seen[key]; dup {
			b.errorf(kline, path, "duplicate key %q (first at line %d)", key, first)
			continue
		}
		seen[key] = kline
		fp := fieldPath(path, key)
		b.mark(fp, kline)
		v := b.build(vy, fp, depth+1)
		n.pairs = append(n.pairs, pair{key: key, line: kline, val: v})
		n.size += v.size
	}
	for _, m := range merges {
		b.merge(n, seen, m, path, depth)
	}
	return n
}

// merge applies a "<<" merge key: keys not given explicitly are taken from
// the merged mapping(s), the first mapping of a list winning.
func (b *builder) merge(n *node, seen map[string]int, y *yaml.Node, path string, depth int) {
	m := b.build(y, path, depth+1)
	sources := []*node{m}
	if m.kind == nSeq {
		sources = m.items
	}
	for _, s := range sources {
		if s.kind != nMap {
			b.errorf(m.line, path, "merge key \"<<\" needs a mapping or a list of mappings, got %s", describe(s))
			return
		}
		for _, p := range s.pairs {
			if _, ok := seen[p.key]; ok {
				continue
			}
			seen[p.key] = p.line
			n.pairs = append(n.pairs, p)
			n.size += p.val.size
		}
	}
}

func (b *builder) key(ky *yaml.Node, path string) (string, bool) {
	k := ky
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		b.errorf(ky.Line+b.off, path, "mapping keys must be scalars")
		return "", false
	}
	return k.Value, true
}

// reporter collects the errors and field lines of one document.
type reporter struct {
	file  string
	lines map[string]int
	errs  ErrorList
}

func newReporter(file string) *reporter {
	return &reporter{file: file, lines: map[string]int{}}
}

// mark records the line of a field path (the first one wins).
func (r *reporter) mark(path string, line int) {
	if _, ok := r.lines[path]; !ok {
		r.lines[path] = line
	}
}

func (r *reporter) errorf(line int, path, format string, args ...any) {
	switch {
	case len(r.errs) < maxDocErrors:
		r.errs = append(r.errs, &Error{Pos: Position{File: r.file, Line: line}, Path: path, Msg: fmt.Sprintf(format, args...)})
	case len(r.errs) == maxDocErrors:
		r.errs = append(r.errs, &Error{Pos: Position{File: r.file, Line: line}, Msg: "too many errors in this document; stopping"})
	}
}

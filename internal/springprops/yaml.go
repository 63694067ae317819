package springprops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
)

// parseYAML flattens every document of a YAML stream; a later document's
// value of a property wins, as Spring's later documents do.
func parseYAML(content []byte) (map[string]string, error) {
	docs, err := decodeAll(content)
	if err != nil {
		return nil, err
	}
	f := flattener{out: map[string]string{}, expanding: map[*yaml.Node]bool{}}
	for _, doc := range docs {
		if len(doc.Content) == 0 {
			continue
		}
		if err := f.flatten("", doc.Content[0]); err != nil {
			return nil, err
		}
	}
	return f.out, nil
}

// decodeAll decodes every document of a YAML stream.
func decodeAll(content []byte) ([]*yaml.Node, error) {
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(content))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("yaml: %w", err)
		}
		docs = append(docs, &doc)
	}
}

// maxYAMLNodes bounds the nodes one stream flattens to, aliases expanded
// (a few lines of aliases of aliases make billions).
const maxYAMLNodes = 1 << 20

// flattener turns YAML nodes into properties.
type flattener struct {
	out map[string]string
	// expanding is the maps and lists being flattened: an alias to one
	// of them (an anchor that contains itself) would never end.
	expanding map[*yaml.Node]bool
	nodes     int
}

func (f *flattener) flatten(prefix string, n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if f.nodes++; f.nodes > maxYAMLNodes {
		return fmt.Errorf("line %d: more than %d values with the aliases expanded", n.Line, maxYAMLNodes)
	}
	switch n.Kind {
	case yaml.MappingNode:
		if err := f.enter(n); err != nil {
			return err
		}
		defer delete(f.expanding, n)
		es, err := f.entries(n)
		if err != nil {
			return err
		}
		for _, e := range es {
			name := e.key
			if prefix != "" {
				name = prefix + "." + name
			}
			if err := f.flatten(name, e.v); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		if err := f.enter(n); err != nil {
			return err
		}
		defer delete(f.expanding, n)
		for i, item := range n.Content {
			if err := f.flatten(prefix+"["+strconv.Itoa(i)+"]", item); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if prefix == "" {
			return fmt.Errorf("line %d: a document that is a single value, not properties", n.Line)
		}
		if n.Tag == "!!null" {
			f.out[prefix] = ""
		} else {
			f.out[prefix] = n.Value
		}
	}
	return nil
}

// enter marks n as being flattened, or fails when it already is.
func (f *flattener) enter(n *yaml.Node) error {
	if f.expanding[n] {
		return fmt.Errorf("line %d: an alias inside its own anchor", n.Line)
	}
	f.expanding[n] = true
	return nil
}

// entry is a key of a mapping and its value.
type entry struct {
	key string
	v   *yaml.Node
	own bool // a key of the map itself, not a merged one
}

// entries is a mapping's keys and values with its merge keys (<<: *anchor,
// <<: [*a, *b]) applied as SnakeYAML, which Spring uses, applies them
// (SafeConstructor.mergeNode), in one pass in document order: a key of the
// map itself replaces a merged key of the same name whole (a merged map is
// not merged into), the first of several merged maps that have a key
// wins, a merged map's own merge keys are applied first, and a key keeps
// the place where it first appears. A key given twice in the map itself is
// an error, as in Spring (its YAML loader does not allow duplicate keys).
func (f *flattener) entries(n *yaml.Node) ([]entry, error) {
	var es []entry
	at := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a key that is not a scalar", k.Line)
		}
		if k.Tag != "!!merge" {
			j, ok := at[k.Value]
			switch {
			case !ok:
				at[k.Value] = len(es)
				es = append(es, entry{key: k.Value, v: v})
			case es[j].own:
				return nil, fmt.Errorf("line %d: key %q given twice", k.Line, k.Value)
			default:
				es[j].v = v
			}
			es[at[k.Value]].own = true
			continue
		}
		merged, err := f.merged(v)
		if err != nil {
			return nil, err
		}
		for _, e := range merged {
			if _, ok := at[e.key]; !ok {
				at[e.key] = len(es)
				es = append(es, entry{key: e.key, v: e.v})
			}
		}
	}
	return es, nil
}

// merged is the entries of a merge key's value: a map, or a list of maps
// of which an earlier one wins.
func (f *flattener) merged(v *yaml.Node) ([]entry, error) {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	maps := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		maps = v.Content
	}
	var out []entry
	for _, m := range maps {
		if m.Kind == yaml.AliasNode {
			m = m.Alias
		}
		if m.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("line %d: a merge key (<<) takes a map or a list of maps", m.Line)
		}
		if err := f.enter(m); err != nil {
			return nil, err
		}
		es, err := f.entries(m)
		delete(f.expanding, m)
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
	}
	return out, nil
}

// setYAML sets properties in the first document of content, keeping the
// others, every other key, their order and their comments; new keys go
// after the existing ones of their map.
func setYAML(content []byte, set map[string]*string) ([]byte, error) {
	docs, err := decodeAll(content)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		docs = []*yaml.Node{{Kind: yaml.DocumentNode}}
	}
	first := docs[0]
	if len(first.Content) == 0 || (first.Content[0].Kind == yaml.ScalarNode && first.Content[0].Tag == "!!null") {
		first.Content = []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}
	}
	root := first.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: the document is not a map of properties", root.Line)
	}
	changed := false
	for _, key := range sortedKeys(set) {
		c, err := setNode(root, elements(key), set[key])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		changed = changed || c
	}
	if !changed {
		return content, nil
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("yaml: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	return b.Bytes(), nil
}

// setNode sets (value non-nil) or deletes the property els below the
// mapping or sequence n, and reports whether anything changed.
func setNode(n *yaml.Node, els []element, value *string) (bool, error) {
	if n.Kind == yaml.SequenceNode {
		return setIndex(n, els, value)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		m := matchPrefix(elements(k.Value), els)
		if m == 0 {
			continue
		}
		if m == len(els) {
			if value == nil {
				n.Content = append(n.Content[:i], n.Content[i+2:]...)
				return true, nil
			}
			v := n.Content[i+1]
			if v.Kind == yaml.ScalarNode && v.Tag != "!!null" && v.Value == *value {
				return false, nil
			}
			n.Content[i+1] = scalar(*value)
			return true, nil
		}
		child := n.Content[i+1]
		if child.Kind == yaml.AliasNode {
			return false, fmt.Errorf("line %d: %s is an alias; edit it by hand", k.Line, k.Value)
		}
		wantSeq := els[m].index >= 0
		if (wantSeq && child.Kind != yaml.SequenceNode) || (!wantSeq && child.Kind != yaml.MappingNode) {
			if value == nil {
				return false, nil
			}
			b, err := build(els[m:], *value)
			if err != nil {
				return false, err
			}
			n.Content[i+1] = b
			return true, nil
		}
		return setNode(child, els[m:], value)
	}
	if value == nil {
		return false, nil
	}
	if els[0].index >= 0 {
		return false, fmt.Errorf("an index where the document has a map")
	}
	b, err := build(els[1:], *value)
	if err != nil {
		return false, err
	}
	n.Content = append(n.Content, scalar(els[0].keyOf()), b)
	return true, nil
}

func setIndex(n *yaml.Node, els []element, value *string) (bool, error) {
	i := els[0].index
	if i < 0 {
		return false, fmt.Errorf("line %d: a name where the document has a list", n.Line)
	}
	if i > len(n.Content) {
		return false, fmt.Errorf("line %d: index %d is past the end of a list of %d", n.Line, i, len(n.Content))
	}
	if i == len(n.Content) {
		if value == nil {
			return false, nil
		}
		b, err := build(els[1:], *value)
		if err != nil {
			return false, err
		}
		n.Content = append(n.Content, b)
		return true, nil
	}
	if len(els) == 1 {
		if value == nil {
			n.Content = append(n.Content[:i], n.Content[i+1:]...)
			return true, nil
		}
		if v := n.Content[i]; v.Kind == yaml.ScalarNode && v.Tag != "!!null" && v.Value == *value {
			return false, nil
		}
		n.Content[i] = scalar(*value)
		return true, nil
	}
	child := n.Content[i]
	wantSeq := els[1].index >= 0
	if (wantSeq && child.Kind != yaml.SequenceNode) || (!wantSeq && child.Kind != yaml.MappingNode) {
		if value == nil {
			return false, nil
		}
		b, err := build(els[1:], *value)
		if err != nil {
			return false, err
		}
		n.Content[i] = b
		return true, nil
	}
	return setNode(child, els[1:], value)
}

// matchPrefix is how many elements of els a map key's elements match in
// canonical form (0: the key does not lead to els).
func matchPrefix(key, els []element) int {
	if len(key) == 0 || len(key) > len(els) {
		return 0
	}
	for i, k := range key {
		if !sameElement(k, els[i]) {
			return 0
		}
	}
	return len(key)
}

// build is the YAML of the property els with value, nested maps and lists.
// A new list can only start at index 0.
func build(els []element, value string) (*yaml.Node, error) {
	if len(els) == 0 {
		return scalar(value), nil
	}
	inner, err := build(els[1:], value)
	if err != nil {
		return nil, err
	}
	if els[0].index > 0 {
		return nil, fmt.Errorf("index %d of a list that does not exist yet (a new list starts at [0])", els[0].index)
	}
	if els[0].index == 0 {
		return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{inner}}, nil
	}
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{scalar(els[0].keyOf()), inner}}, nil
}

func scalar(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
}

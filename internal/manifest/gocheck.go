package manifest

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	protoMessageType    = reflect.TypeFor[protoreflect.ProtoMessage]()
)

// scalarLeaves are types with their own UnmarshalJSON that only take a
// scalar; other such types get whatever their UnmarshalJSON accepts.
var scalarLeaves = map[reflect.Type]bool{
	reflect.TypeFor[metav1.Time]():        true,
	reflect.TypeFor[metav1.MicroTime]():   true,
	reflect.TypeFor[metav1.Duration]():    true,
	reflect.TypeFor[intstr.IntOrString](): true,
	reflect.TypeFor[resource.Quantity]():  true,
}

// checker walks a node tree together with a Go type (or a protobuf
// descriptor), reports every mismatch, and returns the JSON-ready value
// with plain scalars coerced to the strings the schema wants.
type checker struct {
	*reporter
}

func isProto(t reflect.Type) bool {
	return t.Kind() != reflect.Interface && reflect.PointerTo(t).Implements(protoMessageType)
}

func implements(t, iface reflect.Type) bool {
	return t.Implements(iface) || (t.Kind() != reflect.Interface && reflect.PointerTo(t).Implements(iface))
}

func (c *checker) walkGo(n *node, t reflect.Type, path string) any {
	for t.Kind() == reflect.Pointer {
		if n.kind == nNull {
			return nil
		}
		t = t.Elem()
	}
	switch {
	case isProto(t):
		md := reflect.New(t).Interface().(protoreflect.ProtoMessage).ProtoReflect().Descriptor()
		return c.walkMsg(n, md, path)
	case implements(t, jsonUnmarshalerType):
		return c.goLeaf(n, t, path)
	case implements(t, textUnmarshalerType):
		return c.goString(n, path)
	}
	switch t.Kind() {
	case reflect.Struct:
		return c.goStruct(n, t, path)
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return c.goString(n, path) // []byte is base64 text
		}
		return c.goSlice(n, t, path)
	case reflect.Map:
		return c.goMap(n, t, path)
	case reflect.Interface:
		return jsonValue(n)
	case reflect.String:
		return c.goString(n, path)
	case reflect.Bool:
		return c.goBool(n, path)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return c.goInt(n, path, t.Bits(), true)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return c.goInt(n, path, t.Bits(), false)
	case reflect.Float32, reflect.Float64:
		return c.goFloat(n, path)
	}
	c.errorf(n.line, path, "field of Go type %s cannot be set from a manifest", t)
	return nil
}

// goLeaf checks a value against a type's own UnmarshalJSON.
func (c *checker) goLeaf(n *node, t reflect.Type, path string) any {
	if scalarLeaves[t] && (n.kind == nMap || n.kind == nSeq) {
		c.errorf(n.line, path, "must be a string or a number, got %s", describe(n))
		return nil
	}
	v := jsonValue(n)
	err := tryUnmarshal(t, v)
	if err == nil {
		return v
	}
	if _, isString := v.(string); n.kind == nScalar && !isString && tryUnmarshal(t, n.value) == nil {
		return n.value
	}
	c.errorf(n.line, path, "invalid value %s: %v", describe(n), err)
	return nil
}

// tryUnmarshal runs the UnmarshalJSON of a new value of type t on v.
func tryUnmarshal(t reflect.Type, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rejected by %s: %v", t, r)
		}
	}()
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding value: %w", err)
	}
	u, ok := reflect.New(t).Interface().(json.Unmarshaler)
	if !ok {
		return nil
	}
	return u.UnmarshalJSON(data)
}

func (c *checker) goStruct(n *node, t reflect.Type, path string) any {
	switch n.kind {
	case nNull:
		return nil // as encoding/json (and kubectl): the zero value
	case nMap:
	default:
		c.errorf(n.line, path, "must be an object, got %s", describe(n))
		return nil
	}
	fields := structFields(t)
	out := make(map[string]any, len(n.pairs))
	for _, p := range n.pairs {
		f, ok := fields[p.key]
		if !ok {
			c.errorf(p.line, path, "unknown field %q%s", p.key, caseHint(fields, p.key))
			continue
		}
		out[p.key] = c.walkGo(p.val, f.typ, fieldPath(path, p.key))
	}
	return out
}

// caseHint suggests the field that differs only in case, if any.
func caseHint(fields map[string]goField, key string) string {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return ""
}

func (c *checker) goSlice(n *node, t reflect.Type, path string) any {
	switch n.kind {
	case nNull:
		return nil
	case nSeq:
	default:
		c.errorf(n.line, path, "must be a list, got %s", describe(n))
		return nil
	}
	out := make([]any, len(n.items))
	for i, it := range n.items {
		out[i] = c.walkGo(it, t.Elem(), indexPath(path, i))
	}
	return out
}

func (c *checker) goMap(n *node, t reflect.Type, path string) any {
	switch n.kind {
	case nNull:
		return nil
	case nMap:
	default:
		c.errorf(n.line, path, "must be an object, got %s", describe(n))
		return nil
	}
	out := make(map[string]any, len(n.pairs))
	for _, p := range n.pairs {
		if !validMapKey(t.Key(), p.key) {
			c.errorf(p.line, path, "invalid key %q for a map with %s keys", p.key, t.Key())
			continue
		}
		out[p.key] = c.walkGo(p.val, t.Elem(), fieldPath(path, p.key))
	}
	return out
}

func validMapKey(k reflect.Type, key string) bool {
	switch k.Kind() {
	case reflect.String:
		return true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		_, err := strconv.ParseInt(key, 10, k.Bits())
		return err == nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		_, err := strconv.ParseUint(key, 10, k.Bits())
		return err == nil
	}
	return implements(k, textUnmarshalerType)
}

// goString accepts any scalar as its literal text.
func (c *checker) goString(n *node, path string) any {
	switch n.kind {
	case nNull:
		return nil
	case nScalar:
		return n.value
	}
	c.errorf(n.line, path, "must be a string, got %s", describe(n))
	return nil
}

func (c *checker) goBool(n *node, path string) any {
	switch {
	case n.kind == nNull:
		return nil
	case isBool(n):
		return strings.EqualFold(n.value, "true")
	}
	c.errorf(n.line, path, "must be a boolean, got %s", describe(n))
	return nil
}

func (c *checker) goInt(n *node, path string, bits int, signed bool) any {
	if n.kind == nNull {
		return nil
	}
	num, ok := parseNumber(n.value)
	if !isNumeric(n) || !ok {
		c.errorf(n.line, path, "must be an integer, got %s", describe(n))
		return nil
	}
	if s, ok := intText(num, bits, signed); ok {
		return json.Number(s)
	}
	if num.isInt || (num.text != "" && num.f == math.Trunc(num.f)) {
		c.errorf(n.line, path, "%s is out of range", describe(n))
	} else {
		c.errorf(n.line, path, "must be an integer, got %s", describe(n))
	}
	return nil
}

// intText returns the integer text of num if it is a whole number that fits
// the given integer type.
func intText(num number, bits int, signed bool) (string, bool) {
	if !num.isInt {
		if num.text == "" || num.f != math.Trunc(num.f) || math.Abs(num.f) >= 1<<63 {
			return "", false
		}
		num = number{isInt: true, i: int64(num.f), u: uint64(int64(num.f)), neg: num.f < 0}
	}
	if signed {
		if num.i == math.MaxInt64 && num.u > math.MaxInt64 {
			return "", false
		}
		limit := int64(1) << (bits - 1)
		if bits < 64 && (num.i < -limit || num.i >= limit) {
			return "", false
		}
		return strconv.FormatInt(num.i, 10), true
	}
	if num.neg || (bits < 64 && num.u >= uint64(1)<<bits) {
		return "", false
	}
	return strconv.FormatUint(num.u, 10), true
}

func (c *checker) goFloat(n *node, path string) any {
	if n.kind == nNull {
		return nil
	}
	num, ok := parseNumber(n.value)
	if !isNumeric(n) || !ok || num.text == "" {
		c.errorf(n.line, path, "must be a number, got %s", describe(n))
		return nil
	}
	return json.Number(num.text)
}

// goField is a JSON-visible field of a Go struct.
type goField struct {
	name  string
	index []int
	typ   reflect.Type
	depth int
}

var fieldCache sync.Map // reflect.Type -> map[string]goField

// structFields returns the JSON fields of a struct type by name, following
// encoding/json: json tags, "-", and promotion of embedded structs without a
// name (`json:",inline"`); the shallowest field of a name wins.
func structFields(t reflect.Type) map[string]goField {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]goField)
	}
	var all []goField
	collectFields(t, nil, 0, &all)
	sort.SliceStable(all, func(i, j int) bool { return all[i].depth < all[j].depth })
	m := map[string]goField{}
	for _, f := range all {
		if _, ok := m[f.name]; !ok {
			m[f.name] = f
		}
	}
	fieldCache.Store(t, m)
	return m
}

func collectFields(t reflect.Type, index []int, depth int, out *[]goField) {
	if depth > 16 {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		idx := append(append([]int(nil), index...), i)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			collectFields(ft, idx, depth+1, out)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		*out = append(*out, goField{name: name, index: idx, typ: f.Type, depth: depth})
	}
}

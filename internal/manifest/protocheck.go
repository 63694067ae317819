package manifest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// wrapperTypes are the google.protobuf wrapper messages, written in JSON as
// their plain value.
var wrapperTypes = map[protoreflect.FullName]bool{
	"google.protobuf.BoolValue": true, "google.protobuf.BytesValue": true,
	"google.protobuf.DoubleValue": true, "google.protobuf.FloatValue": true,
	"google.protobuf.Int32Value": true, "google.protobuf.Int64Value": true,
	"google.protobuf.UInt32Value": true, "google.protobuf.UInt64Value": true,
	"google.protobuf.StringValue": true,
}

// walkMsg checks n against a protobuf message as protojson reads it.
func (c *checker) walkMsg(n *node, md protoreflect.MessageDescriptor, path string) any {
	if v, ok := c.wellKnown(n, md, path); ok {
		return v
	}
	if n.kind != nMap {
		c.errorf(n.line, path, "must be an object, got %s", describe(n))
		return nil
	}
	fields := md.Fields()
	out := make(map[string]any, len(n.pairs))
	seen := map[protoreflect.FieldNumber]string{}
	oneofs := map[protoreflect.FullName]string{}
	for _, p := range n.pairs {
		fd := fields.ByJSONName(p.key)
		if fd == nil {
			fd = fields.ByName(protoreflect.Name(p.key))
		}
		if fd == nil {
			c.errorf(p.line, path, "unknown field %q", p.key)
			continue
		}
		fp := fieldPath(path, fd.JSONName())
		c.mark(fp, p.line)
		if prev, dup := seen[fd.Number()]; dup {
			c.errorf(p.line, path, "field %q is given twice (also as %q)", p.key, prev)
			continue
		}
		seen[fd.Number()] = p.key
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && p.val.kind != nNull {
			if prev, set := oneofs[od.FullName()]; set {
				c.errorf(p.line, path, "%q conflicts with %q: only one of %s may be set", p.key, prev, oneofNames(od))
				continue
			}
			oneofs[od.FullName()] = p.key
		}
		if v := c.walkField(p.val, fd, fp); v != nil {
			out[p.key] = v
		}
	}
	return out
}

func oneofNames(od protoreflect.OneofDescriptor) string {
	names := make([]string, od.Fields().Len())
	for i := range names {
		names[i] = od.Fields().Get(i).JSONName()
	}
	return strings.Join(names, ", ")
}

func (c *checker) walkField(n *node, fd protoreflect.FieldDescriptor, path string) any {
	switch {
	case n.kind == nNull:
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
			return c.walkMsg(n, fd.Message(), path) // reports a required object
		}
		return nil
	case fd.IsMap():
		if n.kind != nMap {
			c.errorf(n.line, path, "must be an object, got %s", describe(n))
			return nil
		}
		out := make(map[string]any, len(n.pairs))
		for _, p := range n.pairs {
			kp := fieldPath(path, p.key)
			if !validProtoKey(fd.MapKey(), p.key) {
				c.errorf(p.line, path, "invalid key %q for a map with %s keys", p.key, fd.MapKey().Kind())
				continue
			}
			if p.val.kind == nNull && fd.MapValue().Message() == nil {
				c.errorf(p.line, kp, "must not be null")
				continue
			}
			out[p.key] = c.walkSingular(p.val, fd.MapValue(), kp)
		}
		return out
	case fd.IsList():
		if n.kind != nSeq {
			c.errorf(n.line, path, "must be a list, got %s", describe(n))
			return nil
		}
		out := make([]any, len(n.items))
		for i, it := range n.items {
			ip := indexPath(path, i)
			if it.kind == nNull && fd.Message() == nil {
				c.errorf(it.line, ip, "must not be null")
				continue
			}
			out[i] = c.walkSingular(it, fd, ip)
		}
		return out
	}
	return c.walkSingular(n, fd, path)
}

// walkSingular checks one value of a field (a list item, map value, or the
// value of a singular field).
func (c *checker) walkSingular(n *node, fd protoreflect.FieldDescriptor, path string) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return c.walkMsg(n, fd.Message(), path)
	case protoreflect.EnumKind:
		return c.protoEnum(n, fd.Enum(), path)
	case protoreflect.BoolKind:
		if isBool(n) {
			return strings.EqualFold(n.value, "true")
		}
		if n.kind != nNull {
			c.errorf(n.line, path, "must be a boolean, got %s", describe(n))
		}
		return nil
	case protoreflect.StringKind:
		return c.goString(n, path)
	case protoreflect.BytesKind:
		return c.protoBytes(n, path)
	}
	if n.kind == nNull {
		return nil
	}
	v, ok := c.protoNumber(n, fd)
	if !ok {
		c.errorf(n.line, path, "%s", numberProblem(n, fd))
	}
	return v
}

// numberProblem explains why n is not a valid value of a numeric field.
func numberProblem(n *node, fd protoreflect.FieldDescriptor) string {
	if num, ok := parseNumber(n.value); ok && n.kind == nScalar && num.text != "" && num.f == math.Trunc(num.f) {
		return fmt.Sprintf("%s is out of range for %s", describe(n), fd.Kind())
	}
	what := "an integer"
	if fd.Kind() == protoreflect.FloatKind || fd.Kind() == protoreflect.DoubleKind {
		what = "a number"
	}
	return fmt.Sprintf("must be %s (%s), got %s", what, fd.Kind(), describe(n))
}

// protoNumber checks a numeric field; like protojson it accepts numbers
// and quoted numbers.
func (c *checker) protoNumber(n *node, fd protoreflect.FieldDescriptor) (any, bool) {
	if n.kind != nScalar || isBool(n) {
		return nil, false
	}
	if fd.Kind() == protoreflect.FloatKind || fd.Kind() == protoreflect.DoubleKind {
		switch n.value {
		case "NaN", "Infinity", "-Infinity":
			return n.value, true
		}
		num, ok := parseNumber(n.value)
		switch {
		case !ok:
			return nil, false
		case num.text == "" && math.IsNaN(num.f):
			return "NaN", true
		case num.text == "" && num.f > 0:
			return "Infinity", true
		case num.text == "":
			return "-Infinity", true
		case fd.Kind() == protoreflect.FloatKind && math.Abs(num.f) > math.MaxFloat32:
			return nil, false
		}
		return json.Number(num.text), true
	}
	num, ok := parseNumber(n.value)
	if !ok {
		return nil, false
	}
	bits, signed := 64, true
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		bits = 32
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		bits, signed = 32, false
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		signed = false
	case protoreflect.BoolKind, protoreflect.StringKind:
		return nil, false
	}
	s, ok := intText(num, bits, signed)
	if !ok {
		return nil, false
	}
	return json.Number(s), true
}

// validProtoKey reports whether key is a valid map key of the given kind
// in the form protojson reads.
func validProtoKey(kd protoreflect.FieldDescriptor, key string) bool {
	var err error
	switch kd.Kind() {
	case protoreflect.StringKind:
	case protoreflect.BoolKind:
		if key != "true" && key != "false" {
			return false
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		_, err = strconv.ParseInt(key, 10, 32)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		_, err = strconv.ParseUint(key, 10, 32)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		_, err = strconv.ParseUint(key, 10, 64)
	default:
		_, err = strconv.ParseInt(key, 10, 64)
	}
	return err == nil
}

func (c *checker) protoEnum(n *node, ed protoreflect.EnumDescriptor, path string) any {
	if ed.FullName() == "google.protobuf.NullValue" {
		return nil
	}
	switch {
	case n.kind == nNull:
		return nil
	case isNumeric(n):
		if num, ok := parseNumber(n.value); ok {
			if s, ok := intText(num, 32, true); ok {
				return json.Number(s)
			}
		}
	case n.kind == nScalar:
		if ed.Values().ByName(protoreflect.Name(n.value)) != nil {
			return n.value
		}
	}
	got := describe(n)
	if n.kind == nScalar {
		got = strconv.Quote(n.value)
	}
	values := ed.Values()
	if values.Len() > 10 {
		c.errorf(n.line, path, "invalid value %s for enum %s", got, ed.Name())
		return nil
	}
	names := make([]string, values.Len())
	for i := range names {
		names[i] = string(values.Get(i).Name())
	}
	c.errorf(n.line, path, "invalid value %s for enum %s (allowed: %s)", got, ed.Name(), strings.Join(names, ", "))
	return nil
}

func (c *checker) protoBytes(n *node, path string) any {
	if n.kind == nNull {
		return nil
	}
	if n.kind == nScalar {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if _, err := enc.DecodeString(n.value); err == nil {
				return n.value
			}
		}
	}
	c.errorf(n.line, path, "must be base64 text, got %s", describe(n))
	return nil
}

// wellKnown handles google.protobuf types with a special JSON form. ok is
// false for ordinary messages.
func (c *checker) wellKnown(n *node, md protoreflect.MessageDescriptor, path string) (v any, ok bool) {
	name := md.FullName()
	switch {
	case wrapperTypes[name]:
		return c.walkSingular(n, md.Fields().ByName("value"), path), true
	case name == "google.protobuf.Value":
		return jsonValue(n), true
	case n.kind == nNull:
		if name.Parent() == "google.protobuf" {
			return nil, true
		}
		c.errorf(n.line, path, "must be an object, got null")
		return nil, true
	case name == "google.protobuf.Struct", name == "google.protobuf.Any", name == "google.protobuf.Empty":
		if n.kind != nMap {
			c.errorf(n.line, path, "must be an object, got %s", describe(n))
			return nil, true
		}
		return jsonValue(n), true
	case name == "google.protobuf.ListValue":
		if n.kind != nSeq {
			c.errorf(n.line, path, "must be a list, got %s", describe(n))
			return nil, true
		}
		return jsonValue(n), true
	case name == "google.protobuf.Duration", name == "google.protobuf.Timestamp":
		return c.wktString(n, md, path), true
	}
	return nil, false
}

// wktString checks the string form of a Duration or Timestamp the way
// Istio's types decode it, and returns it in the form protojson (the
// loader's decoder) reads. Istio's UnmarshalJSON is the legacy jsonpb of
// github.com/golang/protobuf, which reads a Duration with Go's
// time.ParseDuration ("3m", "24h", "1h30m", "0.25s") and a Timestamp with
// time.Parse(time.RFC3339Nano, ...); protojson alone would accept only
// seconds with an "s" suffix, while Istio's own task and reference
// examples write "3m" and "24h" (and the API server's CEL duration()
// accepts them).
func (c *checker) wktString(n *node, md protoreflect.MessageDescriptor, path string) any {
	if md.FullName() == "google.protobuf.Duration" {
		d, err := time.ParseDuration(n.value)
		if n.kind != nScalar || err != nil {
			c.errorf(n.line, path, `must be a duration such as "5s", "250ms", "3m" or "1h30m", got %s`, describe(n))
			return nil
		}
		return protoDuration(d)
	}
	t, err := time.Parse(time.RFC3339Nano, n.value)
	if n.kind != nScalar || err != nil {
		c.errorf(n.line, path, `must be an RFC 3339 timestamp such as "2024-01-02T15:04:05Z", got %s`, describe(n))
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// protoDuration writes d as protojson reads a Duration: seconds with up
// to nine decimals and an "s" suffix; seconds and nanoseconds keep the
// sign of d, as jsonpb sets them.
func protoDuration(d time.Duration) string {
	sign, u := "", uint64(d)
	if d < 0 {
		sign, u = "-", uint64(-(d+1))+1 // -d overflows for the minimum
	}
	sec, nanos := u/1e9, u%1e9
	if nanos == 0 {
		return fmt.Sprintf("%s%ds", sign, sec)
	}
	return strings.TrimRight(fmt.Sprintf("%s%d.%09d", sign, sec, nanos), "0") + "s"
}

// protoUnmarshal runs protojson, turning a panic into an error.
func protoUnmarshal(data []byte, m protoreflect.ProtoMessage) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("protojson failed: %v", r)
		}
	}()
	return protojson.UnmarshalOptions{}.Unmarshal(data, m)
}

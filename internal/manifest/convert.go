package manifest

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// number is a parsed numeric scalar.
type number struct {
	text  string  // JSON text; "" when not finite
	f     float64 // value as a float
	isInt bool    // an integer that fits in int64 or uint64
	i     int64
	u     uint64
	neg   bool
}

// parseNumber parses YAML number syntax: decimal, 0x/0o/0b, underscores,
// exponents, .inf and .nan.
func parseNumber(s string) (number, bool) {
	t := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	if t == "" {
		return number{}, false
	}
	if i, err := strconv.ParseInt(t, 0, 64); err == nil {
		return number{text: strconv.FormatInt(i, 10), f: float64(i), isInt: true, i: i, u: uint64(i), neg: i < 0}, true
	}
	if u, err := strconv.ParseUint(strings.TrimPrefix(t, "+"), 0, 64); err == nil {
		return number{text: strconv.FormatUint(u, 10), f: float64(u), isInt: true, i: math.MaxInt64, u: u}, true
	}
	switch strings.ToLower(t) {
	case ".inf", "+.inf":
		return number{f: math.Inf(1)}, true
	case "-.inf":
		return number{f: math.Inf(-1)}, true
	case ".nan":
		return number{f: math.NaN()}, true
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || strings.ContainsAny(t, "xXpP") {
		return number{}, false
	}
	n := number{f: f, neg: f < 0}
	if !math.IsInf(f, 0) && !math.IsNaN(f) {
		n.text = strconv.FormatFloat(f, 'g', -1, 64)
	}
	return n, true
}

// isNumeric reports whether n is a plain (unquoted) YAML number.
func isNumeric(n *node) bool {
	return n.kind == nScalar && !n.quoted && (n.tag == "!!int" || n.tag == "!!float")
}

// isBool reports whether n is a plain YAML boolean.
func isBool(n *node) bool {
	return n.kind == nScalar && !n.quoted && n.tag == "!!bool"
}

// rawValue converts n to generic data: map[string]any, []any, string,
// int64, float64, bool or nil.
func rawValue(n *node) any {
	switch n.kind {
	case nMap:
		m := make(map[string]any, len(n.pairs))
		for _, p := range n.pairs {
			m[p.key] = rawValue(p.val)
		}
		return m
	case nSeq:
		l := make([]any, len(n.items))
		for i, it := range n.items {
			l[i] = rawValue(it)
		}
		return l
	case nScalar:
		switch {
		case isBool(n):
			return strings.EqualFold(n.value, "true")
		case isNumeric(n):
			if num, ok := parseNumber(n.value); ok {
				if num.isInt && num.text == strconv.FormatInt(num.i, 10) {
					return num.i
				}
				return num.f
			}
		}
		return n.value
	}
	return nil
}

// jsonValue converts n to data that encoding/json marshals faithfully:
// numbers are json.Number, numbers that JSON cannot express are strings.
func jsonValue(n *node) any {
	switch n.kind {
	case nMap:
		m := make(map[string]any, len(n.pairs))
		for _, p := range n.pairs {
			m[p.key] = jsonValue(p.val)
		}
		return m
	case nSeq:
		l := make([]any, len(n.items))
		for i, it := range n.items {
			l[i] = jsonValue(it)
		}
		return l
	case nScalar:
		return scalarJSON(n)
	}
	return nil
}

func scalarJSON(n *node) any {
	switch {
	case isBool(n):
		return strings.EqualFold(n.value, "true")
	case isNumeric(n):
		if num, ok := parseNumber(n.value); ok && num.text != "" {
			return json.Number(num.text)
		}
	}
	return n.value
}

// describe names the kind and value of a node for messages.
func describe(n *node) string {
	switch n.kind {
	case nNull:
		return "null"
	case nMap:
		return "object"
	case nSeq:
		return "list"
	}
	v := n.value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	switch {
	case isNumeric(n):
		return "number " + v
	case isBool(n):
		return "boolean " + v
	}
	return "string " + strconv.Quote(v)
}

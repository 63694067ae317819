// Package springprops reads and edits Spring Boot configuration the way
// Spring Boot binds it: YAML and .properties documents flattened to dotted
// property names, names compared in Spring's relaxed form, and the
// environment variable that overrides a property (relaxed binding). It does
// no I/O: the Nacos shells (nacos fix, canary configuration, the sample
// app's Nacos mode) fetch and publish the documents.
//
// References: Spring Boot reference, "Externalized Configuration" -
// "Relaxed Binding" and "Binding From Environment Variables"
// (docs.spring.io/spring-boot/reference/features/external-config.html), and
// org.springframework.boot.context.properties.source.ConfigurationPropertyName
// (element comparison ignores case and '-').
package springprops

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Formats of a configuration document.
const (
	YAML       = "yaml"
	Properties = "properties"
)

// FormatOf is the format of a configuration by its data id's (file name's)
// extension: YAML for .yaml and .yml, Properties for .properties, "" for
// anything else.
func FormatOf(dataID string) string {
	switch strings.ToLower(path.Ext(dataID)) {
	case ".yaml", ".yml":
		return YAML
	case ".properties":
		return Properties
	}
	return ""
}

// EnvName is the environment variable Spring Boot's relaxed binding reads for
// a property: '.' becomes '_', '-' is removed, an index "[N]" becomes "_N",
// and the result is upper case.
//
//	spring.cloud.openfeign.client.config.order-service.url -> SPRING_CLOUD_OPENFEIGN_CLIENT_CONFIG_ORDERSERVICE_URL
//	my.service[0].other                                    -> MY_SERVICE_0_OTHER
func EnvName(key string) string {
	var b strings.Builder
	for _, e := range elements(key) {
		if b.Len() > 0 {
			b.WriteByte('_')
		}
		if e.index >= 0 {
			b.WriteString(strconv.Itoa(e.index))
			continue
		}
		for _, r := range e.name {
			if r == '-' {
				continue
			}
			b.WriteString(strings.ToUpper(string(r)))
		}
	}
	return b.String()
}

// ValidEnvName reports whether name can be an environment variable of a
// container: letters, digits and '_', not starting with a digit.
func ValidEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Canonical is a property name in the form Spring compares names in: each
// element lower case without '-', indexes as "[N]". Two names with the same
// canonical form name the same property.
func Canonical(key string) string {
	var b strings.Builder
	for _, e := range elements(key) {
		if e.index >= 0 {
			fmt.Fprintf(&b, "[%d]", e.index)
			continue
		}
		if e.bracket {
			b.WriteString("[" + e.name + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(canonicalName(e.name))
	}
	return b.String()
}

func canonicalName(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "-", ""))
}

// sameElement compares two name elements as Spring does: bracketed ones
// exactly, others in canonical form.
func sameElement(a, b element) bool {
	if a.index != b.index || a.bracket != b.bracket {
		return false
	}
	if a.index >= 0 {
		return true
	}
	if a.bracket {
		return a.name == b.name
	}
	return canonicalName(a.name) == canonicalName(b.name)
}

// keyOf is how a name element is written as a YAML map key.
func (e element) keyOf() string {
	if e.bracket {
		return "[" + e.name + "]"
	}
	return e.name
}

// LegacyEnvName is the other variable Spring Boot's
// SystemEnvironmentPropertyMapper tries for a property: '.' and '-' both
// become '_', brackets go, upper case (order-service.url ->
// ORDER_SERVICE_URL).
func LegacyEnvName(key string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_", "[", "_", "]", "").Replace(key))
}

// EnvNames are the environment variables that set a property, in the order
// Spring tries them: EnvName, then LegacyEnvName when it differs.
func EnvNames(key string) []string {
	if n, l := EnvName(key), LegacyEnvName(key); n != l {
		return []string{n, l}
	}
	return []string{EnvName(key)}
}

// Lookup finds a property the way Spring resolves it with the environment on
// top: a variable of EnvNames(key) wins (env may be nil), then the
// property of props whose name has key's canonical form.
func Lookup(props map[string]string, env func(string) (string, bool), key string) (string, bool) {
	if env != nil {
		for _, name := range EnvNames(key) {
			if v, ok := env(name); ok {
				return v, true
			}
		}
	}
	if v, ok := props[key]; ok {
		return v, true
	}
	want := Canonical(key)
	// Deterministic when two spellings of one name are present: the
	// smallest in sorted order wins.
	best, found := "", false
	for k := range props {
		if (!found || k < best) && Canonical(k) == want {
			best, found = k, true
		}
	}
	if !found {
		return "", false
	}
	return props[best], true
}

// Parse flattens a YAML or .properties document into dotted property names
// (list items as name[N]) and their values as strings, as Spring reads it.
// An error names the line.
func Parse(content []byte, format string) (map[string]string, error) {
	switch format {
	case YAML:
		return parseYAML(content)
	case Properties:
		return parseProperties(content)
	}
	return nil, fmt.Errorf("unknown configuration format %q (want %s or %s)", format, YAML, Properties)
}

// element is one part of a property name: a name, or an index (>= 0). A
// name in brackets ("[Pay.Svc]", a map key that holds dots or must keep
// its case) is compared and written as it is.
type element struct {
	name    string
	index   int
	bracket bool
}

// elements splits a property name into its parts: "a.b[0].c" is a, b, 0, c.
// A bracket that is not a number ("map[key.with.dots]") is a name.
func elements(key string) []element {
	var out []element
	for len(key) > 0 {
		switch key[0] {
		case '.':
			key = key[1:]
			continue
		case '[':
			end := strings.IndexByte(key, ']')
			if end < 0 {
				out = append(out, element{name: key, index: -1})
				return out
			}
			inner := key[1:end]
			if n, err := strconv.Atoi(inner); err == nil && n >= 0 {
				out = append(out, element{index: n})
			} else {
				out = append(out, element{name: inner, index: -1, bracket: true})
			}
			key = key[end+1:]
			continue
		}
		end := strings.IndexAny(key, ".[")
		if end < 0 {
			end = len(key)
		}
		out = append(out, element{name: key[:end], index: -1})
		key = key[end:]
	}
	return out
}

package route

import (
	"fmt"
	"strings"
)

// Severity ranks a Finding.
type Severity int

// Severities, from least to most serious.
const (
	Info Severity = iota
	Warning
	Error
)

// String returns "info", "warning" or "error".
func (s Severity) String() string {
	switch s {
	case Warning:
		return "warning"
	case Error:
		return "error"
	default:
		return "info"
	}
}

// MarshalText makes a Severity print as its name in JSON and YAML.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding is something the compiler noticed about the configuration: a
// rejected object, a conflict, a reference to something that does not exist.
type Finding struct {
	Severity Severity `json:"severity"`
	// Object is "Kind namespace/name".
	Object string `json:"object,omitempty"`
	// Path is the field path inside Object, e.g. spec.http[1].route.
	Path string `json:"path,omitempty"`
	// Where is "file:line" when the object came from a file.
	Where   string `json:"where,omitempty"`
	Message string `json:"message"`
}

// String renders the finding on one line: "file:line: Kind ns/name: path: message".
func (f Finding) String() string {
	var b strings.Builder
	if f.Where != "" {
		b.WriteString(f.Where)
		b.WriteString(": ")
	}
	if f.Object != "" {
		b.WriteString(f.Object)
		b.WriteString(": ")
	}
	if f.Path != "" {
		b.WriteString(f.Path)
		b.WriteString(": ")
	}
	b.WriteString(f.Message)
	return b.String()
}

// Locator maps a field path of an object to "file:line". Nil means unknown.
type Locator func(path string) string

type findings struct {
	list []Finding
	seen map[Finding]bool
}

// add records a finding once (the same finding can come up for several
// sources or caller namespaces) and returns it.
func (fs *findings) add(sev Severity, obj *objMeta, path, format string, args ...any) Finding {
	f := Finding{Severity: sev, Path: path, Message: fmt.Sprintf(format, args...)}
	if obj != nil {
		f.Object = obj.ref()
		if obj.locate != nil {
			f.Where = obj.locate(path)
		}
	}
	if fs.seen[f] {
		return f
	}
	if fs.seen == nil {
		fs.seen = map[Finding]bool{}
	}
	fs.seen[f] = true
	fs.list = append(fs.list, f)
	return f
}

// objMeta is what findings need to know about the object they are about.
type objMeta struct {
	kind, namespace, name string
	locate                Locator
}

func (o *objMeta) ref() string { return o.kind + " " + o.namespace + "/" + o.name }

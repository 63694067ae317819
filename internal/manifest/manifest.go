// Package manifest loads Kubernetes manifests (YAML or JSON files and folders)
// into the typed upstream Go objects of Kubernetes, Istio and Argo Rollouts.
//
// Every problem is reported as a located [Error] ("file:line: path: message"),
// all problems of all documents are collected into an [ErrorList], and no
// input makes the loader panic.
package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Position locates a place in an input file. Line is 1-based; 0 = unknown.
// Lines end as YAML ends them: "\n", "\r\n" or a lone "\r" (and NEL, LS, PS).
type Position struct {
	File string
	Line int
}

// String returns "file:line", or "file" when the line is unknown.
func (p Position) String() string {
	if p.Line <= 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Error is one located problem. Path is the field path of the problem, e.g.
// "spec.http[2].route[0].destination.host", or "" when there is none.
type Error struct {
	Pos  Position
	Path string
	Msg  string

	err error // underlying cause, if any (for errors.Is / errors.As)
}

// Error returns "file:line: path: message"; empty parts are left out.
func (e *Error) Error() string {
	var b strings.Builder
	if s := e.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying cause (for example fs.ErrNotExist), if any.
func (e *Error) Unwrap() error { return e.err }

// ErrorList is every problem found by a load. Load keeps going after a bad
// document so that all problems are reported at once.
type ErrorList []*Error

// Error joins the messages of all errors with "\n".
func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns the individual errors, so that errors.Is and errors.As look
// into each of them.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Object is one loaded Kubernetes object.
type Object struct {
	APIVersion string // as written in the input, e.g. networking.istio.io/v1beta1
	Kind       string
	Name       string
	// Namespace is metadata.namespace, or "default" when absent (as kubectl
	// applies it with the default context). It is "" for the cluster-scoped
	// kinds the loader knows (ClusterAnalysisTemplate).
	Namespace string
	Pos       Position       // first line of the document (or of the List item)
	Index     int            // load order, 0-based, over all objects of the Set
	Typed     any            // typed upstream object; nil for ignored kinds
	Raw       map[string]any // the document as generic JSON-like data

	lines map[string]int // field path -> line
}

// PathPos returns the position of the given field path (for example
// "spec.http[0].route[1].destination"), or of its nearest ancestor that has
// one, else o.Pos.
func (o *Object) PathPos(path string) Position {
	segs := splitPath(path)
	for n := len(segs); n > 0; n-- {
		if line, ok := o.lines[strings.Join(segs[:n], "")]; ok {
			return Position{File: o.Pos.File, Line: line}
		}
	}
	return o.Pos
}

// Ref returns a short human reference, e.g. "VirtualService default/vs-appa".
func (o *Object) Ref() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// Set is the result of a load.
type Set struct {
	// Objects holds the objects of recognised kinds, in load order, after
	// kubectl-apply semantics: when the same (group, kind, namespace, name)
	// is given twice, the later one is kept at its own (later) position and
	// the earlier one moves to Replaced.
	Objects []*Object
	// Replaced holds earlier copies overwritten by a later identical object.
	Replaced []*Object
	// Ignored holds documents of kinds the loader does not know (Typed == nil).
	Ignored []*Object
	// Skipped are the files a folder walk left out: Spring Boot
	// configuration kept next to the manifests (see SpringConfig).
	Skipped []string
}

// Of returns the objects of the given Kind, in order.
func (s *Set) Of(kind string) []*Object {
	var out []*Object
	for _, o := range s.Objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// stdin is read for the path "-"; tests replace it.
var stdin io.Reader = os.Stdin

// StdinName is the file name used in positions for input read from stdin.
const StdinName = "<stdin>"

// Load reads the given files and folders ("-" is stdin) and returns every
// object found. Folders are walked recursively in lexical order, and only
// their .yaml, .yml and .json files are read. When there are problems, Load
// returns the partial Set (without the bad documents) and an ErrorList.
func Load(paths ...string) (*Set, error) {
	l := newLoader()
	for _, p := range paths {
		l.loadPath(p)
	}
	return l.result()
}

// LoadBytes loads the documents of data, naming them name in positions.
func LoadBytes(name string, data []byte) (*Set, error) {
	l := newLoader()
	l.loadData(name, data)
	return l.result()
}

func (l *loader) loadPath(p string) {
	if p == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			l.fail(StdinName, fmt.Errorf("reading stdin: %w", err))
			return
		}
		l.loadData(StdinName, data)
		return
	}
	walk(p, l.loadFile, l.fail, func(f string) { l.set.Skipped = append(l.set.Skipped, f) })
}

func (l *loader) loadFile(p string) {
	data, err := os.ReadFile(p)
	if err != nil {
		l.fail(p, err)
		return
	}
	l.loadData(p, data)
}

// fail records a file-level error. For *fs.PathError the redundant "open
// name:" prefix is dropped, since the position names the file already.
func (l *loader) fail(file string, err error) {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Err.Error()
	}
	l.errs = append(l.errs, &Error{Pos: Position{File: file}, Msg: msg, err: err})
}

// walk calls file for every manifest file under p (p itself when it is a
// file; folders recursively, in lexical order, .yaml/.yml/.json only),
// skip for the Spring Boot configuration files of folders (SpringConfig),
// and fail for every path that cannot be read.
func walk(p string, file func(string), fail func(string, error), skip func(string)) {
	info, err := os.Stat(p)
	if err != nil {
		fail(p, err)
		return
	}
	if !info.IsDir() {
		file(p)
		return
	}
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			fail(path, err)
			return nil
		}
		switch {
		case d.IsDir() || !isManifestFile(path):
		case SpringConfig(path):
			skip(path)
		default:
			file(path)
		}
		return nil
	})
	if err != nil {
		fail(p, err)
	}
}

// Files lists the files Load reads for the given paths ("-" excepted), in
// the same order; the first path that cannot be read is an error.
func Files(paths ...string) ([]string, error) {
	var out []string
	var first error
	for _, p := range paths {
		if p == "-" {
			continue
		}
		walk(p, func(f string) { out = append(out, f) }, func(path string, err error) {
			if first == nil {
				first = fmt.Errorf("%s: %w", path, err)
			}
		}, func(string) {})
	}
	return out, first
}

func isManifestFile(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// springConfigName matches the names Spring Boot reads its configuration
// from (spring.config.name "application", Spring Cloud's "bootstrap", each
// with an optional -profile): application.yaml, application-prod.yml,
// bootstrap.yaml.
var springConfigName = regexp.MustCompile(`^(application|bootstrap)(-[^.]+)?\.ya?ml$`)

// topLevelKind finds a Kubernetes object's apiVersion or kind key at the
// start of a line (a YAML document's top level).
var topLevelKind = regexp.MustCompile(`(?m)^(apiVersion|kind)\s*:`)

// SpringConfig reports whether a file found in a folder is a Spring Boot
// configuration file rather than a manifest: its name is one Spring Boot
// reads (application*.yaml, bootstrap*.yaml) and no document in it has a
// top-level apiVersion or kind. A service's folder often keeps it next to
// its manifests; folder walks leave it out (a file named on the command
// line is read as a manifest whatever its name).
func SpringConfig(path string) bool {
	if !springConfigName.MatchString(strings.ToLower(filepath.Base(path))) {
		return false
	}
	data, err := os.ReadFile(path)
	return err == nil && !topLevelKind.Match(data)
}

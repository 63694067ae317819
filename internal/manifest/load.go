package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
	clientnetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/rolloutcheck"
)

// kindInfo describes a kind the loader decodes into a typed object.
type kindInfo struct {
	versions      []string // accepted versions of the group
	clusterScoped bool
	newObj        func() any
}

type groupKind struct{ group, kind string }

var istioVersions = []string{"v1alpha3", "v1beta1", "v1"}

// kinds is the table of recognised kinds.
var kinds = map[groupKind]kindInfo{
	{"networking.istio.io", "VirtualService"}:  {istioVersions, false, func() any { return &clientnetworkingv1.VirtualService{} }},
	{"networking.istio.io", "DestinationRule"}: {istioVersions, false, func() any { return &clientnetworkingv1.DestinationRule{} }},
	{"networking.istio.io", "Gateway"}:         {istioVersions, false, func() any { return &clientnetworkingv1.Gateway{} }},
	{"networking.istio.io", "ServiceEntry"}:    {istioVersions, false, func() any { return &clientnetworkingv1.ServiceEntry{} }},
	{"", "Service"}:                            {[]string{"v1"}, false, func() any { return &corev1.Service{} }},
	{"apps", "Deployment"}:                     {[]string{"v1"}, false, func() any { return &appsv1.Deployment{} }},
	{"argoproj.io", "Rollout"}:                 {[]string{"v1alpha1"}, false, func() any { return &rolloutsv1alpha1.Rollout{} }},
	{"argoproj.io", "AnalysisTemplate"}:        {[]string{"v1alpha1"}, false, func() any { return &rolloutsv1alpha1.AnalysisTemplate{} }},
	{"argoproj.io", "ClusterAnalysisTemplate"}: {[]string{"v1alpha1"}, true, func() any { return &rolloutsv1alpha1.ClusterAnalysisTemplate{} }},
	{v1alpha1.Group, "Lane"}:                   {[]string{v1alpha1.Version}, false, func() any { return &v1alpha1.Lane{} }},
	{"graylane.io", "Release"}:                 {[]string{"v1alpha1"}, false, func() any { return &v1alpha1.Release{} }},
}

// splitAPIVersion splits "group/version" ("v1" has the empty group).
func splitAPIVersion(apiVersion string) (group, version string) {
	if i := strings.LastIndexByte(apiVersion, '/'); i >= 0 {
		return apiVersion[:i], apiVersion[i+1:]
	}
	return "", apiVersion
}

func lookupKind(apiVersion, kind string) (kindInfo, bool) {
	group, version := splitAPIVersion(apiVersion)
	info, ok := kinds[groupKind{group, kind}]
	if !ok {
		return kindInfo{}, false
	}
	for _, v := range info.versions {
		if v == version {
			return info, true
		}
	}
	return kindInfo{}, false
}

// objKey identifies an object for kubectl-apply replacement.
type objKey struct{ group, kind, namespace, name string }

// loader accumulates a Set and its errors over several inputs.
type loader struct {
	set   *Set
	errs  ErrorList
	byKey map[objKey]int // position in set.Objects
	next  int
}

func newLoader() *loader {
	return &loader{set: &Set{}, byKey: map[objKey]int{}}
}

func (l *loader) result() (*Set, error) {
	objs := l.set.Objects[:0]
	for _, o := range l.set.Objects {
		if o != nil {
			objs = append(objs, o)
		}
	}
	l.set.Objects = objs
	if len(l.errs) > 0 {
		return l.set, l.errs
	}
	return l.set, nil
}

var utf8BOM = []byte("\xef\xbb\xbf")

// loadData loads every document of one file.
func (l *loader) loadData(file string, data []byte) {
	data = bytes.TrimPrefix(data, utf8BOM)
	if strings.HasSuffix(strings.ToLower(file), ".json") {
		// Raw tabs can only be whitespace in valid JSON, but YAML forbids
		// them as indentation.
		data = bytes.ReplaceAll(data, []byte("\t"), []byte(" "))
	}
	data = normalizeBreaks(data)
	for _, c := range splitDocs(data) {
		docs, err := parseAll(c.data)
		for _, y := range docs {
			l.loadDoc(file, c.first-1, y)
		}
		if err != nil {
			l.errs = append(l.errs, syntaxError(file, c, err))
		}
	}
}

// yamlBreaks are the line breaks of yaml.v3 other than "\n". They become
// "\n" (as YAML reads them anyway), so that lines are counted the same way
// by the parser and by the document splitter.
var yamlBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u0085", "\n", "\u2028", "\n", "\u2029", "\n")

func normalizeBreaks(data []byte) []byte {
	if bytes.ContainsAny(data, "\r\u0085\u2028\u2029") {
		return []byte(yamlBreaks.Replace(string(data)))
	}
	return data
}

// loadDoc loads one parsed YAML document; off is its chunk's line offset.
func (l *loader) loadDoc(file string, off int, y *yaml.Node) {
	r := newReporter(file)
	root := newBuilder(r, off).build(y, "", 0)
	if len(r.errs) > 0 {
		l.errs = append(l.errs, r.errs...)
		return
	}
	switch root.kind {
	case nNull:
		return // empty document
	case nMap:
	default:
		l.errs = append(l.errs, &Error{Pos: Position{file, root.line}, Msg: "a document must be an object, got " + describe(root)})
		return
	}
	if v, k := root.get("apiVersion"), root.get("kind"); v != nil && k != nil && v.value == "v1" && k.value == "List" {
		l.loadList(r, root)
		return
	}
	l.loadObject(r, root, "")
}

// loadList loads the items of a v1 List as objects.
func (l *loader) loadList(r *reporter, root *node) {
	items := root.get("items")
	if items == nil || items.kind == nNull {
		return
	}
	if items.kind != nSeq {
		l.errs = append(l.errs, &Error{Pos: Position{r.file, r.lines["items"]}, Path: "items", Msg: "must be a list, got " + describe(items)})
		return
	}
	for i, it := range items.items {
		prefix := indexPath("items", i)
		if it.kind != nMap {
			l.errs = append(l.errs, &Error{Pos: Position{r.file, it.line}, Path: prefix, Msg: "a List item must be an object, got " + describe(it)})
			continue
		}
		l.loadObject(r, it, prefix)
	}
}

// loadObject checks, decodes and adds one object. prefix is its path in the
// document ("" or "items[i]"); the object's own paths are relative to it.
func (l *loader) loadObject(r *reporter, n *node, prefix string) {
	o := &Object{Pos: Position{r.file, n.line}, lines: rebase(r.lines, prefix)}
	o.Raw, _ = rawValue(n).(map[string]any)
	c := &checker{reporter: &reporter{file: r.file, lines: o.lines}}
	var name, ns *node
	if md := n.get("metadata"); md != nil && md.kind == nMap {
		name, ns = md.get("name"), md.get("namespace")
	}
	o.APIVersion = c.identity(n, n.get("apiVersion"), "apiVersion", true)
	o.Kind = c.identity(n, n.get("kind"), "kind", true)
	o.Name = c.identity(n, name, "metadata.name", true)
	o.Namespace = c.identity(n, ns, "metadata.namespace", false)
	if len(c.errs) > 0 {
		l.errs = append(l.errs, c.errs...)
		return
	}
	info, known := lookupKind(o.APIVersion, o.Kind)
	switch {
	case info.clusterScoped:
		o.Namespace = ""
	case o.Namespace == "":
		o.Namespace = "default"
	}
	if known {
		typed := info.newObj()
		js := c.walkGo(n, reflect.TypeOf(typed).Elem(), "")
		if len(c.errs) > 0 {
			l.errs = append(l.errs, c.errs...)
			return
		}
		if err := decode(typed, js); err != nil {
			l.errs = append(l.errs, &Error{Pos: o.Pos, Msg: "cannot decode " + o.Kind + ": " + err.Error(), err: err})
			return
		}
		o.Typed = typed
		if errs := validate(o); len(errs) > 0 {
			l.errs = append(l.errs, errs...)
			return
		}
	}
	l.add(o)
}

// defaulter and validator are implemented by Graylane's own kinds
// (api/v1alpha1): defaults are applied, then field errors are located.
type (
	defaulter interface{ Default() }
	validator interface{ Validate() field.ErrorList }
)

// validate defaults and validates o's typed object when its kind knows how:
// Graylane's own kinds validate themselves, Argo Rollouts objects are
// checked as Argo Rollouts checks them (internal/rolloutcheck).
func validate(o *Object) ErrorList {
	var errs field.ErrorList
	switch t := o.Typed.(type) {
	case *rolloutsv1alpha1.Rollout:
		errs = rolloutcheck.Rollout(t)
	case *rolloutsv1alpha1.AnalysisTemplate:
		errs = rolloutcheck.AnalysisTemplate(&t.Spec)
	case *rolloutsv1alpha1.ClusterAnalysisTemplate:
		errs = rolloutcheck.AnalysisTemplate(&t.Spec)
	case defaulter:
		t.Default()
	}
	if v, ok := o.Typed.(validator); ok {
		errs = v.Validate()
	}
	var out ErrorList
	for _, e := range errs {
		path := e.Field
		out = append(out, &Error{Pos: o.PathPos(path), Path: path, Msg: e.ErrorBody(), err: e})
	}
	return out
}

// identity reads a string field v (at path) of the object's identity.
func (c *checker) identity(obj, v *node, path string, required bool) string {
	if v == nil || v.kind == nNull || (v.kind == nScalar && v.value == "") {
		if required {
			c.errorf(obj.line, "", "missing required field %q", path)
		}
		return ""
	}
	if v.kind != nScalar {
		c.errorf(v.line, path, "must be a string, got %s", describe(v))
		return ""
	}
	return v.value
}

// add appends o to the set, applying kubectl-apply replacement.
func (l *loader) add(o *Object) {
	o.Index = l.next
	l.next++
	if o.Typed == nil {
		l.set.Ignored = append(l.set.Ignored, o)
		return
	}
	group, _ := splitAPIVersion(o.APIVersion)
	key := objKey{group, o.Kind, o.Namespace, o.Name}
	if i, ok := l.byKey[key]; ok {
		l.set.Replaced = append(l.set.Replaced, l.set.Objects[i])
		l.set.Objects[i] = nil
	}
	l.byKey[key] = len(l.set.Objects)
	l.set.Objects = append(l.set.Objects, o)
}

// rebase returns the lines under prefix with paths relative to it.
func rebase(lines map[string]int, prefix string) map[string]int {
	if prefix == "" {
		return lines
	}
	out := map[string]int{}
	for p, line := range lines {
		if rest, ok := strings.CutPrefix(p, prefix); ok && rest != "" {
			if rest[0] == '.' {
				rest = rest[1:]
			} else if rest[0] != '[' {
				continue
			}
			out[rest] = line
		}
	}
	return out
}

// decode decodes the checked JSON value js into the typed object: protobuf
// fields of the top-level struct (Istio spec and status) with protojson
// (the checker wrote durations and timestamps in its form), the rest with
// encoding/json.
func decode(typed any, js any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder failed: %v", r)
		}
	}()
	m, _ := js.(map[string]any)
	rest := make(map[string]any, len(m))
	for k, v := range m {
		rest[k] = v
	}
	rv := reflect.ValueOf(typed).Elem()
	for name, f := range structFields(rv.Type()) {
		v, ok := rest[name]
		if !ok || len(f.index) != 1 || !isProto(f.typ) {
			continue
		}
		delete(rest, name)
		if v == nil {
			continue
		}
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%s: encoding: %w", name, err)
		}
		msg := rv.Field(f.index[0]).Addr().Interface().(protoreflect.ProtoMessage)
		if err := protoUnmarshal(data, msg); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	data, err := json.Marshal(rest)
	if err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	return json.Unmarshal(data, typed)
}

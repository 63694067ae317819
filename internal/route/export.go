package route

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation"
)

// RootNamespace is Istio's config root namespace (meshConfig.rootNamespace,
// istio-system by default): DestinationRules there apply to callers of
// every namespace that has none of its own.
const RootNamespace = "istio-system"

// visibility is who sees a VirtualService, DestinationRule or
// ServiceEntry, from its exportTo: every namespace, or those listed ("."
// is the object's own namespace; "~", ServiceEntries only, is none).
type visibility struct {
	public bool
	ns     []string // when not public; sorted, no duplicates
}

var public = visibility{public: true}

func (v visibility) visibleTo(ns string) bool {
	return v.public || slices.Contains(v.ns, ns)
}

// only reports whether the object is visible in exactly its own namespace.
func (v visibility) only(own string) bool {
	return !v.public && len(v.ns) == 1 && v.ns[0] == own
}

// exportKind says which object exportTo is read for: "~" is valid for
// ServiceEntries only.
type exportKind int

const (
	exportConfig       exportKind = iota // VirtualService, DestinationRule
	exportServiceEntry                   // ServiceEntry: "~" allowed alone
)

// parseExportTo reads exportTo as istiod validates and applies it; an
// empty list is public (the mesh default). A bad list is reported by
// reject (the object is refused, as by the validating webhook).
func parseExportTo(list []string, own string, kind exportKind, reject func(path, format string, args ...any)) visibility {
	if len(list) == 0 {
		return public
	}
	seen := map[string]bool{}
	var v visibility
	for i, e := range list {
		path := fmt.Sprintf("spec.exportTo[%d]", i)
		key := e
		if e == "." {
			key = own
		}
		if seen[key] {
			if key != e {
				reject(path, "exportTo has both . and the object's own namespace %s", own)
			} else {
				reject(path, "exportTo lists %q twice", e)
			}
			continue
		}
		seen[key] = true
		switch {
		case e == "*":
			v.public = true
		case e == "~" && kind == exportServiceEntry:
		case e == "~":
			reject(path, "exportTo ~ (none) is allowed for ServiceEntries only")
		default:
			if errs := validation.IsDNS1123Label(key); len(errs) > 0 {
				reject(path, "exportTo entry %q must be ., * or a namespace name", e)
				continue
			}
			v.ns = append(v.ns, key)
		}
	}
	switch {
	case seen["*"] && len(list) > 1:
		reject("spec.exportTo", "exportTo cannot have * (public) and other entries")
	case seen["~"] && len(list) > 1:
		reject("spec.exportTo", "exportTo cannot have ~ (none) and other entries")
	}
	if v.public {
		return public
	}
	slices.Sort(v.ns)
	return v
}

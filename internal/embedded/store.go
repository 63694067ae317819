package embedded

import (
	"reflect"
	"sort"
	"strings"

	"github.com/graylane/graylane/internal/manifest"
)

// store holds the applied objects with kubectl-apply semantics: the same
// group, kind, namespace and name applied again replaces the earlier one.
type store struct {
	objects map[string]*manifest.Object
	order   map[string]int
	next    int
	// version is each object's resourceVersion, as a Kubernetes API
	// server keeps one: lastVersion raised each time the object is
	// created or changed (an unchanged apply keeps it). A delete can
	// be made conditional on it (Runtime.DeleteServiceEntry). A delete
	// raises lastVersion too: it changes whenever the objects do (what
	// the state keeper saves by).
	version     map[string]uint64
	lastVersion uint64
}

func newStore() *store {
	return &store{objects: map[string]*manifest.Object{}, order: map[string]int{}, version: map[string]uint64{}}
}

func objectKey(o *manifest.Object) string {
	group := ""
	if i := strings.IndexByte(o.APIVersion, '/'); i >= 0 {
		group = o.APIVersion[:i]
	}
	return group + "/" + o.Kind + "/" + o.Namespace + "/" + o.Name
}

// apply adds or replaces objects and reports what changed.
func (s *store) apply(objs []*manifest.Object) (created, configured, unchanged []string) {
	for _, o := range objs {
		k := objectKey(o)
		old, ok := s.objects[k]
		switch {
		case !ok:
			created = append(created, o.Ref())
			s.order[k] = s.next
			s.next++
		case sameObject(old, o):
			unchanged = append(unchanged, o.Ref())
			s.objects[k] = o
			continue
		default:
			configured = append(configured, o.Ref())
		}
		s.lastVersion++
		s.version[k] = s.lastVersion
		s.objects[k] = o
	}
	return created, configured, unchanged
}

// remove deletes the object of key (objectKey), if there is one.
func (s *store) remove(key string) {
	if _, ok := s.objects[key]; !ok {
		return
	}
	delete(s.objects, key)
	delete(s.order, key)
	delete(s.version, key)
	s.lastVersion++
}

func sameObject(a, b *manifest.Object) bool {
	return reflect.DeepEqual(a.Raw, b.Raw)
}

// list returns the objects in the order they were first applied.
func (s *store) list() []*manifest.Object {
	keys := make([]string, 0, len(s.objects))
	for k := range s.objects {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return s.order[keys[i]] < s.order[keys[j]] })
	out := make([]*manifest.Object, len(keys))
	for i, k := range keys {
		out[i] = s.objects[k]
	}
	return out
}

package render

import (
	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/manifest"
)

// Releases returns copies of the Releases of a loaded set, each with its
// namespace. The loader has defaulted and validated them already (with
// located errors); Render defaults and checks again what it is given.
func Releases(set *manifest.Set) []*v1alpha1.Release {
	var out []*v1alpha1.Release
	for _, o := range set.Of("Release") {
		if r, ok := o.Typed.(*v1alpha1.Release); ok {
			r = r.DeepCopy()
			r.Namespace = o.Namespace
			out = append(out, r)
		}
	}
	return out
}

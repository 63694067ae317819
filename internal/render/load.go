package render

import (
	"strings"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/manifest"
)

// Releases returns the Releases of a loaded set, defaulted and validated;
// every validation problem is a manifest.Error located at its field
// ("file:line: spec.steps[2].setWeight: ..."), all of them in one ErrorList.
func Releases(set *manifest.Set) ([]*v1alpha1.Release, error) {
	var out []*v1alpha1.Release
	var errs manifest.ErrorList
	for _, o := range set.Of("Release") {
		r, ok := o.Typed.(*v1alpha1.Release)
		if !ok {
			continue
		}
		r = r.DeepCopy()
		r.Namespace = o.Namespace
		r.Default()
		for _, e := range r.Validate() {
			path := e.Field
			msg := e.ErrorBody()
			errs = append(errs, &manifest.Error{Pos: o.PathPos(path), Path: path, Msg: strings.TrimPrefix(msg, path+": ")})
		}
		out = append(out, r)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

package render

import (
	"github.com/graylane/graylane/internal/manifest"
)

// Expand replaces every Release among objs by the objects it renders to,
// located at the Release (so a problem with them points at it); other
// objects pass unchanged, in order. It is how every command and the
// embedded runtime read a Release: as the set it stands for.
func Expand(objs []*manifest.Object) ([]*manifest.Object, error) {
	set := &manifest.Set{Objects: objs}
	releases := set.Of("Release")
	if len(releases) == 0 {
		return objs, nil
	}
	rels := Releases(set)
	out := make([]*manifest.Object, 0, len(objs))
	for _, o := range objs {
		if o.Kind != "Release" {
			out = append(out, o)
		}
	}
	for i, r := range rels {
		rendered, err := Render(r)
		if err != nil {
			return nil, err
		}
		src := releases[i]
		for _, ro := range rendered {
			out = append(out, &manifest.Object{APIVersion: ro.APIVersion, Kind: ro.Kind, Name: ro.Name,
				Namespace: ro.Namespace, Pos: src.Pos, Index: src.Index, Typed: ro.Value})
		}
	}
	return out, nil
}

package kubeapply

import (
	"github.com/graylane/graylane/internal/inspect"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/render"
)

// Expand turns Graylane's own kinds into what they stand for on a
// cluster: Lanes into their compiled VirtualServices, DestinationRules and
// workloads (replacing the objects they change), Releases into their
// rendered Rollout set. Other objects pass unchanged. Rendered objects are
// located at their Release.
func Expand(set *manifest.Set) (*manifest.Set, error) {
	lanes, err := inspect.CompileLanes(set)
	if err != nil {
		return nil, err
	}
	set = lanes.Set
	releases := set.Of("Release")
	if len(releases) == 0 {
		return set, nil
	}
	rels, err := render.Releases(set)
	if err != nil {
		return nil, &inspect.InputError{Err: err}
	}
	out := *set
	out.Objects = nil
	for _, o := range set.Objects {
		if o.Kind != "Release" {
			out.Objects = append(out.Objects, o)
		}
	}
	for i, r := range rels {
		objs, err := render.Render(r)
		if err != nil {
			return nil, &inspect.InputError{Err: err}
		}
		src := releases[i]
		for _, ro := range objs {
			out.Objects = append(out.Objects, &manifest.Object{APIVersion: ro.APIVersion, Kind: ro.Kind, Name: ro.Name,
				Namespace: ro.Namespace, Pos: src.Pos, Index: src.Index, Typed: ro.Value})
		}
	}
	return &out, nil
}

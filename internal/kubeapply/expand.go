package kubeapply

import (
	"github.com/graylane/graylane/internal/inspect"
	"github.com/graylane/graylane/internal/manifest"
)

// Expand turns Graylane's own kinds into what they stand for on a
// cluster: Releases into their rendered Rollout set, Lanes into their
// compiled VirtualServices, DestinationRules and workloads (replacing the
// objects they change). Other objects pass unchanged.
func Expand(set *manifest.Set) (*manifest.Set, error) {
	lanes, err := inspect.CompileLanes(set)
	if err != nil {
		return nil, err
	}
	return lanes.Set, nil
}

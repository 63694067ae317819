package embedded

import (
	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"

	"github.com/graylane/graylane/internal/rollouttraffic"
	"github.com/graylane/graylane/internal/route"
)

// applyTraffic rewrites the routing objects (copies) the way the Argo
// Rollouts controller does for the Rollout in its current state
// (rollouttraffic.Apply): the stableService selects the stable pods, the
// canaryService those canaryServiceHash says, the DestinationRule subsets
// the stable and the canary, the managed routes get the canary weight and
// the header routes in effect.
func applyTraffic(in *route.Input, ro *rollout) {
	st := rollouttraffic.State{
		StableHash: ro.status.StableHash, CanaryHash: ro.status.CanaryHash,
		StableServiceHash: ro.status.StableHash, CanaryServiceHash: ro.canarySvc,
		CanaryWeight: ro.desired.CanaryWeight,
	}
	for _, h := range ro.desired.HeaderRoutes {
		st.HeaderRoutes = append(st.HeaderRoutes, rolloutsv1alpha1.SetHeaderRoute{Name: h.Name, Match: h.Match})
	}
	rollouttraffic.Apply(in, ro.obj, ro.ns, st)
}

package rollouttraffic

import (
	"fmt"
	"math"
	"strings"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
)

// Step is where a canary Rollout's traffic stands at one
// status.currentStepIndex, as `--output json` reports it.
type Step struct {
	// Rollout is "namespace/name".
	Rollout string `json:"rollout"`
	// Index is the status.currentStepIndex; Steps the number of steps.
	// Index == Steps is a Rollout whose steps are all done: the canary was
	// promoted and is the stable.
	Index    int  `json:"currentStepIndex"`
	Steps    int  `json:"steps"`
	Promoted bool `json:"promoted"`
	// CanaryWeight is the weight of the canary destinations.
	CanaryWeight int32 `json:"canaryWeight"`
	// HeaderRoutes are the names of the setHeaderRoute routes in effect.
	HeaderRoutes []string `json:"headerRoutes,omitempty"`
	// StableHash and CanaryHash are the rollouts-pod-template-hash the
	// stable and canary subsets and Services select.
	StableHash string `json:"stableHash"`
	CanaryHash string `json:"canaryHash"`
	// StableReplicas and CanaryReplicas are the pods of each.
	StableReplicas int32 `json:"stableReplicas"`
	CanaryReplicas int32 `json:"canaryReplicas"`
}

// String says where the Rollout stands, as one line.
func (s Step) String() string {
	if s.Promoted {
		return fmt.Sprintf("rollout %s at step %d of %d (every step done): promoted, every subset and Service selects pod-template-hash %s", s.Rollout, s.Index, s.Steps, s.CanaryHash)
	}
	routes := "none"
	if len(s.HeaderRoutes) > 0 {
		routes = strings.Join(s.HeaderRoutes, ", ")
	}
	return fmt.Sprintf("rollout %s at step %d of %d: canary weight %d, header routes: %s, stable pod-template-hash %s (%d pods), canary %s (%d pods)",
		s.Rollout, s.Index, s.Steps, s.CanaryWeight, routes, s.StableHash, s.StableReplicas, s.CanaryHash, s.CanaryReplicas)
}

// IndexError is a step index the Rollout does not have.
type IndexError struct {
	Index, Steps int
}

func (e *IndexError) Error() string {
	return fmt.Sprintf("step index %d is out of range: the Rollout has %d steps, so currentStepIndex is 0..%d (%d: every step done)", e.Index, e.Steps, e.Steps, e.Steps)
}

// errNotCanary: a Rollout without a canary strategy.
var errNotCanary = fmt.Errorf("the Rollout has no canary strategy: it has no steps")

// AtStep is the state the Argo Rollouts controller has set once a
// Rollout's status.currentStepIndex is index and the canary's pods are
// available, for a stable and a canary ReplicaSet of the given hashes:
//   - the weight is the last setWeight at or before the index
//     (GetCurrentSetWeight); pause, analysis and setCanaryScale steps do not
//     change it;
//   - the header routes are those the setHeaderRoute steps up to the index
//     left (a later one of the same name replaces it, one without a match
//     removes it); the controller runs the step at the index before it
//     moves past it;
//   - the stable subset and stableService select the stable, the canary
//     subset and canaryService the canary;
//   - at index == len(steps) the canary was promoted: everything selects
//     it, the weight is 0 and the managed routes are removed
//     (IsFullyPromoted, RemoveManagedRoutes).
//
// The replicas are the canary's share of spec.replicas for the weight (or
// the setCanaryScale in effect) and, with traffic routing, every replica
// for the stable; without traffic routing the rest.
func AtStep(ro *rolloutsv1alpha1.Rollout, index int, stableHash, canaryHash string) (State, Step, error) {
	c := ro.Spec.Strategy.Canary
	if c == nil {
		return State{}, Step{}, errNotCanary
	}
	if index < 0 || index > len(c.Steps) {
		return State{}, Step{}, &IndexError{Index: index, Steps: len(c.Steps)}
	}
	replicas := int32(1)
	if ro.Spec.Replicas != nil {
		replicas = *ro.Spec.Replicas
	}
	step := Step{Rollout: nsOr(ro.Namespace) + "/" + ro.Name, Index: index, Steps: len(c.Steps)}
	if index == len(c.Steps) {
		step.Promoted, step.StableHash, step.CanaryHash, step.StableReplicas = true, canaryHash, canaryHash, replicas
		st := State{StableHash: canaryHash, CanaryHash: canaryHash, StableServiceHash: canaryHash, CanaryServiceHash: canaryHash}
		return st, step, nil
	}
	st := State{StableHash: stableHash, CanaryHash: canaryHash, StableServiceHash: stableHash, CanaryServiceHash: canaryHash}
	var scale *rolloutsv1alpha1.SetCanaryScale
	weightFound := false
	for i := index; i >= 0; i-- {
		s := c.Steps[i]
		if s.SetWeight != nil && !weightFound {
			st.CanaryWeight, weightFound = max(0, min(100, *s.SetWeight)), true
		}
		if s.SetCanaryScale != nil && scale == nil {
			scale = s.SetCanaryScale
		}
	}
	for _, s := range c.Steps[:index+1] {
		if hr := s.SetHeaderRoute; hr != nil {
			st.HeaderRoutes = setHeaderRoute(st.HeaderRoutes, *hr)
		}
	}
	step.CanaryWeight, step.StableHash, step.CanaryHash = st.CanaryWeight, stableHash, canaryHash
	for _, hr := range st.HeaderRoutes {
		step.HeaderRoutes = append(step.HeaderRoutes, hr.Name)
	}
	step.CanaryReplicas = ceilPercent(replicas, st.CanaryWeight)
	step.StableReplicas = replicas
	if c.TrafficRouting == nil {
		step.StableReplicas = max(0, replicas-step.CanaryReplicas)
	} else if scale != nil && !scale.MatchTrafficWeight {
		// UseSetCanaryScale: only with traffic routing.
		switch {
		case scale.Replicas != nil:
			step.CanaryReplicas = *scale.Replicas
		case scale.Weight != nil:
			step.CanaryReplicas = ceilPercent(replicas, *scale.Weight)
		}
	}
	return st, step, nil
}

// setHeaderRoute is one setHeaderRoute step on the routes in effect: the
// route of that name is replaced, or removed without a match.
func setHeaderRoute(in []rolloutsv1alpha1.SetHeaderRoute, s rolloutsv1alpha1.SetHeaderRoute) []rolloutsv1alpha1.SetHeaderRoute {
	var out []rolloutsv1alpha1.SetHeaderRoute
	for _, r := range in {
		if r.Name != s.Name {
			out = append(out, r)
		}
	}
	if len(s.Match) > 0 {
		out = append(out, s)
	}
	return out
}

func ceilPercent(n, pct int32) int32 {
	return int32(math.Ceil(float64(n) * float64(max(0, min(100, pct))) / 100))
}

package manifest

import (
	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"

	"github.com/graylane/graylane/internal/rolloutcheck"
)

// NotRun returns a located error for each Argo Rollouts feature of a
// Rollout that the embedded runtime does not run (rolloutcheck.NotRunLocally),
// e.g. "shop.yaml:14: spec.strategy.blueGreen: the blueGreen strategy is
// not run by graylane up (runs on a cluster); use the canary strategy".
// ro is o's Rollout or a changed copy of it.
func NotRun(o *Object, ro *rolloutsv1alpha1.Rollout) ErrorList {
	var errs ErrorList
	for _, g := range rolloutcheck.NotRunLocally(ro) {
		errs = append(errs, &Error{Pos: o.PathPos(g.Path), Path: g.Path, Msg: g.Message() + "; " + g.Hint})
	}
	return errs
}

// CheckRollouts returns the located errors of NotRun for every Rollout of
// a loaded set: what `graylane up` would refuse to run (nil when none).
func CheckRollouts(set *Set) error {
	var errs ErrorList
	for _, o := range set.Of("Rollout") {
		if ro, ok := o.Typed.(*rolloutsv1alpha1.Rollout); ok {
			errs = append(errs, NotRun(o, ro)...)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

package release

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/plan"
)

// State is what a restart resumes from: what a Kubernetes API server
// keeps of each Rollout's status for the Argo Rollouts controller, and
// the same for each lane plan. A Controller restored from it resumes
// every release where it was: no step is run twice, no analysis is
// skipped (a run continues with its measurements), a timed pause ends
// when it would have. It is serialised as JSON (the local runtime's
// state file).
type State struct {
	Rollouts map[string]*SavedRollout // by Ref.Key
	Lanes    map[string]*SavedLane    // by "ns/name"
}

// SavedRollout is a Rollout's step machine and the pod templates of its
// stable and canary.
type SavedRollout struct {
	Status        plan.Status                        `json:"status"`
	CanaryService string                             `json:"canaryService,omitempty"`
	Templates     map[string]*corev1.PodTemplateSpec `json:"templates,omitempty"`
	Analysis      []*SavedAnalysis                   `json:"analysis,omitempty"`
}

// SavedLane is a lane plan's step machine.
type SavedLane struct {
	Status   plan.Status      `json:"status"`
	Analysis []*SavedAnalysis `json:"analysis,omitempty"`
}

// SavedAnalysis is an analysis set in progress: which step and canary it
// judges, and each run (analysis.Run as JSON; null: a run that did not
// start, started again on restore).
type SavedAnalysis struct {
	Step    int               `json:"step"` // -1: background
	Hash    string            `json:"hash"`
	Members []string          `json:"members"`
	Runs    []json.RawMessage `json:"runs"`
}

// State is the state to keep now: every Rollout, every lane with a plan,
// and what was restored and not taken yet, as it was.
func (c *Controller) State() State {
	s := State{Rollouts: map[string]*SavedRollout{}, Lanes: map[string]*SavedLane{}}
	for key, ro := range c.rollouts {
		s.Rollouts[key] = ro.saved()
	}
	for key, lr := range c.lanes {
		if lr.res.Spec.Plan != nil {
			s.Lanes[key] = &SavedLane{Status: lr.status, Analysis: savedSets(lr.stepRun, lr.bgRun)}
		}
	}
	if r := c.restored; r != nil {
		// Not restored yet (the first sync is under way): kept as they were.
		for key, sr := range r.Rollouts {
			if s.Rollouts[key] == nil {
				s.Rollouts[key] = sr
			}
		}
		for key, sl := range r.Lanes {
			if s.Lanes[key] == nil {
				s.Lanes[key] = sl
			}
		}
	}
	return s
}

// Restore gives the state a previous run left: each Rollout and lane in
// it resumes from it when SyncRollouts or SyncLanes first sees it, until
// EndRestore.
func (c *Controller) Restore(s State) {
	c.restored = &State{Rollouts: map[string]*SavedRollout{}, Lanes: map[string]*SavedLane{}}
	for k, v := range s.Rollouts {
		c.restored.Rollouts[k] = v
	}
	for k, v := range s.Lanes {
		c.restored.Lanes[k] = v
	}
}

// EndRestore forgets what was restored and not taken: it belongs to
// Rollouts and lanes that are gone.
func (c *Controller) EndRestore() { c.restored = nil }

// saved is the Rollout's state to keep.
func (ro *rollout) saved() *SavedRollout {
	s := &SavedRollout{Status: ro.status, CanaryService: ro.canarySvc, Templates: map[string]*corev1.PodTemplateSpec{},
		Analysis: savedSets(ro.stepRun, ro.bgRun)}
	for _, h := range []string{ro.status.StableHash, ro.status.CanaryHash} {
		if t := ro.templates[h]; t != nil {
			s.Templates[h] = t
		}
	}
	return s
}

// savedSets are the analysis sets in progress (a stopped set is shown,
// not resumed).
func savedSets(sets ...*analysisSet) []*SavedAnalysis {
	var out []*SavedAnalysis
	for _, a := range sets {
		if a == nil || len(a.runs) > 0 && a.runs[0].isStopped() {
			continue
		}
		sa := &SavedAnalysis{Step: a.step, Hash: a.hash, Members: a.members}
		for _, run := range a.runs {
			sa.Runs = append(sa.Runs, run.savedRun())
		}
		out = append(out, sa)
	}
	return out
}

// takeRollout returns the restored state of a Rollout being created, when
// it can be restored (its stable's and canary's templates are known),
// and forgets it.
func (c *Controller) takeRollout(key string) *SavedRollout {
	if c.restored == nil || c.restored.Rollouts[key] == nil {
		return nil
	}
	s := c.restored.Rollouts[key]
	delete(c.restored.Rollouts, key)
	for _, h := range []string{s.Status.StableHash, s.Status.CanaryHash} {
		if h != "" && s.Templates[h] == nil {
			c.log.Warn("state: cannot resume the Rollout (the pod template of a saved hash is missing); it starts afresh", "rollout", key, "hash", h)
			return nil
		}
	}
	return s
}

// takeLane returns the restored state of a lane being created, and forgets it.
func (c *Controller) takeLane(key string) *SavedLane {
	if c.restored == nil || c.restored.Lanes[key] == nil {
		return nil
	}
	s := c.restored.Lanes[key]
	delete(c.restored.Lanes, key)
	return s
}

// takeAnalysis returns the saved run of member i of the analysis for
// step and hash, if one was saved (nil: start afresh).
func takeAnalysis(saved []*SavedAnalysis, step int, hash string, i int) json.RawMessage {
	for _, sa := range saved {
		if sa.Step == step && sa.Hash == hash && i < len(sa.Runs) {
			return sa.Runs[i]
		}
	}
	return nil
}

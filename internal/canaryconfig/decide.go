// Package canaryconfig carries out the end of seed 000 §3.3, configuration
// isolation during a canary: a Release service's canaryConfig properties run
// as environment variables of the canary's pod template only
// (internal/render puts them there and, whole, in the Rollout's annotation
// v1alpha1.CanaryConfigAnnotation); once the Rollout is fully promoted -
// and only then - they are written into the Nacos configuration the
// canaryConfig names, so that later versions read them from Nacos; an
// aborted Rollout publishes nothing.
//
// Decide is the pure part: from a Rollout and what is observed of it, what
// to do now (DecideLane: the same for a Lane member's canaryConfig, whose
// lane version is a workload of its own, published when the lane's plan
// is promoted). Publish is the I/O: it merges the properties into the
// configuration (springprops.Set in the data id's format) with
// compare-and-swap, reading again and retrying when somebody else changed
// it in between, and changes nothing when they are already there. It goes
// through ConfigStore, which *nacosclient.Client implements. The shells
// that see Rollouts - graylane up (internal/embedded), graylane apply
// --wait (internal/kubeapply) and a cluster controller later - call both;
// this package imports none of them.
package canaryconfig

import (
	"fmt"
	"maps"
	"slices"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/springprops"
)

// PublishedAnnotation is the annotation a cluster shell (graylane apply
// --wait) sets on a Rollout once it published the canary configuration of
// its stable template: the template's pod-template-hash. A later run sees
// it and does not publish again (an edit made in Nacos since is kept).
const PublishedAnnotation = "graylane.io/canary-config-published"

// Observation is what is known of a Rollout's progress, in Argo Rollouts'
// terms.
type Observation struct {
	// Phase is the Rollout's phase as `kubectl argo rollouts status`
	// computes it (Healthy, Progressing, Paused, Degraded).
	Phase string
	// StableHash is status.stableRS, CurrentHash status.currentPodHash (the
	// pod-template-hash of spec.template).
	StableHash, CurrentHash string
	// Aborted is status.abort: the canary was rolled back.
	Aborted bool
}

// Observe is the observation of a Rollout read from a Kubernetes API
// server: its status, with phase as the Argo Rollouts CLI computes it
// (kubeapply.Phase: utils/rollout.GetRolloutPhase).
func Observe(ro *rollouts.Rollout, phase string) Observation {
	return Observation{Phase: phase, StableHash: ro.Status.StableRS, CurrentHash: ro.Status.CurrentPodHash, Aborted: ro.Status.Abort}
}

// FullyPromoted reports whether the Rollout's current template is its
// stable and the Rollout is Healthy: every step is done and the new
// version serves everyone. Argo Rollouts v1.8.3
// utils/rollout/rolloututil.go: IsFullyPromoted (stableRS ==
// currentPodHash) together with GetRolloutPhase == Healthy (which is only
// Healthy once every step is done, the update's replicas are available
// and the observed generation is the current one).
func (o Observation) FullyPromoted() bool {
	return !o.Aborted && o.StableHash != "" && o.StableHash == o.CurrentHash && o.Phase == string(rollouts.RolloutPhaseHealthy)
}

// Action is what to do with a Rollout's canary configuration now.
type Action string

// Actions.
const (
	// ActionNone: the Rollout has no canary configuration to publish (no
	// annotation, or a canaryConfig without nacos: environment only).
	ActionNone Action = "none"
	// ActionWait: the Rollout is not fully promoted yet.
	ActionWait Action = "wait"
	// ActionPublish: the Rollout is fully promoted; publish Config.
	ActionPublish Action = "publish"
	// ActionDiscard: the Rollout was aborted; nothing is published.
	ActionDiscard Action = "discard"
)

// Decision is what Decide says.
type Decision struct {
	Action Action
	// Config is the Rollout's canary configuration (nil with ActionNone when it
	// has no annotation).
	Config *v1alpha1.CanaryConfig
	// Hash is the pod template hash the decision is about: the promoted
	// (or aborted) template's. A shell records what it published by it,
	// so that it publishes each promoted template once.
	Hash string
	// Reason says why, for events and logs.
	Reason string
}

// Of reads a Rollout's canary configuration from its annotation; nil when
// it has none.
func Of(ro *rollouts.Rollout) (*v1alpha1.CanaryConfig, error) {
	s, ok := ro.Annotations[v1alpha1.CanaryConfigAnnotation]
	if !ok {
		return nil, nil
	}
	c, err := v1alpha1.DecodeCanaryConfig(s)
	if err != nil {
		return nil, fmt.Errorf("rollout %s/%s: %w", ro.Namespace, ro.Name, err)
	}
	return c, nil
}

// Decide says what to do with the canary configuration of ro, observed as
// obs. An error: the annotation cannot be read, or the promoted template
// does not carry the properties it names (so they were not what the
// canary ran with, and are not published).
func Decide(ro *rollouts.Rollout, obs Observation) (Decision, error) {
	c, err := Of(ro)
	if err != nil || c == nil {
		return Decision{Action: ActionNone, Reason: "no canary configuration"}, err
	}
	d := Decision{Config: c, Hash: obs.CurrentHash}
	switch {
	case c.Nacos == nil:
		d.Action, d.Reason = ActionNone, "canaryConfig has no nacos target: the properties stay environment variables"
	case obs.Aborted:
		d.Action, d.Hash, d.Reason = ActionDiscard, obs.CurrentHash, "the rollout was aborted: "+target(c)+" not published"
	case !obs.FullyPromoted():
		d.Action, d.Reason = ActionWait, "not fully promoted yet"
	default:
		if err := carried(ro, c); err != nil {
			return Decision{Action: ActionNone, Config: c, Reason: err.Error()}, err
		}
		d.Action, d.Reason = ActionPublish, "fully promoted: publish to "+target(c)
	}
	return d, nil
}

// carried checks that the Rollout's template runs with every property as
// the environment variable Spring reads for it.
func carried(ro *rollouts.Rollout, c *v1alpha1.CanaryConfig) error {
	cs := ro.Spec.Template.Spec.Containers
	i := c.ContainerIndex(cs)
	if i < 0 {
		return fmt.Errorf("rollout %s/%s: canary configuration names container %q, which the pod template does not have", ro.Namespace, ro.Name, c.Container)
	}
	env := map[string]string{}
	for _, e := range cs[i].Env {
		env[e.Name] = e.Value
	}
	for _, k := range slices.Sorted(maps.Keys(c.Properties)) {
		name := springprops.EnvName(k)
		if v, ok := env[name]; !ok || v != c.Properties[k] {
			return fmt.Errorf("rollout %s/%s: container %s does not run with %s=%q (property %s): not publishing what the canary did not run with", ro.Namespace, ro.Name, c.Container, name, c.Properties[k], k)
		}
	}
	return nil
}

// target is "nacos DATAID (group G[, namespace N])".
func target(c *v1alpha1.CanaryConfig) string {
	n := c.Nacos
	s := "nacos " + n.DataID + " (group " + n.Group
	if n.Namespace != "" {
		s += ", namespace " + n.Namespace
	}
	return s + ")"
}

// DecideLane says what to do with the canaryConfig of a Lane member: a
// lane version is a workload of its own, so its properties are published
// when the lane's plan is Promoted (every member's lane version serves
// everyone) and not when it is aborted. hash identifies the lane's run
// (a changed Lane starts its plan again).
func DecideLane(c *v1alpha1.CanaryConfig, promoted, aborted bool, hash string) Decision {
	d := Decision{Config: c, Hash: hash}
	switch {
	case c == nil:
		d.Action, d.Reason = ActionNone, "no canary configuration"
	case c.Nacos == nil:
		d.Action, d.Reason = ActionNone, "canaryConfig has no nacos target: the properties stay environment variables"
	case aborted:
		d.Action, d.Reason = ActionDiscard, "the lane was aborted: "+target(c)+" not published"
	case promoted:
		d.Action, d.Reason = ActionPublish, "the lane is promoted: publish to "+target(c)
	default:
		d.Action, d.Reason = ActionWait, "the lane is not promoted yet"
	}
	return d
}

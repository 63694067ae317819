package rollouttraffic

import (
	"fmt"
	"strconv"
	"strings"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"

	"github.com/graylane/graylane/internal/route"
)

// Target is one --rollout-step [NAMESPACE/]NAME=INDEX.
type Target struct {
	// Namespace is "" when the value names none.
	Namespace, Name string
	Index           int
	// Value is the flag value as given.
	Value string
}

// ParseTarget reads [NAMESPACE/]NAME=INDEX.
func ParseTarget(v string) (Target, error) {
	ref, idx, ok := strings.Cut(v, "=")
	if !ok || ref == "" || idx == "" {
		return Target{}, fmt.Errorf("--rollout-step %q: want [NAMESPACE/]NAME=INDEX, e.g. shop/order=2", v)
	}
	t := Target{Name: ref, Value: v}
	if ns, name, ok := strings.Cut(ref, "/"); ok {
		if ns == "" || name == "" || strings.Contains(name, "/") {
			return Target{}, fmt.Errorf("--rollout-step %q: want [NAMESPACE/]NAME=INDEX, e.g. shop/order=2", v)
		}
		t.Namespace, t.Name = ns, name
	}
	n, err := strconv.Atoi(idx)
	if err != nil || n < 0 {
		return Target{}, fmt.Errorf("--rollout-step %q: step index %q is not a number 0 or more (status.currentStepIndex)", v, idx)
	}
	t.Index = n
	return t, nil
}

// Rollout is a Rollout among loaded manifests.
type Rollout struct {
	Namespace string
	Object    *rolloutsv1alpha1.Rollout
	// Locate gives the file:line of a field path (may be nil).
	Locate route.Locator
}

// Placed is a Rollout set at a step by AtSteps.
type Placed struct {
	Rollout *Rollout
	Step    Step
}

// Steps are the steps of placed Rollouts.
func Steps(placed []Placed) []Step {
	var out []Step
	for _, p := range placed {
		out = append(out, p.Step)
	}
	return out
}

// Notes say where each placed Rollout stands, one line each.
func Notes(placed []Placed) []string {
	var out []string
	for _, p := range placed {
		out = append(out, p.Step.String())
	}
	return out
}

// StableStandIn is the stable's pod-template-hash when the manifests do
// not say it (status.stableRS): the previous template, which they do not
// hold.
const StableStandIn = "stable"

// AtSteps parses the --rollout-step values, finds their Rollouts and
// rewrites in (copies) as the controller has it at those steps: the
// canary's hash is the runtime's hash of spec.template, the stable's is
// status.stableRS, or StableStandIn. Errors name the value and, for an
// index out of range, where the Rollout's steps are written.
func AtSteps(in *route.Input, rollouts []Rollout, values []string) ([]Placed, error) {
	var out []Placed
	seen := map[*Rollout]string{}
	for _, v := range values {
		t, err := ParseTarget(v)
		if err != nil {
			return nil, err
		}
		ro, err := find(rollouts, t)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[ro]; dup {
			return nil, fmt.Errorf("--rollout-step %q: rollout %s/%s already set at a step by %q", v, ro.Namespace, ro.Object.Name, prev)
		}
		seen[ro] = v
		stable := ro.Object.Status.StableRS
		if stable == "" {
			stable = StableStandIn
		}
		st, step, err := AtStep(ro.Object, t.Index, stable, TemplateHash(&ro.Object.Spec.Template))
		if err != nil {
			where := ""
			if ro.Locate != nil {
				where = ro.Locate("spec.strategy.canary.steps")
			}
			if where == "" {
				return nil, fmt.Errorf("--rollout-step %q: rollout %s/%s: %w", v, ro.Namespace, ro.Object.Name, err)
			}
			return nil, fmt.Errorf("%s: spec.strategy.canary.steps: --rollout-step %q: %w", where, v, err)
		}
		step.Rollout = ro.Namespace + "/" + ro.Object.Name
		Apply(in, ro.Object, ro.Namespace, st)
		out = append(out, Placed{Rollout: ro, Step: step})
	}
	return out, nil
}

// find is the Rollout a target names: by namespace and name, or by name
// alone when one Rollout has it.
func find(rollouts []Rollout, t Target) (*Rollout, error) {
	var found []*Rollout
	var names []string
	for i := range rollouts {
		ro := &rollouts[i]
		names = append(names, ro.Namespace+"/"+ro.Object.Name)
		if ro.Object.Name == t.Name && (t.Namespace == "" || t.Namespace == ro.Namespace) {
			found = append(found, ro)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return nil, fmt.Errorf("--rollout-step %q: %d Rollouts are named %s: give NAMESPACE/%s", t.Value, len(found), t.Name, t.Name)
	case len(names) == 0:
		return nil, fmt.Errorf("--rollout-step %q: the manifests have no Rollout", t.Value)
	}
	return nil, fmt.Errorf("--rollout-step %q: no Rollout %s in the manifests (Rollouts: %s)", t.Value, strings.TrimPrefix(t.Namespace+"/"+t.Name, "/"), strings.Join(names, ", "))
}

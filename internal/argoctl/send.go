package argoctl

import (
	"context"
	"fmt"
	"strconv"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NudgeAnnotation is the Rollout annotation Send changes to make the
// controller look at a Rollout again. Its value is the time of the nudge.
const NudgeAnnotation = "graylane.io/nudged-at"

// Options tune Send; the zero value is ready to use.
type Options struct {
	// Poll is how often the Rollout is read while waiting for the
	// controller (default 200ms).
	Poll time.Duration
	// NudgeAfter is how long the controller may take to act before the
	// Rollout is nudged; it doubles after every nudge up to 30 s
	// (default 3 s). A nudge costs one extra reconcile, nothing more.
	NudgeAfter time.Duration
	// Now returns the time written into the nudge annotation (default
	// time.Now).
	Now func() time.Time
}

// Result says what Send did.
type Result struct {
	// Rollout is the Rollout as last read, after the controller acted.
	Rollout *rolloutsv1alpha1.Rollout
	// Unchanged: the action had nothing to change (e.g. promote of a
	// Rollout past its last step); nothing was waited for.
	Unchanged bool
	// Nudges counts the annotation changes it took for the controller to act.
	Nudges int
	// Resent counts the times the action was sent again because the
	// controller, working from a stale copy, wrote the old state back.
	Resent int
}

// Send applies action a to the Rollout key as the Argo Rollouts kubectl
// plugin does, then waits until the controller has written the Rollout
// after it with the action's effect in place, nudging the Rollout when the
// controller stays silent and sending the action again when the
// controller undid it. It returns when the controller acted or ctx ends.
func Send(ctx context.Context, c client.Client, key types.NamespacedName, a Action, o Options) (Result, error) {
	o = o.withDefaults()
	var res Result
	ours := map[string]bool{} // resourceVersions of Send's own writes
	ro, p, before, changed, err := send(ctx, c, key, a, ours)
	if err != nil || !changed {
		return Result{Rollout: ro, Unchanged: err == nil}, err
	}
	wait := o.NudgeAfter
	deadline := time.Now().Add(wait)
	for {
		select {
		case <-ctx.Done():
			res.Rollout = ro
			return res, fmt.Errorf("%s of rollout %s: the controller did not act (after %d nudges): %w", a, key, res.Nudges, ctx.Err())
		case <-time.After(o.Poll):
		}
		cur := &rolloutsv1alpha1.Rollout{}
		if err := c.Get(ctx, key, cur); err != nil {
			return res, fmt.Errorf("read rollout %s: %w", key, err)
		}
		ro = cur
		if !ours[cur.ResourceVersion] {
			// Someone else (the controller) wrote after us.
			if effectHeld(cur, a, p, before) {
				res.Rollout = cur
				return res, nil
			}
			if ro, p, before, changed, err = send(ctx, c, key, a, ours); err != nil {
				return res, err
			}
			if !changed {
				res.Rollout = ro
				return res, nil
			}
			res.Resent++
			deadline = time.Now().Add(wait)
			continue
		}
		if time.Now().Before(deadline) {
			continue
		}
		if err := Nudge(ctx, c, cur, o.Now()); err != nil {
			return res, err
		}
		ours[cur.ResourceVersion] = true
		res.Nudges++
		wait = min(2*wait, 30*time.Second)
		deadline = time.Now().Add(wait)
	}
}

func (o Options) withDefaults() Options {
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.NudgeAfter <= 0 {
		o.NudgeAfter = 3 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// send reads the Rollout, computes the action's patches and sends them. It
// reports the patches, the step index before them and whether they changed
// the Rollout; the resourceVersions it wrote go into ours.
func send(ctx context.Context, c client.Client, key types.NamespacedName, a Action, ours map[string]bool) (*rolloutsv1alpha1.Rollout, Patches, *int32, bool, error) {
	ro := &rolloutsv1alpha1.Rollout{}
	if err := c.Get(ctx, key, ro); err != nil {
		return nil, Patches{}, nil, false, fmt.Errorf("read rollout %s: %w", key, err)
	}
	p, err := PatchesFor(ro, a)
	if err != nil {
		return ro, p, nil, false, err
	}
	before, rv := ro.Status.CurrentStepIndex, ro.ResourceVersion
	if p.Status != nil {
		if err := c.Status().Patch(ctx, ro, client.RawPatch(types.MergePatchType, p.Status)); err != nil {
			return ro, p, before, false, fmt.Errorf("%s of rollout %s: patch status: %w", a, key, err)
		}
		ours[ro.ResourceVersion] = true
	}
	if p.Spec != nil {
		if err := c.Patch(ctx, ro, client.RawPatch(types.MergePatchType, p.Spec)); err != nil {
			return ro, p, before, false, fmt.Errorf("%s of rollout %s: patch spec: %w", a, key, err)
		}
		ours[ro.ResourceVersion] = true
	}
	return ro, p, before, ro.ResourceVersion != rv, nil
}

// Nudge sets the nudge annotation of ro to now: the watch event it causes
// gives the controller the Rollout as it is. ro is updated to the result.
func Nudge(ctx context.Context, c client.Client, ro *rolloutsv1alpha1.Rollout, now time.Time) error {
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%s}}}`, NudgeAnnotation, strconv.Quote(now.UTC().Format(time.RFC3339Nano)))
	if err := c.Patch(ctx, ro, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("nudge rollout %s/%s: %w", ro.Namespace, ro.Name, err)
	}
	return nil
}

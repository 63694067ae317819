package embedded

import (
	"encoding/json"
	"fmt"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"

	"github.com/graylane/graylane/internal/manifest"
)

// SetImage changes a container image of a Rollout's pod template, like
// `kubectl argo rollouts set image`: the new template starts a canary.
func (r *Runtime) SetImage(ns, name, container, image string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var cur *manifest.Object
	for _, o := range r.store.list() {
		if ro, ok := o.Typed.(*rolloutsv1alpha1.Rollout); ok && o.Namespace == ns && ro.Name == name {
			cur = o
		}
	}
	if cur == nil {
		return fmt.Errorf("rollout %s/%s not found", ns, name)
	}
	ro := cur.Typed.(*rolloutsv1alpha1.Rollout).DeepCopy()
	found := false
	for i := range ro.Spec.Template.Spec.Containers {
		if c := &ro.Spec.Template.Spec.Containers[i]; c.Name == container {
			c.Image, found = image, true
		}
	}
	if !found {
		return fmt.Errorf("rollout %s/%s has no container %q", ns, name, container)
	}
	if err := r.checkRollout(cur, ro); err != nil {
		return err
	}
	raw, err := toRaw(ro)
	if err != nil {
		return err
	}
	next := *cur
	next.Typed, next.Raw = ro, raw
	r.store.apply([]*manifest.Object{&next})
	if err := r.recompileLanes(); err != nil {
		return err
	}
	r.syncRollouts()
	r.wakeRollouts()
	return nil
}

func toRaw(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return out, nil
}

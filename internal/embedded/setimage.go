package embedded

import (
	"encoding/json"
	"fmt"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/release"
)

// SetImage changes a container image of a Rollout's pod template, like
// `kubectl argo rollouts set image`: the new template starts a canary. The
// Rollout is found by name and namespace as `rollout list` shows it: one
// applied as such is changed in place; one rendered from a Release is
// changed in the Release (its service's image or template), which renders
// it again with the new image. It says what it changed.
func (r *Runtime) SetImage(ns, name, container, image string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ref := "rollout " + ns + "/" + name
	if !r.release.HasRollout(release.Ref{Namespace: ns, Name: name}) {
		return "", &NotFoundError{Object: ref}
	}
	next, where, old, err := r.imageSource(ns, name, container, image)
	if err != nil {
		return "", fmt.Errorf("%s: %w", ref, err)
	}
	if old == image {
		return fmt.Sprintf("%s unchanged: container %q runs %s already", ref, container, image), nil
	}
	// Check the result before anything changes: the Rollout as it renders
	// now must have the new image and be runnable.
	objs := r.store.list()
	for i, o := range objs {
		if objectKey(o) == objectKey(next) {
			objs[i] = next
		}
	}
	out, err := r.compileLanes(objs)
	if err != nil {
		return "", err
	}
	ro := findRollout(out.Objects, ns, name)
	if ro == nil || containerImage(&ro.Spec.Template, container) != image {
		return "", fmt.Errorf("%s: changing %s did not change the rendered Rollout's container %q", ref, where, container)
	}
	if err := r.checkRollout(findRolloutObject(out.Objects, ns, name), ro); err != nil {
		return "", err
	}
	r.store.apply([]*manifest.Object{next})
	if err := r.useLanes(out); err != nil {
		return "", err
	}
	r.syncRollouts()
	if _, err := r.release.ReconcileRollout(r.ctx, release.Ref{Namespace: ns, Name: name}); err != nil {
		return "", err
	}
	r.recompile(r.routeInput())
	view, _ := r.release.Rollout(release.Ref{Namespace: ns, Name: name})
	st := view.Status
	what := "the canary " + st.CanaryHash + " starts"
	if st.CanaryHash == st.StableHash {
		what = "back to the stable " + st.StableHash
	}
	return fmt.Sprintf("%s: container %q image %s -> %s (%s): %s", ref, container, old, image, where, what), nil
}

// imageSource returns a copy of the stored object that holds the pod
// template of Rollout ns/name with container's image set: the Rollout
// itself, or the Release that renders it. where names what was changed;
// old is the image before.
func (r *Runtime) imageSource(ns, name, container, image string) (next *manifest.Object, where, old string, err error) {
	for _, o := range r.store.list() {
		if o.Namespace != ns {
			continue
		}
		switch t := o.Typed.(type) {
		case *rolloutsv1alpha1.Rollout:
			if t.Name != name {
				continue
			}
			ro := t.DeepCopy()
			if old, err = setContainerImage(&ro.Spec.Template, container, image); err != nil {
				return nil, "", "", err
			}
			next, err = withTyped(o, ro)
			return next, "Rollout " + ns + "/" + name, old, err
		case *v1alpha1.Release:
			for i := range t.Spec.Services {
				if t.Spec.Services[i].Name != name {
					continue
				}
				rel := t.DeepCopy()
				where = fmt.Sprintf("Release %s/%s spec.services[%d]", ns, rel.Name, i)
				if old, err = setServiceImage(&rel.Spec.Services[i], container, image); err != nil {
					return nil, "", "", fmt.Errorf("%s: %w", where, err)
				}
				next, err = withTyped(o, rel)
				return next, where, old, err
			}
		}
	}
	return nil, "", "", fmt.Errorf("no Rollout or Release service of that name is applied")
}

// setServiceImage sets the image of a Release service's container: the
// one named after the service when it gives image, else the template's.
func setServiceImage(s *v1alpha1.ReleaseService, container, image string) (string, error) {
	switch {
	case s.Image != "":
		if container != s.Name {
			return "", fmt.Errorf("no container %q: the service's container is %q", container, s.Name)
		}
		old := s.Image
		s.Image = image
		return old, nil
	case s.Template != nil:
		return setContainerImage(s.Template, container, image)
	}
	return "", fmt.Errorf("uses workloadRef: set the image of its Deployment")
}

func setContainerImage(tpl *corev1.PodTemplateSpec, container, image string) (string, error) {
	for i := range tpl.Spec.Containers {
		if c := &tpl.Spec.Containers[i]; c.Name == container {
			old := c.Image
			c.Image = image
			return old, nil
		}
	}
	return "", fmt.Errorf("no container %q", container)
}

func containerImage(tpl *corev1.PodTemplateSpec, container string) string {
	for _, c := range tpl.Spec.Containers {
		if c.Name == container {
			return c.Image
		}
	}
	return ""
}

func findRollout(objs []*manifest.Object, ns, name string) *rolloutsv1alpha1.Rollout {
	if o := findRolloutObject(objs, ns, name); o != nil {
		return o.Typed.(*rolloutsv1alpha1.Rollout)
	}
	return nil
}

func findRolloutObject(objs []*manifest.Object, ns, name string) *manifest.Object {
	for _, o := range objs {
		if ro, ok := o.Typed.(*rolloutsv1alpha1.Rollout); ok && o.Namespace == ns && ro.Name == name {
			return o
		}
	}
	return nil
}

// withTyped is a copy of o holding typed (and its raw form).
func withTyped(o *manifest.Object, typed any) (*manifest.Object, error) {
	raw, err := toRaw(typed)
	if err != nil {
		return nil, err
	}
	next := *o
	next.Typed, next.Raw = typed, raw
	return &next, nil
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

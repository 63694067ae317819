package lane

import (
	"fmt"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/graylane/graylane/internal/manifest"
)

// canaryEnv puts each member's canaryConfig on its lane version's pod
// template: every property as the environment variable Spring's relaxed
// binding reads for it, on the container it names (default: the first).
// The lane version is a workload of its own, so the stable version never
// has them (seed 000 §3.3). A container that does not exist, or that sets
// one of the variables itself, is an error located at the member.
func (c *compiler) canaryEnv(errs *manifest.ErrorList) {
	for _, l := range c.lanes {
		for i := range l.Spec.Members {
			m := &l.Spec.Members[i]
			if m.CanaryConfig == nil || m.Workload == "" {
				continue
			}
			p := fmt.Sprintf("spec.members[%d].canaryConfig", i)
			o, tpl := c.workloadTemplate(l.Namespace, m.Workload)
			if o == nil {
				*errs = append(*errs, &manifest.Error{Pos: l.Object.PathPos(p), Path: p,
					Msg: fmt.Sprintf("canaryConfig needs the lane version's pod template: no Deployment or Rollout %s in namespace %s", m.Workload, l.Namespace)})
				continue
			}
			if fe := m.CanaryConfig.CheckContainer(field.NewPath("spec", "members").Index(i).Child("canaryConfig"), tpl.Spec.Containers); len(fe) > 0 {
				for _, e := range fe {
					*errs = append(*errs, &manifest.Error{Pos: l.Object.PathPos(e.Field), Path: e.Field, Msg: e.ErrorBody()})
				}
				continue
			}
			changed := copyOf(o, o.Typed)
			switch t := o.Typed.(type) {
			case *appsv1.Deployment:
				d := t.DeepCopy()
				m.CanaryConfig.AddEnv(&d.Spec.Template.Spec)
				changed.Typed = d
			case *rolloutsv1alpha1.Rollout:
				r := t.DeepCopy()
				m.CanaryConfig.AddEnv(&r.Spec.Template.Spec)
				changed.Typed = r
			}
			c.replace(o, changed)
		}
	}
}

// workloadTemplate finds the Deployment or Rollout name in ns among the
// output objects, and its pod template.
func (c *compiler) workloadTemplate(ns, name string) (*manifest.Object, *corev1.PodTemplateSpec) {
	for _, o := range c.objects {
		if o.Namespace != ns || o.Name != name {
			continue
		}
		switch t := o.Typed.(type) {
		case *appsv1.Deployment:
			return o, &t.Spec.Template
		case *rolloutsv1alpha1.Rollout:
			if t.Spec.WorkloadRef == nil {
				return o, &t.Spec.Template
			}
		}
	}
	return nil, nil
}

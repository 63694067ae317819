package render

import (
	"maps"
	"strconv"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/graylane/graylane/api/v1alpha1"
)

const rolloutsAPIVersion = "argoproj.io/v1alpha1"

// rollout is the Rollout of one service: its pod template (or a reference
// to the Deployment), the canary steps, the Istio traffic routing and the
// background analysis.
func rollout(u *unit, release string, spec *v1alpha1.ReleaseSpec) Object {
	meta := u.meta
	meta.Name, meta.Namespace = u.name, u.namespace
	meta.Labels = maps.Clone(meta.Labels)
	if meta.Labels == nil {
		meta.Labels = map[string]string{}
	}
	maps.Copy(meta.Labels, objLabels(u.name))
	ro := &rollouts.Rollout{
		TypeMeta:   metav1.TypeMeta{APIVersion: rolloutsAPIVersion, Kind: "Rollout"},
		ObjectMeta: meta,
		Spec: rollouts.RolloutSpec{
			Replicas: u.replicas,
			Selector: &metav1.LabelSelector{MatchLabels: maps.Clone(u.selector)},
		},
	}
	if u.workloadRef != nil {
		ro.Spec.WorkloadRef = &rollouts.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: u.workloadRef.Name, ScaleDown: u.workloadRef.ScaleDown}
	} else {
		ro.Spec.Template = *u.template.DeepCopy()
		if cc := u.canaryConfig; cc != nil {
			withCanaryConfig(ro, cc)
		}
	}
	c := &rollouts.CanaryStrategy{
		Steps:          steps(spec, release, u),
		TrafficRouting: &rollouts.RolloutTrafficRouting{Istio: &rollouts.IstioTrafficRouting{}},
	}
	istio := c.TrafficRouting.Istio
	istio.VirtualService = &rollouts.IstioVirtualService{Name: u.name, Routes: []string{PrimaryRoute}}
	istio.DestinationRule = &rollouts.IstioDestinationRule{Name: u.name, StableSubsetName: StableSubset, CanarySubsetName: CanarySubset}
	if spec.Layout == v1alpha1.LayoutServices {
		c.StableService, c.CanaryService = stableName(u.name), canaryName(u.name)
	}
	if m := spec.CanaryMetadata; m != nil {
		c.CanaryMetadata = &rollouts.PodTemplateMetadata{Labels: maps.Clone(m.Labels), Annotations: maps.Clone(m.Annotations)}
	}
	if m := spec.StableMetadata; m != nil {
		c.StableMetadata = &rollouts.PodTemplateMetadata{Labels: maps.Clone(m.Labels), Annotations: maps.Clone(m.Annotations)}
	}
	if names := backgroundAnalyses(spec, u); len(names) > 0 {
		bg := &rollouts.RolloutAnalysisBackground{RolloutAnalysis: analysisRef(release, names, u, spec)}
		if i := firstWeightStep(spec.Steps); i >= 0 {
			start := int32(i + 1)
			bg.StartingStep = &start
		}
		c.Analysis = bg
	}
	ro.Spec.Strategy.Canary = c
	return Object{rolloutsAPIVersion, "Rollout", u.namespace, u.name, ro}
}

// firstWeightStep is the index of the first step that sends traffic to the
// canary, or -1: background analysis starts after it.
func firstWeightStep(steps []v1alpha1.Step) int {
	for i, s := range steps {
		if s.SetWeight != nil && *s.SetWeight > 0 {
			return i
		}
	}
	return -1
}

func steps(spec *v1alpha1.ReleaseSpec, release string, u *unit) []rollouts.CanaryStep {
	out := make([]rollouts.CanaryStep, 0, len(spec.Steps))
	for _, s := range spec.Steps {
		var cs rollouts.CanaryStep
		switch {
		case s.SetWeight != nil:
			w := *s.SetWeight
			cs.SetWeight = &w
		case s.Pause != nil:
			cs.Pause = &rollouts.RolloutPause{}
			if d := s.Pause.Duration; d != "" {
				v := intstr.FromString(d)
				if n, err := strconv.ParseInt(d, 10, 32); err == nil {
					v = intstr.FromInt32(int32(n))
				}
				cs.Pause.Duration = &v
			}
		case s.Analysis != nil:
			names := s.Analysis.Templates
			if len(names) == 0 {
				names = spec.Analysis.Enabled()
			}
			ra := analysisRef(release, names, u, spec)
			cs.Analysis = &ra
		}
		out = append(out, cs)
	}
	return out
}

// withCanaryConfig puts a Release service's canary-only properties on the
// Rollout: as environment variables of the pod template's container (the
// template Argo Rollouts runs as the canary; the stable keeps the template
// it was made from - seed 000 §3.3) and, whole, in the annotation
// v1alpha1.CanaryConfigAnnotation, which tells whoever sees the Rollout
// fully promoted what to publish (internal/canaryconfig). The template's
// pod-template-hash changes with the properties: that new template is the
// canary. cc is defaulted and valid: its container exists and none of its
// variables is set by the container already.
func withCanaryConfig(ro *rollouts.Rollout, cc *v1alpha1.CanaryConfig) {
	cc.AddEnv(&ro.Spec.Template.Spec)
	if ro.Annotations == nil {
		ro.Annotations = map[string]string{}
	}
	ro.Annotations[v1alpha1.CanaryConfigAnnotation] = v1alpha1.EncodeCanaryConfig(cc)
}

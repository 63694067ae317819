// Package rolloutcheck validates Argo Rollouts objects the way Argo Rollouts
// v1.8.3 does, on the typed objects: a Rollout that Argo's controller would
// mark InvalidSpec, or an AnalysisTemplate whose runs Argo would end in
// Error, is refused before anything runs it.
//
// Argo's own package (pkg/apis/rollouts/validation) imports
// k8s.io/kubernetes and cannot be a dependency, so its rules are written
// again here; each function names the upstream function it follows. The
// pod template gets the checks of the ReplicaSet validation that matter for
// a canary (labels, containers, restart policy); the API server checks the
// rest of the pod spec.
//
// Everything here is pure: typed objects in, field errors out (with paths
// such as spec.strategy.canary.steps[0].setWeight that the manifest loader
// turns into file:line). Checks that need other objects (the templates,
// Services and routing a Rollout names) are in internal/lint, which has the
// whole input; [Analyses] and [Run] are the parts of them that need no
// lookup. [NotRunLocally] lists the features `graylane up` does not run.
package rolloutcheck

import (
	"fmt"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Defaults of Argo Rollouts v1.8.3 (utils/defaults/defaults.go).
const (
	defaultReplicas                = 1
	defaultRevisionHistoryLimit    = 10
	defaultProgressDeadlineSeconds = 600
	// defaultMaxSurge and defaultMaxUnavailable are "25" upstream (read
	// as 25 replicas by getIntOrPercentValue): never zero.
	defaultMaxSurgeUnavailable = 25
	// defaultMaxTrafficWeight is weightutil.MaxTrafficWeight without
	// trafficRouting.maxTrafficWeight.
	defaultMaxTrafficWeight = 100
)

// Rollout returns what Argo Rollouts v1.8.3 finds invalid in the spec of
// ro (validation.ValidateRolloutSpec and everything it calls).
func Rollout(ro *rollouts.Rollout) field.ErrorList {
	spec := &ro.Spec
	p := field.NewPath("spec")
	var errs field.ErrorList
	replicas := int32(defaultReplicas)
	if spec.Replicas != nil {
		replicas = *spec.Replicas
	}
	errs = append(errs, nonNegative(p.Child("replicas"), replicas)...)
	errs = append(errs, selector(spec, p)...)
	// A template and a workloadRef together (lint plugin rule of
	// ValidateRolloutSpec: "template must be empty for workload reference rollout").
	if spec.WorkloadRef != nil && !spec.EmptyTemplate() {
		errs = append(errs, field.Invalid(p.Child("template"), field.OmitValueType{}, "must be empty when workloadRef is set (the pod template comes from the referenced workload)"))
	}
	if spec.WorkloadRef == nil {
		errs = append(errs, podTemplate(spec, p.Child("template"))...)
	}
	errs = append(errs, nonNegative(p.Child("minReadySeconds"), spec.MinReadySeconds)...)
	history := int32(defaultRevisionHistoryLimit)
	if spec.RevisionHistoryLimit != nil {
		history = *spec.RevisionHistoryLimit
	}
	errs = append(errs, nonNegative(p.Child("revisionHistoryLimit"), history)...)
	deadline := int32(defaultProgressDeadlineSeconds)
	if spec.ProgressDeadlineSeconds != nil {
		deadline = *spec.ProgressDeadlineSeconds
	}
	errs = append(errs, nonNegative(p.Child("progressDeadlineSeconds"), deadline)...)
	if deadline <= spec.MinReadySeconds {
		errs = append(errs, field.Invalid(p.Child("progressDeadlineSeconds"), deadline, fmt.Sprintf("must be greater than minReadySeconds (%d)", spec.MinReadySeconds)))
	}
	return append(errs, strategy(ro, p.Child("strategy"))...)
}

// nonNegative follows apivalidation.ValidateNonnegativeField.
func nonNegative(p *field.Path, v int32) field.ErrorList {
	if v < 0 {
		return field.ErrorList{field.Invalid(p, v, "must be greater than or equal to 0")}
	}
	return nil
}

// selector follows ValidateRolloutSpec: a Rollout without workloadRef needs
// a valid, non-empty selector.
func selector(spec *rollouts.RolloutSpec, p *field.Path) field.ErrorList {
	sp := p.Child("selector")
	if spec.Selector == nil {
		if spec.WorkloadRef != nil {
			return nil
		}
		return field.ErrorList{field.Required(sp, "a label selector that matches spec.template.metadata.labels")}
	}
	if _, err := metav1.LabelSelectorAsSelector(spec.Selector); err != nil {
		return field.ErrorList{field.Invalid(sp, field.OmitValueType{}, "invalid label selector: "+err.Error())}
	}
	if spec.WorkloadRef == nil && len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
		return field.ErrorList{field.Invalid(sp, field.OmitValueType{}, "an empty selector selects every pod: give matchLabels")}
	}
	return nil
}

// podTemplate follows the parts of ValidatePodTemplateSpecForReplicaSet
// (k8s.io/kubernetes pkg/apis/apps/validation, which Argo calls) that decide
// whether the Rollout's pods can exist: the selector matches the labels,
// containers have unique names and an image, the restart policy is Always.
func podTemplate(spec *rollouts.RolloutSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	tpl := &spec.Template
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && spec.Selector != nil && !sel.Empty() && !sel.Matches(labels.Set(tpl.Labels)) {
		errs = append(errs, field.Invalid(p.Child("metadata", "labels"), labels.Set(tpl.Labels).String(),
			fmt.Sprintf("spec.selector (%s) does not match the template's labels", sel)))
	}
	cp := p.Child("spec", "containers")
	if len(tpl.Spec.Containers) == 0 {
		errs = append(errs, field.Required(cp, "at least one container"))
	}
	names := map[string]bool{}
	for i, c := range tpl.Spec.Containers {
		ip := cp.Index(i)
		switch {
		case c.Name == "":
			errs = append(errs, field.Required(ip.Child("name"), "a container name"))
		case names[c.Name]:
			errs = append(errs, field.Duplicate(ip.Child("name"), c.Name))
		default:
			for _, msg := range validation.IsDNS1123Label(c.Name) {
				errs = append(errs, field.Invalid(ip.Child("name"), c.Name, msg))
			}
		}
		names[c.Name] = true
		if c.Image == "" {
			errs = append(errs, field.Required(ip.Child("image"), "a container image"))
		}
	}
	if rp := tpl.Spec.RestartPolicy; rp != "" && rp != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(p.Child("spec", "restartPolicy"), rp, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if tpl.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(p.Child("spec", "activeDeadlineSeconds"), "not supported for the pods of a ReplicaSet"))
	}
	return errs
}

// strategy follows ValidateRolloutStrategy: exactly one of canary and
// blueGreen.
func strategy(ro *rollouts.Rollout, p *field.Path) field.ErrorList {
	s := ro.Spec.Strategy
	switch {
	case s.Canary == nil && s.BlueGreen == nil:
		return field.ErrorList{field.Required(p, "one of canary and blueGreen")}
	case s.Canary != nil && s.BlueGreen != nil:
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "give one of canary and blueGreen, not both")}
	case s.BlueGreen != nil:
		return blueGreen(ro, p.Child("blueGreen"))
	}
	return canary(ro, p.Child("canary"))
}

// blueGreen follows ValidateRolloutStrategyBlueGreen.
func blueGreen(ro *rollouts.Rollout, p *field.Path) field.ErrorList {
	bg := ro.Spec.Strategy.BlueGreen
	var errs field.ErrorList
	switch {
	case bg.ActiveService == "":
		errs = append(errs, field.Required(p.Child("activeService"), "the Service that sends traffic to the active version"))
	case bg.ActiveService == bg.PreviewService:
		errs = append(errs, field.Invalid(p.Child("previewService"), bg.PreviewService, "must differ from activeService: blue-green needs two Services"))
	}
	history := int32(defaultRevisionHistoryLimit)
	if ro.Spec.RevisionHistoryLimit != nil {
		history = *ro.Spec.RevisionHistoryLimit
	}
	if l := bg.ScaleDownDelayRevisionLimit; l != nil && history < *l {
		errs = append(errs, field.Invalid(p.Child("scaleDownDelayRevisionLimit"), *l, fmt.Sprintf("must not be larger than spec.revisionHistoryLimit (%d)", history)))
	}
	errs = append(errs, analysisRef(bg.PrePromotionAnalysis, p.Child("prePromotionAnalysis"))...)
	errs = append(errs, analysisRef(bg.PostPromotionAnalysis, p.Child("postPromotionAnalysis"))...)
	return append(errs, antiAffinity(bg.AntiAffinity, p.Child("antiAffinity"))...)
}

// antiAffinity follows ValidateRolloutStrategyAntiAffinity.
func antiAffinity(a *rollouts.AntiAffinity, p *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	pref, req := a.PreferredDuringSchedulingIgnoredDuringExecution, a.RequiredDuringSchedulingIgnoredDuringExecution
	if (pref == nil) == (req == nil) {
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "give exactly one of preferredDuringSchedulingIgnoredDuringExecution and requiredDuringSchedulingIgnoredDuringExecution")}
	}
	if pref != nil && (pref.Weight < 1 || pref.Weight > 100) {
		return field.ErrorList{field.Invalid(p.Child("preferredDuringSchedulingIgnoredDuringExecution", "weight"), pref.Weight, "must be between 1 and 100")}
	}
	return nil
}

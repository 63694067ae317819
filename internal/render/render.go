// Package render turns Graylane Releases (and, with Convert, existing
// Deployments) into the Kubernetes objects of a canary release: Argo
// Rollouts Rollouts and AnalysisTemplates, Services, Istio DestinationRules
// and VirtualServices, PodDisruptionBudgets and an Argo CD Application.
//
// Everything here is pure: typed upstream objects in, typed objects and
// bytes out, no I/O. Output is deterministic (fixed object order, no
// timestamps, no status).
package render

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/graylane/graylane/api/v1alpha1"
)

// Object is one generated object. Value is a pointer to the typed upstream
// object (or to Application) with its TypeMeta set.
type Object struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	Value      any
}

// Ref returns "Kind namespace/name".
func (o Object) Ref() string { return o.Kind + " " + o.Namespace + "/" + o.Name }

// ManagedBy is the label Graylane puts on every object it generates.
const ManagedBy = "app.kubernetes.io/managed-by"

// Route and subset names of the generated routing.
const (
	PrimaryRoute = "primary"
	HeaderRoute  = "canary-header"
	StableSubset = "stable"
	CanarySubset = "canary"
)

// unit is one service to release, whatever it came from (a Release entry
// or an existing Deployment).
type unit struct {
	name, namespace string
	selector        map[string]string       // pod labels the Rollout and Services select
	template        *corev1.PodTemplateSpec // nil with workloadRef
	workloadRef     *v1alpha1.WorkloadRef
	replicas        *int32
	ports           []corev1.ServicePort
	service         *corev1.Service   // the callers' Service kept as it is (convert); nil: generated
	meta            metav1.ObjectMeta // extra labels/annotations of the Rollout (convert)
	judge           bool              // versions labelled: the judge runs in the background (convert)
	canaryConfig    *v1alpha1.CanaryConfig
}

// Render generates the objects of the given Releases. Each Release is
// defaulted and validated on a copy; invalid ones give an error (without
// file positions: load them with Releases for located errors).
func Render(rels ...*v1alpha1.Release) ([]Object, error) {
	var out []Object
	for _, r := range rels {
		r = r.DeepCopy()
		r.Default()
		if errs := r.Validate(); len(errs) > 0 {
			return nil, fmt.Errorf("release %s/%s: %w", r.Namespace, r.Name, errs.ToAggregate())
		}
		units := make([]unit, 0, len(r.Spec.Services))
		for i := range r.Spec.Services {
			units = append(units, fromService(r.Namespace, &r.Spec.Services[i]))
		}
		objs, _ := build(r.Name, r.Namespace, &r.Spec, units)
		out = append(out, objs...)
	}
	return out, checkUnique(out)
}

// fromService makes a unit of a defaulted, valid Release service.
func fromService(ns string, s *v1alpha1.ReleaseService) unit {
	u := unit{name: s.Name, namespace: ns, replicas: s.Replicas, selector: map[string]string{"app": s.Name}, canaryConfig: s.CanaryConfig}
	switch {
	case s.WorkloadRef != nil:
		u.workloadRef = s.WorkloadRef
		u.selector = maps.Clone(s.WorkloadRef.MatchLabels)
	case s.Template != nil:
		t := s.Template.DeepCopy()
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		if _, ok := t.Labels["app"]; !ok {
			t.Labels["app"] = s.Name
		}
		u.selector = map[string]string{"app": t.Labels["app"]}
		u.template = t
	default:
		c := corev1.Container{Name: s.Name, Image: s.Image, Env: s.Env}
		for _, p := range s.Ports {
			c.Ports = append(c.Ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.TargetPort, Protocol: corev1.ProtocolTCP})
		}
		u.template = &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": s.Name}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
		}
	}
	for _, p := range s.Ports {
		u.ports = append(u.ports, corev1.ServicePort{Name: p.Name, Port: p.Port, TargetPort: intstr.FromInt32(p.TargetPort), Protocol: corev1.ProtocolTCP})
	}
	return u
}

// build generates the objects of one release: its AnalysisTemplates, then
// per service the Services, DestinationRule, VirtualService,
// PodDisruptionBudget and Rollout, then the Argo CD Application. owner[i]
// is the index of the unit objs[i] was generated for, -1 for the objects
// shared by all.
func build(release, ns string, spec *v1alpha1.ReleaseSpec, units []unit) (objs []Object, owner []int) {
	add := func(unit int, o ...Object) {
		objs = append(objs, o...)
		for range o {
			owner = append(owner, unit)
		}
	}
	if spec.Analysis != nil {
		add(-1, analysisTemplates(release, ns, spec.Analysis)...)
		if slices.ContainsFunc(units, func(u unit) bool { return u.judge }) {
			add(-1, judgeTemplate(release, ns, spec.Analysis))
		}
	}
	var rollouts []Object
	for i := range units {
		u := &units[i]
		add(i, services(u, spec.Layout)...)
		add(i, destinationRule(u), virtualService(u, spec))
		if pdb := podDisruptionBudget(u, spec.PDB); pdb != nil {
			add(i, *pdb)
		}
		ro := rollout(u, release, spec)
		add(i, ro)
		rollouts = append(rollouts, ro)
	}
	if spec.ArgoCD != nil {
		add(-1, application(release, ns, spec.ArgoCD, rollouts))
	}
	return objs, owner
}

// objLabels are the labels of every generated object of a service.
func objLabels(app string) map[string]string {
	return map[string]string{"app": app, ManagedBy: "graylane"}
}

func objectMeta(name, ns string, l map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: l}
}

// checkUnique reports objects generated twice (the same service in two
// Releases, or a service whose NAME-canary collides with another's name).
func checkUnique(objs []Object) error {
	seen := map[string]bool{}
	var dup []string
	for _, o := range objs {
		k := o.APIVersion + " " + o.Ref()
		if seen[k] {
			dup = append(dup, o.Ref())
		}
		seen[k] = true
	}
	if len(dup) > 0 {
		slices.Sort(dup)
		return errors.New("generated twice (a service in two releases, or names that collide): " + fmt.Sprint(slices.Compact(dup)))
	}
	return nil
}

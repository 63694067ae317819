package render

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/graylane/graylane/api/v1alpha1"
)

// ConvertOptions are the settings of a conversion: the Release settings
// (services is ignored: the Deployments are the services) and the name of
// the generated AnalysisTemplates and Argo CD Application.
type ConvertOptions struct {
	// Name names the AnalysisTemplates (NAME-success-rate, ...) and the Argo
	// CD Application (NAME, or NAME-NAMESPACE with several namespaces).
	// Default "graylane".
	Name string
	// Spec holds the settings shared by every converted service.
	Spec v1alpha1.ReleaseSpec
	// WorkloadRef makes each Rollout reference its Deployment instead of
	// copying the pod template (the Deployment stays and is scaled down).
	WorkloadRef bool
}

// Convert generates the canary objects of existing Deployments: a Rollout
// with exactly the Deployment's pod template, selector, replicas, labels,
// annotations and namespace, and around it the objects a Release would
// have. A Service of the input whose selector picks the Deployment's pods
// is kept as the callers' Service (one is generated from the container
// ports otherwise).
func Convert(deps []*appsv1.Deployment, svcs []*corev1.Service, o ConvertOptions) ([]Object, error) {
	spec := o.Spec
	spec.Services = nil
	spec.Default()
	probe := v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: cmp.Or(o.Name, "graylane"), Namespace: "default"}, Spec: spec}
	probe.Spec.Services = []v1alpha1.ReleaseService{{Name: "probe", Image: "probe"}}
	probe.Spec.Services[0].Default()
	if errs := probe.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("invalid settings: %w", errs.ToAggregate())
	}
	deps = slices.Clone(deps)
	slices.SortFunc(deps, func(a, b *appsv1.Deployment) int {
		return cmp.Or(cmp.Compare(namespace(a.Namespace), namespace(b.Namespace)), cmp.Compare(a.Name, b.Name))
	})
	byNS := map[string][]unit{}
	var order []string
	var errs []error
	for _, d := range deps {
		u, err := fromDeployment(d, svcs, o.WorkloadRef)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, ok := byNS[u.namespace]; !ok {
			order = append(order, u.namespace)
		}
		byNS[u.namespace] = append(byNS[u.namespace], u)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var out []Object
	for _, ns := range order {
		name := probe.Name
		if len(order) > 1 && spec.ArgoCD != nil {
			name += "-" + ns
		}
		out = append(out, build(name, ns, &spec, byNS[ns])...)
	}
	return out, checkUnique(out)
}

func namespace(ns string) string { return cmp.Or(ns, "default") }

// fromDeployment makes the unit of one Deployment.
func fromDeployment(d *appsv1.Deployment, svcs []*corev1.Service, ref bool) (unit, error) {
	ns := namespace(d.Namespace)
	where := "Deployment " + ns + "/" + d.Name
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 || len(d.Spec.Selector.MatchExpressions) > 0 {
		return unit{}, fmt.Errorf("%s: spec.selector: only matchLabels selectors can be converted (Services and subsets select by labels)", where)
	}
	u := unit{
		name: d.Name, namespace: ns, replicas: d.Spec.Replicas,
		selector: maps.Clone(d.Spec.Selector.MatchLabels),
		meta:     metav1.ObjectMeta{Labels: maps.Clone(d.Labels), Annotations: workloadAnnotations(d.Annotations)},
	}
	if ref {
		u.workloadRef = &v1alpha1.WorkloadRef{Name: d.Name, MatchLabels: u.selector, ScaleDown: "progressively"}
	} else {
		u.template = d.Spec.Template.DeepCopy()
	}
	if svc := callersService(d, ns, svcs); svc != nil {
		u.service = cleanService(svc, ns)
		u.ports = svc.Spec.Ports
		return u, nil
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				continue
			}
			name := "http"
			if len(u.ports) > 0 {
				name = fmt.Sprintf("http-%d", p.ContainerPort)
			}
			u.ports = append(u.ports, corev1.ServicePort{Name: name, Port: p.ContainerPort, TargetPort: intstr.FromInt32(p.ContainerPort), Protocol: corev1.ProtocolTCP})
		}
	}
	if len(u.ports) == 0 {
		return unit{}, fmt.Errorf("%s: no Service of the input selects its pods and its containers declare no TCP ports: add its Service to the input", where)
	}
	return u, nil
}

// workloadAnnotations drops the annotations that belong to the Deployment
// object itself rather than to the workload.
func workloadAnnotations(a map[string]string) map[string]string {
	out := maps.Clone(a)
	delete(out, "deployment.kubernetes.io/revision")
	delete(out, corev1.LastAppliedConfigAnnotation)
	if len(out) == 0 {
		return nil
	}
	return out
}

// callersService is the Service of the namespace that selects the
// Deployment's pods: the one named like the Deployment, else the first by name.
func callersService(d *appsv1.Deployment, ns string, svcs []*corev1.Service) *corev1.Service {
	var found []*corev1.Service
	for _, s := range svcs {
		if namespace(s.Namespace) != ns || len(s.Spec.Selector) == 0 {
			continue
		}
		if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			found = append(found, s)
		}
	}
	if len(found) == 0 {
		return nil
	}
	slices.SortFunc(found, func(a, b *corev1.Service) int { return cmp.Compare(a.Name, b.Name) })
	for _, s := range found {
		if s.Name == d.Name {
			return s
		}
	}
	return found[0]
}

// cleanService keeps a Service's spec and identity, without what the API
// server wrote (status, uid, resourceVersion, managed fields).
func cleanService(s *corev1.Service, ns string) *corev1.Service {
	c := s.DeepCopy()
	c.ObjectMeta = metav1.ObjectMeta{Name: s.Name, Namespace: ns, Labels: c.Labels, Annotations: workloadAnnotations(c.Annotations)}
	c.Status = corev1.ServiceStatus{}
	return c
}

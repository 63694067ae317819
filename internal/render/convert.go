package render

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/manifest"
)

// ConvertOptions are the settings of a conversion: the Release settings
// (services is ignored: the Deployments are the services), the name of the
// generated AnalysisTemplates and Argo CD Application, the analysis and,
// for services with one Deployment per version, which version is which.
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
	// NoAnalysis leaves every analysis out. Otherwise the Rollouts run
	// Spec.Analysis, or DefaultConvertAnalysis when it is nil (and the judge
	// where versions are labelled, with Judge).
	NoAnalysis bool
	// Prometheus, when set, is the address the analyses query (default:
	// Spec.Analysis.Prometheus, else v1alpha1.DefaultPrometheus).
	Prometheus string
	// Judge adds the judge to the background analysis of services with one
	// Deployment per version. It is not the default: Argo Rollouts on a
	// cluster runs it only with the graylane.io/judge metric plugin
	// registered, and without it every such canary would be aborted.
	Judge bool
	// Canary and Stable choose the versions of services with one
	// Deployment per version (default: the highest version is the canary,
	// the highest of the others the stable).
	Canary, Stable []VersionChoice
	// FirstApply gives those services' Rollouts their stable version's pod
	// template instead of the canary's: a new Rollout takes its first
	// template as stable at once, so this is what to apply first.
	FirstApply bool
}

// VersionChoice picks one version of services with one Deployment per version.
type VersionChoice struct {
	// Service is "" (every such service), NAME or NAMESPACE/NAME (of the
	// Rollout or of the callers' Service).
	Service string
	// Version is a value of the pods' version label.
	Version string
}

func (c VersionChoice) String() string {
	if c.Service == "" {
		return c.Version
	}
	return c.Service + "=" + c.Version
}

// DefaultConvertAnalysis is the analysis of converted services when the
// settings name none: the success rate of the callers' Service from
// Istio's standard metrics, with the Release's defaults.
func DefaultConvertAnalysis() *v1alpha1.Analysis {
	return &v1alpha1.Analysis{SuccessRate: &v1alpha1.SuccessRate{}}
}

// Conversion is the result of Convert.
type Conversion struct {
	// Objects are the generated objects, in apply order.
	Objects []Object
	// Services says what became of the Deployments, in output order.
	Services []ConvertedService
	// Superseded are the input's VirtualServices and DestinationRules for
	// the hosts of converted services ("Kind ns/name (file:line)"): the
	// generated routing replaces them.
	Superseded []string
}

// ConvertedService is one Rollout and where it came from.
type ConvertedService struct {
	Namespace string `json:"namespace"`
	Rollout   string `json:"rollout"`
	// Service is the callers' Service, the host of the routing.
	Service     string   `json:"service"`
	Deployments []string `json:"deployments"`
	// Template is the Deployment whose pod template the Rollout has.
	Template string `json:"template"`
	// Canary and Stable are set for services with one Deployment per version.
	Canary *ConvertedVersion `json:"canary,omitempty"`
	Stable *ConvertedVersion `json:"stable,omitempty"`
	// NotConverted are further versions: one Rollout holds two.
	NotConverted []ConvertedVersion `json:"notConverted,omitempty"`
	// Analysis are the AnalysisTemplates the Rollout runs in the background.
	Analysis []string `json:"analysis,omitempty"`
}

// ConvertedVersion is one version of a service and its Deployment.
type ConvertedVersion struct {
	Version    string `json:"version"`
	Deployment string `json:"deployment"`
}

// source is one Deployment of the input with where it was read.
type source struct {
	obj *manifest.Object
	dep *appsv1.Deployment // a copy with its namespace set
}

func (s source) ref() string { return "Deployment " + s.dep.Namespace + "/" + s.dep.Name }

func (s source) errorf(path, format string, args ...any) error {
	return &manifest.Error{Pos: s.obj.PathPos(path), Path: path, Msg: s.ref() + ": " + fmt.Sprintf(format, args...)}
}

// Convert generates the canary objects of the Deployments of set: one
// Rollout per service, with exactly the pod template, selector, replicas,
// labels, annotations and namespace of its Deployment, and around it the
// objects a Release would have. A Service of the input whose selector
// picks the Deployment's pods is kept as the callers' Service (one is
// generated from the container ports otherwise). Deployments behind the
// same Service (or, without one, with the same app label and distinct
// version labels) are the versions of one service (seed 004): they become
// one Rollout (see fromVersions).
func Convert(set *manifest.Set, o ConvertOptions) (*Conversion, error) {
	spec, release, err := convertSpec(o)
	if err != nil {
		return nil, err
	}
	srcs, svcs := inputs(set)
	byNS := map[string][]unit{}
	var order []string
	var conv Conversion
	var errs []error
	used := map[string]bool{} // "--canary-version#0": that choice named a service
	for _, g := range groupDeployments(srcs, svcs) {
		var u unit
		var cs ConvertedService
		var err error
		if len(g.members) == 1 {
			u, cs, err = fromDeployment(g.members[0], g.svc, o.WorkloadRef)
		} else {
			u, cs, err = fromVersions(g, o, used)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		u.judge = u.judge && spec.Analysis != nil && o.Judge
		if _, ok := byNS[u.namespace]; !ok {
			order = append(order, u.namespace)
		}
		byNS[u.namespace] = append(byNS[u.namespace], u)
		conv.Services = append(conv.Services, cs)
	}
	errs = append(errs, unusedChoices(o, used)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Groups come in the order of their first Deployment (by namespace,
	// then name): conv.Services is in the order of byNS[order...].
	origin := map[string]string{} // object key -> the Deployments it is generated for
	first := 0
	for _, ns := range order {
		name := release
		if len(order) > 1 && spec.ArgoCD != nil {
			name += "-" + ns
		}
		units := byNS[ns]
		for i := range units {
			for _, a := range backgroundAnalyses(&spec, &units[i]) {
				conv.Services[first+i].Analysis = append(conv.Services[first+i].Analysis, TemplateName(name, a))
			}
		}
		objs, owner := build(name, ns, &spec, units)
		for i := range owner {
			if owner[i] >= 0 {
				owner[i] += first
			}
		}
		errs = append(errs, checkOrigins(objs, owner, conv.Services, origin))
		conv.Objects = append(conv.Objects, objs...)
		first += len(units)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	conv.Superseded = superseded(set, conv.Services)
	return &conv, nil
}

// inputs are copies of the Deployments (by namespace and name) and
// Services of set, with their namespaces.
func inputs(set *manifest.Set) ([]source, []*corev1.Service) {
	var srcs []source
	var svcs []*corev1.Service
	for _, obj := range set.Objects {
		switch t := obj.Typed.(type) {
		case *appsv1.Deployment:
			d := t.DeepCopy()
			d.Namespace = namespace(obj.Namespace)
			srcs = append(srcs, source{obj, d})
		case *corev1.Service:
			s := t.DeepCopy()
			s.Namespace = namespace(obj.Namespace)
			svcs = append(svcs, s)
		}
	}
	slices.SortFunc(srcs, func(a, b source) int {
		return cmp.Or(cmp.Compare(a.dep.Namespace, b.dep.Namespace), cmp.Compare(a.dep.Name, b.dep.Name))
	})
	return srcs, svcs
}

// convertSpec is the defaulted, checked release spec of a conversion and
// the name of its AnalysisTemplates and Application.
func convertSpec(o ConvertOptions) (v1alpha1.ReleaseSpec, string, error) {
	spec := (&v1alpha1.Release{Spec: o.Spec}).DeepCopy().Spec
	spec.Services = nil
	switch {
	case o.NoAnalysis:
		spec.Analysis = nil
	case spec.Analysis == nil:
		spec.Analysis = DefaultConvertAnalysis()
	}
	if spec.Analysis != nil && o.Prometheus != "" {
		spec.Analysis.Prometheus = o.Prometheus
	}
	spec.Default()
	probe := v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: cmp.Or(o.Name, "graylane"), Namespace: "default"}, Spec: spec}
	probe.Spec.Services = []v1alpha1.ReleaseService{{Name: "probe", Image: "probe"}}
	probe.Spec.Services[0].Default()
	if errs := probe.Validate(); len(errs) > 0 {
		return spec, "", fmt.Errorf("invalid settings: %w", errs.ToAggregate())
	}
	return spec, probe.Name, nil
}

func namespace(ns string) string { return cmp.Or(ns, "default") }

// checkSelector reports a Deployment whose selector cannot be converted.
func checkSelector(s source) error {
	sel := s.dep.Spec.Selector
	if sel == nil || len(sel.MatchLabels) == 0 || len(sel.MatchExpressions) > 0 {
		return s.errorf("spec.selector", "only matchLabels selectors can be converted (Services and subsets select by labels)")
	}
	return nil
}

// fromDeployment makes the unit of a Deployment that is a service of its own.
func fromDeployment(s source, svc *corev1.Service, ref bool) (unit, ConvertedService, error) {
	if err := checkSelector(s); err != nil {
		return unit{}, ConvertedService{}, err
	}
	d := s.dep
	u := unit{
		name: d.Name, namespace: d.Namespace, replicas: d.Spec.Replicas,
		selector: maps.Clone(d.Spec.Selector.MatchLabels),
		meta:     metav1.ObjectMeta{Labels: maps.Clone(d.Labels), Annotations: workloadAnnotations(d.Annotations)},
	}
	if ref {
		u.workloadRef = &v1alpha1.WorkloadRef{Name: d.Name, MatchLabels: u.selector, ScaleDown: "progressively"}
	} else {
		u.template = d.Spec.Template.DeepCopy()
	}
	if err := u.setService(svc, &d.Spec.Template, s); err != nil {
		return unit{}, ConvertedService{}, err
	}
	return u, ConvertedService{Namespace: u.namespace, Rollout: u.name, Service: u.host(), Deployments: []string{d.Name}, Template: d.Name}, nil
}

// setService makes svc (kept as it is) the callers' Service of u, or plans
// a generated one with the TCP ports of the template's containers.
func (u *unit) setService(svc *corev1.Service, t *corev1.PodTemplateSpec, s source) error {
	if svc != nil {
		u.service = cleanService(svc)
		u.ports = u.service.Spec.Ports
		return nil
	}
	for _, c := range t.Spec.Containers {
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
		return s.errorf("spec.template.spec.containers", "no Service of the input selects its pods and its containers declare no TCP ports: add its Service to the input")
	}
	return nil
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
// Deployment's pods: the one named like the Deployment, else the one named
// like its pods' app label, else the first by name.
func callersService(d *appsv1.Deployment, svcs []*corev1.Service) *corev1.Service {
	var found []*corev1.Service
	for _, s := range svcs {
		if s.Namespace != d.Namespace || len(s.Spec.Selector) == 0 {
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
	for _, name := range []string{d.Name, d.Spec.Template.Labels["app"]} {
		for _, s := range found {
			if s.Name == name {
				return s
			}
		}
	}
	return found[0]
}

// cleanService keeps a Service's spec and identity, without what the API
// server wrote (status, uid, resourceVersion, managed fields). A port
// without targetPort gets its port, as the API server defaults it.
func cleanService(s *corev1.Service) *corev1.Service {
	c := s.DeepCopy()
	c.ObjectMeta = metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: c.Labels, Annotations: workloadAnnotations(c.Annotations)}
	c.Status = corev1.ServiceStatus{}
	for i := range c.Spec.Ports {
		if p := &c.Spec.Ports[i]; p.TargetPort == (intstr.IntOrString{}) {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	return c
}

// checkOrigins reports objects generated twice, naming the Deployments
// each was generated for (a service whose name or NAME-canary collides
// with another's), with a hint. owner[i] is the index in svcs of the
// service objs[i] belongs to, -1 for shared objects.
func checkOrigins(objs []Object, owner []int, svcs []ConvertedService, origin map[string]string) error {
	var errs []error
	for i, o := range objs {
		if owner[i] < 0 {
			continue
		}
		cs := svcs[owner[i]]
		mine := "Deployment " + cs.Namespace + "/" + strings.Join(cs.Deployments, ", ")
		if len(cs.Deployments) > 1 {
			mine = "Deployments " + cs.Namespace + "/" + strings.Join(cs.Deployments, ", ")
		}
		k := o.APIVersion + " " + o.Ref()
		if other, ok := origin[k]; ok {
			errs = append(errs, fmt.Errorf("%s would be generated both for %s and for %s: rename one of them, or give each its own Service in the input", o.Ref(), other, mine))
			continue
		}
		origin[k] = mine
	}
	return errors.Join(errs...)
}

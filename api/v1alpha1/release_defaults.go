package v1alpha1

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Defaults applied by Default.
const (
	DefaultHeader         = "x-canary"
	DefaultHeaderValue    = "true"
	DefaultPort           = 8080
	DefaultReplicas       = 2
	DefaultPrometheus     = "http://prometheus.istio-system.svc:9090"
	DefaultInterval       = "1m"
	DefaultWindow         = "2m"
	DefaultCount          = 5
	DefaultFailureLimit   = 1
	DefaultMinSuccessRate = "0.99"
	DefaultWebPath        = "/actuator/health"
	DefaultWebJSONPath    = "{$.status}"
	DefaultWebExpect      = "UP"
	DefaultArgoNamespace  = "argocd"
	DefaultArgoProject    = "default"
	DefaultArgoServer     = "https://kubernetes.default.svc"
	DefaultArgoRevision   = "HEAD"
)

// DefaultSteps is the plan of seed 001: 10% -> pause (watch the metrics,
// promote by hand) -> 30% -> 50% -> 100%.
func DefaultSteps() []Step {
	w := func(n int32) Step { return Step{SetWeight: &n} }
	p := func(d string) Step { return Step{Pause: &Pause{Duration: d}} }
	return []Step{w(10), p(""), w(30), p("5m"), w(50), p("5m")}
}

// Default fills every unset field that has a default.
func (r *Release) Default() {
	if r.Namespace == "" {
		r.Namespace = "default"
	}
	r.Spec.Default()
}

// Default fills every unset field of the spec that has a default.
func (s *ReleaseSpec) Default() {
	if s.Layout == "" {
		s.Layout = LayoutSubsets
	}
	if len(s.Steps) == 0 {
		s.Steps = DefaultSteps()
	}
	if s.HeaderRoute == nil {
		s.HeaderRoute = &HeaderRoute{}
	}
	if s.HeaderRoute.Header == "" {
		s.HeaderRoute.Header = DefaultHeader
	}
	if s.HeaderRoute.Value == "" {
		s.HeaderRoute.Value = DefaultHeaderValue
	}
	if s.PDB == nil {
		s.PDB = &PDB{}
	}
	if s.PDB.MinAvailable == nil && s.PDB.MaxUnavailable == nil {
		one := intstr.FromInt32(1)
		s.PDB.MaxUnavailable = &one
	}
	if s.Analysis != nil {
		s.Analysis.Default()
	}
	if a := s.ArgoCD; a != nil {
		a.TargetRevision = or(a.TargetRevision, DefaultArgoRevision)
		a.Project = or(a.Project, DefaultArgoProject)
		a.Namespace = or(a.Namespace, DefaultArgoNamespace)
		a.Server = or(a.Server, DefaultArgoServer)
	}
	for i := range s.Services {
		s.Services[i].Default()
	}
}

// Default fills the analysis defaults.
func (a *Analysis) Default() {
	a.Prometheus = or(a.Prometheus, DefaultPrometheus)
	a.Interval = or(a.Interval, DefaultInterval)
	a.Window = or(a.Window, DefaultWindow)
	if a.Count == nil {
		n := int32(DefaultCount)
		a.Count = &n
	}
	if a.FailureLimit == nil {
		n := int32(DefaultFailureLimit)
		a.FailureLimit = &n
	}
	if a.SuccessRate != nil {
		a.SuccessRate.Min = or(a.SuccessRate.Min, DefaultMinSuccessRate)
	}
	if w := a.Web; w != nil {
		w.Path = or(w.Path, DefaultWebPath)
		w.JSONPath = or(w.JSONPath, DefaultWebJSONPath)
		w.Expect = or(w.Expect, DefaultWebExpect)
	}
}

// Default fills the service defaults: ports, port names, replicas, the
// workloadRef selector and scale-down policy.
func (s *ReleaseService) Default() {
	if len(s.Ports) == 0 {
		s.Ports = []Port{{Port: DefaultPort}}
	}
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Name == "" {
			p.Name = "http"
			if i > 0 {
				p.Name = "http-" + itoa(p.Port)
			}
		}
		if p.TargetPort == 0 {
			p.TargetPort = p.Port
		}
	}
	if s.Replicas == nil {
		n := int32(DefaultReplicas)
		s.Replicas = &n
	}
	if c := s.CanaryConfig; c != nil {
		var names []string
		for _, ct := range s.containers() {
			names = append(names, ct.Name)
		}
		c.Default(names)
	}
	if w := s.WorkloadRef; w != nil {
		if len(w.MatchLabels) == 0 {
			w.MatchLabels = map[string]string{"app": s.Name}
		}
		w.ScaleDown = or(w.ScaleDown, "progressively")
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// containers are the containers of the service's pod template: the
// template's, or the one made from image (named after the service); none
// with workloadRef.
func (s *ReleaseService) containers() []corev1.Container {
	switch {
	case s.Template != nil:
		return s.Template.Spec.Containers
	case s.Image != "":
		return []corev1.Container{{Name: s.Name, Image: s.Image, Env: s.Env}}
	}
	return nil
}

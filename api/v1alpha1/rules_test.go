package v1alpha1_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/graylane/graylane/api/v1alpha1"
)

// rule is one check of Validate, shown by an object that breaks it (and
// nothing else).
type rule struct {
	name string
	// lane or release breaks the rule; exactly one is set.
	lane    func(*v1alpha1.Lane)
	release func(*v1alpha1.Release)
	// goField is the field of Validate's error.
	goField string
	// apiField is the field of the API server's error: the CRD schema
	// enforces the rule. Empty when only Go can check it; goOnly says why.
	apiField string
	goOnly   string
}

func validLaneSpec() v1alpha1.LaneSpec {
	return v1alpha1.LaneSpec{
		Members: []v1alpha1.LaneMember{{Service: "order", Workload: "order-v2"}},
		Entry:   v1alpha1.LaneEntry{Headers: []v1alpha1.HeaderRule{{Name: "x-canary", Exact: "true"}}},
	}
}

func validReleaseSpec() v1alpha1.ReleaseSpec {
	return v1alpha1.ReleaseSpec{Services: []v1alpha1.ReleaseService{{Name: "order", Image: "graylane/sample:1.0"}}}
}

func i32(n int32) *int32 { return &n }

func step(s rolloutsv1alpha1.CanaryStep) func(*v1alpha1.Lane) {
	return func(l *v1alpha1.Lane) { l.Spec.Plan = &v1alpha1.LanePlan{Steps: []rolloutsv1alpha1.CanaryStep{s}} }
}

func relStep(s v1alpha1.Step) func(*v1alpha1.Release) {
	return func(r *v1alpha1.Release) { r.Spec.Steps = []v1alpha1.Step{s} }
}

func svc(f func(*v1alpha1.ReleaseService)) func(*v1alpha1.Release) {
	return func(r *v1alpha1.Release) { f(&r.Spec.Services[0]) }
}

func analysis(f func(*v1alpha1.Analysis)) func(*v1alpha1.Release) {
	return func(r *v1alpha1.Release) {
		r.Spec.Analysis = &v1alpha1.Analysis{SuccessRate: &v1alpha1.SuccessRate{}}
		f(r.Spec.Analysis)
	}
}

func pauseFor(d intstr.IntOrString) rolloutsv1alpha1.CanaryStep {
	return rolloutsv1alpha1.CanaryStep{Pause: &rolloutsv1alpha1.RolloutPause{Duration: &d}}
}

// Why some rules are checked by Go only.
const (
	regexData    = "CEL cannot compile a regular expression it is given as data"
	argoDuration = "the pause duration is Argo Rollouts' int-or-string without a length limit: a pattern on it exceeds the API server's CEL cost budget (negative numbers are refused)"
	labelValues  = "the values of a map have no length limit in the schema: a pattern on each exceeds the API server's CEL cost budget (their length is checked)"
	defaulted    = "the names are given by Default (http, http-PORT), which the API server does not run"
	relaxedNames = "the environment variable of a property is Spring's relaxed binding of its name (springprops.EnvName), which the schema does not compute: it checks the characters of the names only"
	containers   = "the pod template's containers list has no size limit in the schema: a rule that searches it for the container exceeds the API server's CEL cost budget"
	envValues    = "the values of a map have no length limit in the schema: a search in each exceeds the API server's CEL cost budget"
)

func canary(f func(*v1alpha1.CanaryConfig)) func(*v1alpha1.Release) {
	return svc(func(s *v1alpha1.ReleaseService) {
		s.CanaryConfig = &v1alpha1.CanaryConfig{Properties: map[string]string{"feature.discount-rate": "0.2"},
			Nacos: &v1alpha1.NacosConfigRef{DataID: "order.yaml"}}
		f(s.CanaryConfig)
	})
}

// rules enumerates what Validate refuses, for both kinds, and where the API
// server refuses the same object. docs/architecture.md lists the rules only
// Go checks.
var rules = []rule{
	// Lane
	{name: "lane name not a DNS label", lane: func(l *v1alpha1.Lane) { l.Name = "Gray" }, goField: "metadata.name", apiField: "metadata.name"},
	// The API server itself refuses names that are not DNS subdomains; a
	// CRD cannot change the schema of metadata, so Graylane's own rules on
	// the name are CEL rules on the object, reported at metadata (their
	// messages start with metadata.name).
	{name: "lane name with a dot", lane: func(l *v1alpha1.Lane) { l.Name = "gray.v2" }, goField: "metadata.name", apiField: "metadata"},
	{name: "lane name too long", lane: func(l *v1alpha1.Lane) { l.Name = strings.Repeat("g", 64) }, goField: "metadata.name", apiField: "metadata"},
	{name: "lane name base", lane: func(l *v1alpha1.Lane) { l.Name = "base" }, goField: "metadata.name", apiField: "metadata"},
	{name: "no members", lane: func(l *v1alpha1.Lane) { l.Spec.Members = nil }, goField: "spec.members", apiField: "spec.members"},
	{name: "empty members", lane: func(l *v1alpha1.Lane) { l.Spec.Members = []v1alpha1.LaneMember{} }, goField: "spec.members", apiField: "spec.members"},
	{name: "too many members", lane: func(l *v1alpha1.Lane) {
		l.Spec.Members = nil
		for i := range v1alpha1.MaxMembers + 1 {
			l.Spec.Members = append(l.Spec.Members, v1alpha1.LaneMember{Service: fmt.Sprintf("s%d", i), Workload: "w"})
		}
	}, goField: "spec.members", apiField: "spec.members"},
	{name: "member without service", lane: func(l *v1alpha1.Lane) { l.Spec.Members[0].Service = "" },
		goField: "spec.members[0].service", apiField: "spec.members[0].service"},
	{name: "member twice", lane: func(l *v1alpha1.Lane) { l.Spec.Members = append(l.Spec.Members, l.Spec.Members[0]) },
		goField: "spec.members[1].service", apiField: "spec.members[1]"},
	{name: "member without workload or labels", lane: func(l *v1alpha1.Lane) { l.Spec.Members[0].Workload = "" },
		goField: "spec.members[0].workload", apiField: "spec.members[0].workload"},
	{name: "stable without workload or labels", lane: func(l *v1alpha1.Lane) { l.Spec.Members[0].Stable = &v1alpha1.VersionRef{} },
		goField: "spec.members[0].stable", apiField: "spec.members[0].stable"},
	{name: "lane canaryConfig without workload", lane: func(l *v1alpha1.Lane) {
		l.Spec.Members[0] = v1alpha1.LaneMember{Service: "order", Labels: map[string]string{"version": "v2"},
			CanaryConfig: &v1alpha1.CanaryConfig{Properties: map[string]string{"a": "b"}}}
	}, goField: "spec.members[0].canaryConfig", apiField: "spec.members[0].canaryConfig"},
	{name: "lane canaryConfig property name", lane: func(l *v1alpha1.Lane) {
		l.Spec.Members[0].CanaryConfig = &v1alpha1.CanaryConfig{Properties: map[string]string{"a b": "c"}}
	}, goField: "spec.members[0].canaryConfig.properties[a b]", apiField: "spec.members[0].canaryConfig.properties"},
	{name: "lane canaryConfig nacos dataId", lane: func(l *v1alpha1.Lane) {
		l.Spec.Members[0].CanaryConfig = &v1alpha1.CanaryConfig{Properties: map[string]string{"a": "c"}, Nacos: &v1alpha1.NacosConfigRef{DataID: "order"}}
	}, goField: "spec.members[0].canaryConfig.nacos.dataId", apiField: "spec.members[0].canaryConfig.nacos.dataId"},
	{name: "fallback", lane: func(l *v1alpha1.Lane) { l.Spec.Fallback = "loose" }, goField: "spec.fallback", apiField: "spec.fallback"},
	{name: "header name", lane: func(l *v1alpha1.Lane) { l.Spec.Entry.Headers[0].Name = "x canary" },
		goField: "spec.entry.headers[0].name", apiField: "spec.entry.headers[0].name"},
	{name: "header name empty", lane: func(l *v1alpha1.Lane) { l.Spec.Entry.Headers[0].Name = "" },
		goField: "spec.entry.headers[0].name", apiField: "spec.entry.headers[0].name"},
	{name: "header exact and prefix", lane: func(l *v1alpha1.Lane) { l.Spec.Entry.Headers[0].Prefix = "t" },
		goField: "spec.entry.headers[0].prefix", apiField: "spec.entry.headers[0].prefix"},
	{name: "header exact and regex", lane: func(l *v1alpha1.Lane) { l.Spec.Entry.Headers[0].Regex = "t.*" },
		goField: "spec.entry.headers[0].regex", apiField: "spec.entry.headers[0].regex"},
	{name: "header prefix and regex", lane: func(l *v1alpha1.Lane) {
		l.Spec.Entry.Headers[0] = v1alpha1.HeaderRule{Name: "x-canary", Prefix: "t", Regex: "t.*"}
	}, goField: "spec.entry.headers[0].regex", apiField: "spec.entry.headers[0].regex"},
	{name: "header regex does not compile", lane: func(l *v1alpha1.Lane) {
		l.Spec.Entry.Headers[0] = v1alpha1.HeaderRule{Name: "x-canary", Regex: "(t"}
	}, goField: "spec.entry.headers[0].regex", goOnly: regexData},
	{name: "cookie name empty", lane: func(l *v1alpha1.Lane) { l.Spec.Entry.Cookies = []v1alpha1.CookieRule{{Exact: "1"}} },
		goField: "spec.entry.cookies[0].name", apiField: "spec.entry.cookies[0].name"},
	{name: "cookie exact and regex", lane: func(l *v1alpha1.Lane) {
		l.Spec.Entry.Cookies = []v1alpha1.CookieRule{{Name: "gray", Exact: "1", Regex: "1"}}
	}, goField: "spec.entry.cookies[0].regex", apiField: "spec.entry.cookies[0].regex"},
	{name: "cookie regex does not compile", lane: func(l *v1alpha1.Lane) {
		l.Spec.Entry.Cookies = []v1alpha1.CookieRule{{Name: "gray", Regex: "[1"}}
	}, goField: "spec.entry.cookies[0].regex", goOnly: regexData},
	{name: "user header", lane: func(l *v1alpha1.Lane) { l.Spec.Entry.Identity.UserHeader = "x user" },
		goField: "spec.entry.identity.userHeader", apiField: "spec.entry.identity.userHeader"},
	{name: "tenant header", lane: func(l *v1alpha1.Lane) { l.Spec.Entry.Identity.TenantHeader = "x:tenant" },
		goField: "spec.entry.identity.tenantHeader", apiField: "spec.entry.identity.tenantHeader"},
	{name: "gate URL", lane: func(l *v1alpha1.Lane) { l.Spec.Entry.Whitelist = &v1alpha1.Whitelist{Gate: "gate:8470"} },
		goField: "spec.entry.whitelist.gate", apiField: "spec.entry.whitelist.gate"},
	{name: "weight above 100", lane: func(l *v1alpha1.Lane) { l.Spec.Entry.Percentage = &v1alpha1.Percentage{Weight: 101} },
		goField: "spec.entry.percentage.weight", apiField: "spec.entry.percentage.weight"},
	{name: "negative weight", lane: func(l *v1alpha1.Lane) { l.Spec.Entry.Percentage = &v1alpha1.Percentage{Weight: -1} },
		goField: "spec.entry.percentage.weight", apiField: "spec.entry.percentage.weight"},
	{name: "anonymous weight", lane: func(l *v1alpha1.Lane) {
		l.Spec.Entry.Percentage = &v1alpha1.Percentage{Weight: 10, AnonymousWeight: i32(200)}
	}, goField: "spec.entry.percentage.anonymousWeight", apiField: "spec.entry.percentage.anonymousWeight"},
	{name: "propagation mode", lane: func(l *v1alpha1.Lane) { l.Spec.Propagation.Modes = []string{"cookie"} },
		goField: "spec.propagation.modes[0]", apiField: "spec.propagation.modes[0]"},
	{name: "propagation mode twice", lane: func(l *v1alpha1.Lane) { l.Spec.Propagation.Modes = []string{"header", "header"} },
		goField: "spec.propagation.modes[1]", apiField: "spec.propagation.modes[1]"},
	{name: "propagation header", lane: func(l *v1alpha1.Lane) { l.Spec.Propagation.Header = "x graylane" },
		goField: "spec.propagation.header", apiField: "spec.propagation.header"},
	{name: "plan without steps", lane: func(l *v1alpha1.Lane) { l.Spec.Plan = &v1alpha1.LanePlan{} },
		goField: "spec.plan.steps", apiField: "spec.plan.steps"},
	{name: "plan with too many steps", lane: func(l *v1alpha1.Lane) {
		l.Spec.Plan = &v1alpha1.LanePlan{Steps: make([]rolloutsv1alpha1.CanaryStep, v1alpha1.MaxSteps+1)}
		for i := range l.Spec.Plan.Steps {
			l.Spec.Plan.Steps[i].SetWeight = i32(10)
		}
	}, goField: "spec.plan.steps", apiField: "spec.plan.steps"},
	{name: "plan setWeight 150", lane: step(rolloutsv1alpha1.CanaryStep{SetWeight: i32(150)}),
		goField: "spec.plan.steps[0].setWeight", apiField: "spec.plan.steps[0].setWeight"},
	{name: "plan pause duration word", lane: step(pauseFor(intstr.FromString("soon"))),
		goField: "spec.plan.steps[0].pause.duration", goOnly: argoDuration},
	{name: "plan pause duration negative", lane: step(pauseFor(intstr.FromInt32(-5))),
		goField: "spec.plan.steps[0].pause.duration", apiField: "spec.plan.steps[0].pause.duration"},
	{name: "plan pause duration negative string", lane: step(pauseFor(intstr.FromString("-5s"))),
		goField: "spec.plan.steps[0].pause.duration", goOnly: argoDuration},
	{name: "plan experiment step", lane: step(rolloutsv1alpha1.CanaryStep{Experiment: &rolloutsv1alpha1.RolloutExperimentStep{
		Templates: []rolloutsv1alpha1.RolloutExperimentTemplate{{Name: "baseline", SpecRef: rolloutsv1alpha1.StableSpecRef}},
	}}),
		goField: "spec.plan.steps[0].experiment", apiField: "spec.plan.steps[0].experiment"},
	{name: "plan setCanaryScale step", lane: step(rolloutsv1alpha1.CanaryStep{SetCanaryScale: &rolloutsv1alpha1.SetCanaryScale{Weight: i32(10)}}),
		goField: "spec.plan.steps[0].setCanaryScale", apiField: "spec.plan.steps[0].setCanaryScale"},
	{name: "plan setHeaderRoute step", lane: step(rolloutsv1alpha1.CanaryStep{SetHeaderRoute: &rolloutsv1alpha1.SetHeaderRoute{Name: "h"}}),
		goField: "spec.plan.steps[0].setHeaderRoute", apiField: "spec.plan.steps[0].setHeaderRoute"},
	{name: "plan setMirrorRoute step", lane: step(rolloutsv1alpha1.CanaryStep{SetMirrorRoute: &rolloutsv1alpha1.SetMirrorRoute{Name: "m"}}),
		goField: "spec.plan.steps[0].setMirrorRoute", apiField: "spec.plan.steps[0].setMirrorRoute"},
	{name: "plan plugin step", lane: step(rolloutsv1alpha1.CanaryStep{Plugin: &rolloutsv1alpha1.PluginStep{Name: "p"}}),
		goField: "spec.plan.steps[0].plugin", apiField: "spec.plan.steps[0].plugin"},
	{name: "plan empty step", lane: step(rolloutsv1alpha1.CanaryStep{}),
		goField: "spec.plan.steps[0]", apiField: "spec.plan.steps[0]"},
	{name: "plan step of two kinds", lane: step(rolloutsv1alpha1.CanaryStep{SetWeight: i32(10), Pause: &rolloutsv1alpha1.RolloutPause{}}),
		goField: "spec.plan.steps[0]", apiField: "spec.plan.steps[0]"},
	{name: "plan startingStep", lane: func(l *v1alpha1.Lane) {
		l.Spec.Plan = &v1alpha1.LanePlan{Steps: []rolloutsv1alpha1.CanaryStep{{SetWeight: i32(10)}},
			Analysis: &rolloutsv1alpha1.RolloutAnalysisBackground{StartingStep: i32(1)}}
	}, goField: "spec.plan.analysis.startingStep", apiField: "spec.plan.analysis.startingStep"},

	// Release
	{name: "layout", release: func(r *v1alpha1.Release) { r.Spec.Layout = "canary" }, goField: "spec.layout", apiField: "spec.layout"},
	{name: "no services", release: func(r *v1alpha1.Release) { r.Spec.Services = nil }, goField: "spec.services", apiField: "spec.services"},
	{name: "too many services", release: func(r *v1alpha1.Release) {
		r.Spec.Services = nil
		for i := range v1alpha1.MaxServices + 1 {
			r.Spec.Services = append(r.Spec.Services, v1alpha1.ReleaseService{Name: fmt.Sprintf("s%d", i), Image: "x"})
		}
	}, goField: "spec.services", apiField: "spec.services"},
	{name: "service twice", release: func(r *v1alpha1.Release) { r.Spec.Services = append(r.Spec.Services, r.Spec.Services[0]) },
		goField: "spec.services[1].name", apiField: "spec.services[1]"},
	{name: "service name not a DNS-1035 label", release: svc(func(s *v1alpha1.ReleaseService) { s.Name = "1order" }),
		goField: "spec.services[0].name", apiField: "spec.services[0].name"},
	{name: "service name too long", release: svc(func(s *v1alpha1.ReleaseService) { s.Name = strings.Repeat("o", 57) }),
		goField: "spec.services[0].name", apiField: "spec.services[0].name"},
	{name: "image and workloadRef", release: svc(func(s *v1alpha1.ReleaseService) { s.WorkloadRef = &v1alpha1.WorkloadRef{Name: "order"} }),
		goField: "spec.services[0]", apiField: "spec.services[0]"},
	{name: "no image, template or workloadRef", release: svc(func(s *v1alpha1.ReleaseService) { s.Image = "" }),
		goField: "spec.services[0]", apiField: "spec.services[0]"},
	{name: "env without image", release: svc(func(s *v1alpha1.ReleaseService) {
		s.Image = ""
		s.Template = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "order", Image: "x"}}}}
		s.Env = []corev1.EnvVar{{Name: "A", Value: "1"}}
	}), goField: "spec.services[0].env", apiField: "spec.services[0].env"},
	{name: "template without containers", release: svc(func(s *v1alpha1.ReleaseService) {
		s.Image = ""
		s.Template = &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "order"}}}
	}), goField: "spec.services[0].template.spec.containers", apiField: "spec.services[0].template.spec.containers"},
	{name: "workloadRef without name", release: svc(func(s *v1alpha1.ReleaseService) { s.Image, s.WorkloadRef = "", &v1alpha1.WorkloadRef{} }),
		goField: "spec.services[0].workloadRef.name", apiField: "spec.services[0].workloadRef.name"},
	{name: "workloadRef scaleDown", release: svc(func(s *v1alpha1.ReleaseService) {
		s.Image, s.WorkloadRef = "", &v1alpha1.WorkloadRef{Name: "order", ScaleDown: "later"}
	}), goField: "spec.services[0].workloadRef.scaleDown", apiField: "spec.services[0].workloadRef.scaleDown"},
	{name: "workloadRef label key", release: svc(func(s *v1alpha1.ReleaseService) {
		s.Image, s.WorkloadRef = "", &v1alpha1.WorkloadRef{Name: "order", MatchLabels: v1alpha1.Labels{"a b": "x"}}
	}), goField: "spec.services[0].workloadRef.matchLabels[a b]", apiField: "spec.services[0].workloadRef.matchLabels"},
	{name: "workloadRef label value", release: svc(func(s *v1alpha1.ReleaseService) {
		s.Image, s.WorkloadRef = "", &v1alpha1.WorkloadRef{Name: "order", MatchLabels: v1alpha1.Labels{"app": "-x"}}
	}), goField: "spec.services[0].workloadRef.matchLabels[app]", goOnly: labelValues},
	{name: "workloadRef label value too long", release: svc(func(s *v1alpha1.ReleaseService) {
		s.Image, s.WorkloadRef = "", &v1alpha1.WorkloadRef{Name: "order", MatchLabels: v1alpha1.Labels{"app": strings.Repeat("x", 64)}}
	}), goField: "spec.services[0].workloadRef.matchLabels[app]", apiField: "spec.services[0].workloadRef.matchLabels"},
	{name: "port 0", release: svc(func(s *v1alpha1.ReleaseService) { s.Ports = []v1alpha1.Port{{Port: 0, TargetPort: 80}} }),
		goField: "spec.services[0].ports[0].port", apiField: "spec.services[0].ports[0].port"},
	{name: "port 70000", release: svc(func(s *v1alpha1.ReleaseService) { s.Ports = []v1alpha1.Port{{Port: 70000, TargetPort: 8080}} }),
		goField: "spec.services[0].ports[0].port", apiField: "spec.services[0].ports[0].port"},
	{name: "targetPort 70000", release: svc(func(s *v1alpha1.ReleaseService) { s.Ports = []v1alpha1.Port{{Port: 80, TargetPort: 70000}} }),
		goField: "spec.services[0].ports[0].targetPort", apiField: "spec.services[0].ports[0].targetPort"},
	{name: "port name", release: svc(func(s *v1alpha1.ReleaseService) { s.Ports = []v1alpha1.Port{{Name: "HTTP", Port: 80}} }),
		goField: "spec.services[0].ports[0].name", apiField: "spec.services[0].ports[0].name"},
	{name: "port name without a letter", release: svc(func(s *v1alpha1.ReleaseService) { s.Ports = []v1alpha1.Port{{Name: "8080", Port: 80}} }),
		goField: "spec.services[0].ports[0].name", apiField: "spec.services[0].ports[0].name"},
	{name: "port name twice", release: svc(func(s *v1alpha1.ReleaseService) {
		s.Ports = []v1alpha1.Port{{Name: "web", Port: 80}, {Name: "web", Port: 81}}
	}), goField: "spec.services[0].ports[1].name", apiField: "spec.services[0].ports"},
	{name: "port name twice after defaulting", release: svc(func(s *v1alpha1.ReleaseService) {
		s.Ports = []v1alpha1.Port{{Port: 80}, {Name: "http", Port: 81}}
	}), goField: "spec.services[0].ports[1].name", goOnly: defaulted},
	{name: "too many ports", release: svc(func(s *v1alpha1.ReleaseService) {
		for i := range v1alpha1.MaxPorts + 1 {
			s.Ports = append(s.Ports, v1alpha1.Port{Port: int32(8000 + i)})
		}
	}), goField: "spec.services[0].ports", apiField: "spec.services[0].ports"},
	{name: "negative replicas", release: svc(func(s *v1alpha1.ReleaseService) { s.Replicas = i32(-1) }),
		goField: "spec.services[0].replicas", apiField: "spec.services[0].replicas"},
	{name: "too many steps", release: func(r *v1alpha1.Release) {
		r.Spec.Steps = make([]v1alpha1.Step, v1alpha1.MaxSteps+1)
		for i := range r.Spec.Steps {
			r.Spec.Steps[i].SetWeight = i32(10)
		}
	}, goField: "spec.steps", apiField: "spec.steps"},
	{name: "setWeight 150", release: relStep(v1alpha1.Step{SetWeight: i32(150)}), goField: "spec.steps[0].setWeight", apiField: "spec.steps[0].setWeight"},
	{name: "negative setWeight", release: relStep(v1alpha1.Step{SetWeight: i32(-1)}), goField: "spec.steps[0].setWeight", apiField: "spec.steps[0].setWeight"},
	{name: "pause duration", release: relStep(v1alpha1.Step{Pause: &v1alpha1.Pause{Duration: "1d"}}),
		goField: "spec.steps[0].pause.duration", apiField: "spec.steps[0].pause.duration"},
	{name: "empty step", release: relStep(v1alpha1.Step{}), goField: "spec.steps[0]", apiField: "spec.steps[0]"},
	{name: "step of two kinds", release: relStep(v1alpha1.Step{SetWeight: i32(10), Pause: &v1alpha1.Pause{}}), goField: "spec.steps[0]", apiField: "spec.steps[0]"},
	{name: "analysis step without analysis", release: relStep(v1alpha1.Step{Analysis: &v1alpha1.StepAnalysis{}}),
		goField: "spec.steps[0].analysis", apiField: "spec.steps"},
	{name: "analysis step with nothing configured", release: func(r *v1alpha1.Release) {
		r.Spec.Analysis = &v1alpha1.Analysis{}
		r.Spec.Steps = []v1alpha1.Step{{Analysis: &v1alpha1.StepAnalysis{}}}
	}, goField: "spec.steps[0].analysis", apiField: "spec.steps"},
	{name: "analysis step names an analysis not configured", release: func(r *v1alpha1.Release) {
		r.Spec.Analysis = &v1alpha1.Analysis{Web: &v1alpha1.WebProbe{}}
		r.Spec.Steps = []v1alpha1.Step{{Analysis: &v1alpha1.StepAnalysis{Templates: []string{"latency"}}}}
	}, goField: "spec.steps[0].analysis.templates[0]", apiField: "spec.steps"},
	{name: "analysis step with too many templates", release: func(r *v1alpha1.Release) {
		r.Spec.Analysis = &v1alpha1.Analysis{Web: &v1alpha1.WebProbe{}}
		r.Spec.Steps = []v1alpha1.Step{{Analysis: &v1alpha1.StepAnalysis{}}}
		for range v1alpha1.MaxStepTemplates + 1 {
			r.Spec.Steps[0].Analysis.Templates = append(r.Spec.Steps[0].Analysis.Templates, "web")
		}
	}, goField: "spec.steps[0].analysis.templates", apiField: "spec.steps[0].analysis.templates"},
	{name: "analysis step names no analysis at all", release: func(r *v1alpha1.Release) {
		r.Spec.Analysis = &v1alpha1.Analysis{Web: &v1alpha1.WebProbe{}}
		r.Spec.Steps = []v1alpha1.Step{{Analysis: &v1alpha1.StepAnalysis{Templates: []string{"smoke"}}}}
	}, goField: "spec.steps[0].analysis.templates[0]", apiField: "spec.steps[0].analysis.templates[0]"},
	{name: "header route header", release: func(r *v1alpha1.Release) { r.Spec.HeaderRoute = &v1alpha1.HeaderRoute{Header: "X-Canary"} },
		goField: "spec.headerRoute.header", apiField: "spec.headerRoute.header"},
	{name: "cookie route cookie", release: func(r *v1alpha1.Release) { r.Spec.CookieRoutes = []v1alpha1.CookieRoute{{Cookie: "a b", Value: "1"}} },
		goField: "spec.cookieRoutes[0].cookie", apiField: "spec.cookieRoutes[0].cookie"},
	{name: "cookie route value", release: func(r *v1alpha1.Release) {
		r.Spec.CookieRoutes = []v1alpha1.CookieRoute{{Cookie: "gray", Value: "a;b"}}
	},
		goField: "spec.cookieRoutes[0].value", apiField: "spec.cookieRoutes[0].value"},
	{name: "cookie route empty value", release: func(r *v1alpha1.Release) { r.Spec.CookieRoutes = []v1alpha1.CookieRoute{{Cookie: "gray"}} },
		goField: "spec.cookieRoutes[0].value", apiField: "spec.cookieRoutes[0].value"},
	{name: "gateway mesh", release: func(r *v1alpha1.Release) { r.Spec.Gateways, r.Spec.Hosts = []string{"mesh"}, []string{"*"} },
		goField: "spec.gateways[0]", apiField: "spec.gateways[0]"},
	{name: "gateway with two slashes", release: func(r *v1alpha1.Release) { r.Spec.Gateways, r.Spec.Hosts = []string{"a/b/c"}, []string{"*"} },
		goField: "spec.gateways[0]", apiField: "spec.gateways[0]"},
	{name: "too many gateways", release: func(r *v1alpha1.Release) {
		r.Spec.Hosts = []string{"*"}
		for i := range v1alpha1.MaxGateways + 1 {
			r.Spec.Gateways = append(r.Spec.Gateways, fmt.Sprintf("istio-system/gw%d", i))
		}
	}, goField: "spec.gateways", apiField: "spec.gateways"},
	{name: "gateway name too long", release: func(r *v1alpha1.Release) {
		r.Spec.Gateways, r.Spec.Hosts = []string{"istio-system/" + strings.Repeat("g", v1alpha1.MaxGatewayName)}, []string{"*"}
	}, goField: "spec.gateways[0]", apiField: "spec.gateways[0]"},
	{name: "gateways without hosts", release: func(r *v1alpha1.Release) { r.Spec.Gateways = []string{"istio-system/gw"} },
		goField: "spec.hosts", apiField: "spec.hosts"},
	{name: "host with a port", release: func(r *v1alpha1.Release) { r.Spec.Hosts = []string{"shop.example.com:80"} },
		goField: "spec.hosts[0]", apiField: "spec.hosts[0]"},
	{name: "mesh off without gateways", release: func(r *v1alpha1.Release) { r.Spec.Mesh = new(bool) }, goField: "spec.mesh", apiField: "spec.mesh"},
	{name: "prometheus not http", release: analysis(func(a *v1alpha1.Analysis) { a.Prometheus = "ftp://prometheus:9090" }),
		goField: "spec.analysis.prometheus", apiField: "spec.analysis.prometheus"},
	{name: "prometheus without host", release: analysis(func(a *v1alpha1.Analysis) { a.Prometheus = "http:///api" }),
		goField: "spec.analysis.prometheus", apiField: "spec.analysis.prometheus"},
	{name: "prometheus not a URL", release: analysis(func(a *v1alpha1.Analysis) { a.Prometheus = "prometheus:9090" }),
		goField: "spec.analysis.prometheus", apiField: "spec.analysis.prometheus"},
	{name: "interval", release: analysis(func(a *v1alpha1.Analysis) { a.Interval = "1d" }), goField: "spec.analysis.interval", apiField: "spec.analysis.interval"},
	{name: "window", release: analysis(func(a *v1alpha1.Analysis) { a.Window = "2" }), goField: "spec.analysis.window", apiField: "spec.analysis.window"},
	{name: "count", release: analysis(func(a *v1alpha1.Analysis) { a.Count = i32(0) }), goField: "spec.analysis.count", apiField: "spec.analysis.count"},
	{name: "failureLimit", release: analysis(func(a *v1alpha1.Analysis) { a.FailureLimit = i32(-1) }),
		goField: "spec.analysis.failureLimit", apiField: "spec.analysis.failureLimit"},
	{name: "success rate above 1", release: analysis(func(a *v1alpha1.Analysis) { a.SuccessRate.Min = "1.5" }),
		goField: "spec.analysis.successRate.min", apiField: "spec.analysis.successRate.min"},
	{name: "success rate 0", release: analysis(func(a *v1alpha1.Analysis) { a.SuccessRate.Min = "0" }),
		goField: "spec.analysis.successRate.min", apiField: "spec.analysis.successRate.min"},
	{name: "success rate not a number", release: analysis(func(a *v1alpha1.Analysis) { a.SuccessRate.Min = "high" }),
		goField: "spec.analysis.successRate.min", apiField: "spec.analysis.successRate.min"},
	{name: "latency 0", release: analysis(func(a *v1alpha1.Analysis) { a.Latency = &v1alpha1.Latency{} }),
		goField: "spec.analysis.latency.maxP99Milliseconds", apiField: "spec.analysis.latency.maxP99Milliseconds"},
	{name: "request rate 0", release: analysis(func(a *v1alpha1.Analysis) { a.RequestRate = &v1alpha1.RequestRate{Min: "0"} }),
		goField: "spec.analysis.requestRate.min", apiField: "spec.analysis.requestRate.min"},
	{name: "request rate not a number", release: analysis(func(a *v1alpha1.Analysis) { a.RequestRate = &v1alpha1.RequestRate{Min: "some"} }),
		goField: "spec.analysis.requestRate.min", apiField: "spec.analysis.requestRate.min"},
	{name: "web path", release: analysis(func(a *v1alpha1.Analysis) { a.Web = &v1alpha1.WebProbe{Path: "health"} }),
		goField: "spec.analysis.web.path", apiField: "spec.analysis.web.path"},
	{name: "pdb with both numbers", release: func(r *v1alpha1.Release) {
		one := intstr.FromInt32(1)
		r.Spec.PDB = &v1alpha1.PDB{MinAvailable: &one, MaxUnavailable: &one}
	}, goField: "spec.pdb", apiField: "spec.pdb"},
	{name: "too many labels", release: func(r *v1alpha1.Release) {
		r.Spec.CanaryMetadata = &v1alpha1.PodMetadata{Labels: v1alpha1.Labels{}}
		for i := range v1alpha1.MaxLabels + 1 {
			r.Spec.CanaryMetadata.Labels[fmt.Sprintf("l%d", i)] = "x"
		}
	}, goField: "spec.canaryMetadata.labels", apiField: "spec.canaryMetadata.labels"},
	{name: "canary label key", release: func(r *v1alpha1.Release) {
		r.Spec.CanaryMetadata = &v1alpha1.PodMetadata{Labels: v1alpha1.Labels{"-version": "canary"}}
	}, goField: "spec.canaryMetadata.labels[-version]", apiField: "spec.canaryMetadata.labels"},
	{name: "canary label value", release: func(r *v1alpha1.Release) {
		r.Spec.CanaryMetadata = &v1alpha1.PodMetadata{Labels: v1alpha1.Labels{"version": "canary!"}}
	}, goField: "spec.canaryMetadata.labels[version]", goOnly: labelValues},
	{name: "stable label value", release: func(r *v1alpha1.Release) {
		r.Spec.StableMetadata = &v1alpha1.PodMetadata{Labels: v1alpha1.Labels{"version": strings.Repeat("s", 64)}}
	}, goField: "spec.stableMetadata.labels[version]", apiField: "spec.stableMetadata.labels"},
	{name: "canaryConfig with workloadRef", release: svc(func(s *v1alpha1.ReleaseService) {
		s.Image, s.WorkloadRef = "", &v1alpha1.WorkloadRef{Name: "order"}
		s.CanaryConfig = &v1alpha1.CanaryConfig{Properties: map[string]string{"a": "b"}}
	}), goField: "spec.services[0].canaryConfig", apiField: "spec.services[0].canaryConfig"},
	{name: "canaryConfig without properties", release: canary(func(c *v1alpha1.CanaryConfig) { c.Properties = nil }),
		goField: "spec.services[0].canaryConfig.properties", apiField: "spec.services[0].canaryConfig.properties"},
	{name: "canaryConfig too many properties", release: canary(func(c *v1alpha1.CanaryConfig) {
		for i := range v1alpha1.MaxCanaryProperties {
			c.Properties[fmt.Sprintf("p%d", i)] = "x"
		}
	}), goField: "spec.services[0].canaryConfig.properties", apiField: "spec.services[0].canaryConfig.properties"},
	{name: "canaryConfig property name with a space", release: canary(func(c *v1alpha1.CanaryConfig) { c.Properties["feature rate"] = "1" }),
		goField: "spec.services[0].canaryConfig.properties[feature rate]", apiField: "spec.services[0].canaryConfig.properties"},
	{name: "canaryConfig property name empty", release: canary(func(c *v1alpha1.CanaryConfig) { c.Properties[""] = "1" }),
		goField: "spec.services[0].canaryConfig.properties[]", apiField: "spec.services[0].canaryConfig.properties"},
	{name: "canaryConfig property names with one variable", release: canary(func(c *v1alpha1.CanaryConfig) { c.Properties["feature.discountrate"] = "1" }),
		goField: "spec.services[0].canaryConfig.properties[feature.discountrate]", goOnly: relaxedNames},
	{name: "canaryConfig variable set by the container", release: svc(func(s *v1alpha1.ReleaseService) {
		s.Env = []corev1.EnvVar{{Name: "FEATURE_DISCOUNTRATE", Value: "0.1"}}
		s.CanaryConfig = &v1alpha1.CanaryConfig{Properties: map[string]string{"feature.discount-rate": "0.2"}}
	}), goField: "spec.services[0].canaryConfig.properties[feature.discount-rate]", goOnly: relaxedNames},
	{name: "canaryConfig value the kubelet expands", release: canary(func(c *v1alpha1.CanaryConfig) { c.Properties["feature.discount-rate"] = "$(RATE)" }),
		goField: "spec.services[0].canaryConfig.properties[feature.discount-rate]", goOnly: envValues},
	{name: "canaryConfig unknown container", release: canary(func(c *v1alpha1.CanaryConfig) { c.Container = "sidecar" }),
		goField: "spec.services[0].canaryConfig.container", apiField: "spec.services[0].canaryConfig.container"},
	{name: "canaryConfig unknown template container", release: svc(func(s *v1alpha1.ReleaseService) {
		s.Image, s.Template = "", &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}}}}
		s.CanaryConfig = &v1alpha1.CanaryConfig{Properties: map[string]string{"a": "b"}, Container: "order"}
	}), goField: "spec.services[0].canaryConfig.container", goOnly: containers},
	{name: "canaryConfig nacos without dataId", release: canary(func(c *v1alpha1.CanaryConfig) { c.Nacos.DataID = "" }),
		goField: "spec.services[0].canaryConfig.nacos.dataId", apiField: "spec.services[0].canaryConfig.nacos.dataId"},
	{name: "canaryConfig nacos dataId without format", release: canary(func(c *v1alpha1.CanaryConfig) { c.Nacos.DataID = "order.json" }),
		goField: "spec.services[0].canaryConfig.nacos.dataId", apiField: "spec.services[0].canaryConfig.nacos.dataId"},
	{name: "canaryConfig nacos dataId characters", release: canary(func(c *v1alpha1.CanaryConfig) { c.Nacos.DataID = "order/v2.yaml" }),
		goField: "spec.services[0].canaryConfig.nacos.dataId", apiField: "spec.services[0].canaryConfig.nacos.dataId"},
	{name: "canaryConfig nacos group", release: canary(func(c *v1alpha1.CanaryConfig) { c.Nacos.Group = "my group" }),
		goField: "spec.services[0].canaryConfig.nacos.group", apiField: "spec.services[0].canaryConfig.nacos.group"},
	{name: "canaryConfig nacos namespace", release: canary(func(c *v1alpha1.CanaryConfig) { c.Nacos.Namespace = "dev/1" }),
		goField: "spec.services[0].canaryConfig.nacos.namespace", apiField: "spec.services[0].canaryConfig.nacos.namespace"},
	{name: "argocd without repoURL", release: func(r *v1alpha1.Release) { r.Spec.ArgoCD = &v1alpha1.ArgoCD{Path: "shop"} },
		goField: "spec.argocd.repoURL", apiField: "spec.argocd.repoURL"},
	{name: "argocd without path", release: func(r *v1alpha1.Release) {
		r.Spec.ArgoCD = &v1alpha1.ArgoCD{RepoURL: "https://git.example.com/shop.git"}
	},
		goField: "spec.argocd.path", apiField: "spec.argocd.path"},
}

// ruleObject builds rule i's object, named after its position.
func ruleObject(i int, r rule) client.Object {
	name := fmt.Sprintf("rule-%d", i)
	if r.lane != nil {
		l := &v1alpha1.Lane{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "rules"}, Spec: validLaneSpec()}
		r.lane(l)
		return l
	}
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "rules"}, Spec: validReleaseSpec()}
	r.release(rel)
	return rel
}

type validated interface {
	Default()
	Validate() field.ErrorList
}

// goFields defaults a copy of obj and returns the fields Validate refuses.
func goFields(obj client.Object) []string {
	v := obj.DeepCopyObject().(validated)
	v.Default()
	var out []string
	for _, e := range v.Validate() {
		if !slices.Contains(out, e.Field) {
			out = append(out, e.Field)
		}
	}
	slices.Sort(out)
	return out
}

// Each rule's object breaks that rule and no other, in Go; the base objects
// are valid.
func TestValidationRules(t *testing.T) {
	for _, base := range []client.Object{
		&v1alpha1.Lane{ObjectMeta: metav1.ObjectMeta{Name: "gray"}, Spec: validLaneSpec()},
		&v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "shop"}, Spec: validReleaseSpec()},
	} {
		if got := goFields(base); len(got) > 0 {
			t.Errorf("base %T refused at %v", base, got)
		}
	}
	names := map[string]bool{}
	for i, r := range rules {
		if names[r.name] {
			t.Errorf("rule name %q twice", r.name)
		}
		names[r.name] = true
		if (r.apiField == "") == (r.goOnly == "") {
			t.Errorf("%s: give exactly one of apiField and goOnly", r.name)
		}
		if diff := cmp.Diff([]string{r.goField}, goFields(ruleObject(i, r))); diff != "" {
			t.Errorf("%s: Validate's fields (-want +got):\n%s", r.name, diff)
		}
	}
}

// The API server refuses each rule's object where the CRD schema enforces
// the rule, at apiField, and accepts it where only Go checks it.
func testRules(ctx context.Context, t *testing.T, c client.Client) {
	ensureNamespace(ctx, t, c, "rules")
	enforced := 0
	for i, r := range rules {
		obj := ruleObject(i, r)
		err := c.Create(ctx, obj)
		switch {
		case r.apiField == "" && err != nil:
			t.Errorf("%s: only Go checks this, but the API server refused it: %v", r.name, err)
		case r.apiField == "":
		case err == nil:
			t.Errorf("%s: the API server accepted it; want an error at %s", r.name, r.apiField)
		case !slices.Contains(causeFields(err), r.apiField):
			t.Errorf("%s: the API server refused it at %v, want %s\nerror: %v", r.name, causeFields(err), r.apiField, err)
		default:
			enforced++
		}
	}
	t.Logf("%d of %d rules enforced by the CRD schema", enforced, len(rules))
}

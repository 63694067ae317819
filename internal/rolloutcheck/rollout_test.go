package rolloutcheck

import (
	"encoding/json"
	"testing"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// base is a valid canary Rollout that uses most step kinds.
const base = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order}
spec:
  replicas: 3
  selector: {matchLabels: {app: order}}
  template:
    metadata: {labels: {app: order, version: v1}}
    spec: {containers: [{name: order, image: order:v1}]}
  strategy:
    canary:
      canaryService: order-canary
      stableService: order-stable
      trafficRouting:
        managedRoutes: [{name: header}, {name: mirror}]
        istio:
          virtualService: {name: order, routes: [primary]}
      analysis:
        templates: [{templateName: success-rate}]
        startingStep: 1
      steps:
      - setWeight: 10
      - pause: {duration: 30}
      - setHeaderRoute: {name: header, match: [{headerName: x-canary, headerValue: {exact: "true"}}]}
      - setMirrorRoute: {name: mirror, match: [{method: {exact: GET}, path: {prefix: /}}]}
      - analysis:
          templates: [{templateName: success-rate}]
          args: [{name: svc, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
      - setCanaryScale: {replicas: 1}
      - pause: {}
`

func parseRollout(t *testing.T, doc string) *rollouts.Rollout {
	t.Helper()
	var ro rollouts.Rollout
	if err := yaml.UnmarshalStrict([]byte(doc), &ro); err != nil {
		t.Fatal(err)
	}
	return &ro
}

// texts renders field errors as "path: body", as the loader prints them
// after the file:line.
func texts(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field+": "+e.ErrorBody())
	}
	return out
}

func i32(n int32) *int32 { return &n }

func intOrStr(v intstr.IntOrString) *intstr.IntOrString { return &v }

func canaryOf(ro *rollouts.Rollout) *rollouts.CanaryStrategy { return ro.Spec.Strategy.Canary }

func stepOf(ro *rollouts.Rollout, i int) *rollouts.CanaryStep {
	return &ro.Spec.Strategy.Canary.Steps[i]
}

func setStep(ro *rollouts.Rollout, i int, s string) {
	var st rollouts.CanaryStep
	if err := yaml.UnmarshalStrict([]byte(s), &st); err != nil {
		panic(err)
	}
	ro.Spec.Strategy.Canary.Steps[i] = st
}

// TestRollout has, for every rule, a Rollout that keeps it and one that
// breaks it, with the exact path and message.
func TestRollout(t *testing.T) {
	tests := []struct {
		name   string
		change func(ro *rollouts.Rollout)
		want   []string
	}{
		{"valid", func(*rollouts.Rollout) {}, nil},

		// ValidateRolloutSpec
		{"replicas 0", func(ro *rollouts.Rollout) { ro.Spec.Replicas = i32(0) }, nil},
		{"negative replicas", func(ro *rollouts.Rollout) { ro.Spec.Replicas = i32(-1) },
			[]string{"spec.replicas: Invalid value: -1: must be greater than or equal to 0"}},
		{"no selector", func(ro *rollouts.Rollout) { ro.Spec.Selector = nil },
			[]string{"spec.selector: Required value: a label selector that matches spec.template.metadata.labels"}},
		{"empty selector", func(ro *rollouts.Rollout) { ro.Spec.Selector = &metav1.LabelSelector{} },
			[]string{"spec.selector: Invalid value: an empty selector selects every pod: give matchLabels"}},
		{"selector by expression", func(ro *rollouts.Rollout) {
			ro.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"order"}}}}
		}, nil},
		{"bad selector operator", func(ro *rollouts.Rollout) {
			ro.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near", Values: []string{"order"}}}}
		}, []string{`spec.selector: Invalid value: invalid label selector: "Near" is not a valid label selector operator`}},
		{"selector does not match the template", func(ro *rollouts.Rollout) { ro.Spec.Template.Labels = map[string]string{"app": "orders"} },
			[]string{`spec.template.metadata.labels: Invalid value: "app=orders": spec.selector (app=order) does not match the template's labels`}},
		{"workloadRef without selector and template", func(ro *rollouts.Rollout) {
			ro.Spec.WorkloadRef = &rollouts.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "order"}
			ro.Spec.Selector, ro.Spec.Template = nil, corev1.PodTemplateSpec{}
		}, nil},
		{"workloadRef and a template", func(ro *rollouts.Rollout) {
			ro.Spec.WorkloadRef = &rollouts.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "order"}
		}, []string{"spec.template: Invalid value: must be empty when workloadRef is set (the pod template comes from the referenced workload)"}},
		{"no containers", func(ro *rollouts.Rollout) { ro.Spec.Template.Spec.Containers = nil },
			[]string{"spec.template.spec.containers: Required value: at least one container"}},
		{"container without name and image", func(ro *rollouts.Rollout) { ro.Spec.Template.Spec.Containers = []corev1.Container{{}} },
			[]string{"spec.template.spec.containers[0].name: Required value: a container name", "spec.template.spec.containers[0].image: Required value: a container image"}},
		{"two containers with one name", func(ro *rollouts.Rollout) {
			ro.Spec.Template.Spec.Containers = append(ro.Spec.Template.Spec.Containers, corev1.Container{Name: "order", Image: "x"})
		}, []string{`spec.template.spec.containers[1].name: Duplicate value: "order"`}},
		{"container name not a DNS label", func(ro *rollouts.Rollout) { ro.Spec.Template.Spec.Containers[0].Name = "Order_1" },
			[]string{`spec.template.spec.containers[0].name: Invalid value: "Order_1": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`}},
		{"restartPolicy Always", func(ro *rollouts.Rollout) { ro.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways }, nil},
		{"restartPolicy Never", func(ro *rollouts.Rollout) { ro.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			[]string{`spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`}},
		{"activeDeadlineSeconds", func(ro *rollouts.Rollout) { ro.Spec.Template.Spec.ActiveDeadlineSeconds = new(int64) },
			[]string{"spec.template.spec.activeDeadlineSeconds: Forbidden: not supported for the pods of a ReplicaSet"}},
		{"negative minReadySeconds", func(ro *rollouts.Rollout) { ro.Spec.MinReadySeconds = -1 },
			[]string{"spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0"}},
		{"negative revisionHistoryLimit", func(ro *rollouts.Rollout) { ro.Spec.RevisionHistoryLimit = i32(-1) },
			[]string{"spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0"}},
		{"progressDeadlineSeconds above minReadySeconds", func(ro *rollouts.Rollout) {
			ro.Spec.MinReadySeconds, ro.Spec.ProgressDeadlineSeconds = 30, i32(31)
		}, nil},
		{"progressDeadlineSeconds not above minReadySeconds", func(ro *rollouts.Rollout) {
			ro.Spec.MinReadySeconds, ro.Spec.ProgressDeadlineSeconds = 30, i32(30)
		}, []string{"spec.progressDeadlineSeconds: Invalid value: 30: must be greater than minReadySeconds (30)"}},
		{"default progressDeadlineSeconds (600) below minReadySeconds", func(ro *rollouts.Rollout) { ro.Spec.MinReadySeconds = 900 },
			[]string{"spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds (900)"}},
		{"negative progressDeadlineSeconds", func(ro *rollouts.Rollout) { ro.Spec.ProgressDeadlineSeconds = i32(-1) },
			[]string{"spec.progressDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0",
				"spec.progressDeadlineSeconds: Invalid value: -1: must be greater than minReadySeconds (0)"}},

		// ValidateRolloutStrategy, ValidateRolloutStrategyBlueGreen
		{"no strategy", func(ro *rollouts.Rollout) { ro.Spec.Strategy = rollouts.RolloutStrategy{} },
			[]string{"spec.strategy: Required value: one of canary and blueGreen"}},
		{"both strategies", func(ro *rollouts.Rollout) {
			ro.Spec.Strategy.BlueGreen = &rollouts.BlueGreenStrategy{ActiveService: "a"}
		},
			[]string{"spec.strategy: Invalid value: give one of canary and blueGreen, not both"}},
		{"blueGreen", func(ro *rollouts.Rollout) {
			ro.Spec.Strategy = rollouts.RolloutStrategy{BlueGreen: &rollouts.BlueGreenStrategy{ActiveService: "active", PreviewService: "preview",
				ScaleDownDelayRevisionLimit: i32(10), PrePromotionAnalysis: &rollouts.RolloutAnalysis{Templates: []rollouts.AnalysisTemplateRef{{TemplateName: "smoke"}}}}}
		}, nil},
		{"blueGreen with one Service for both", func(ro *rollouts.Rollout) {
			ro.Spec.Strategy = rollouts.RolloutStrategy{BlueGreen: &rollouts.BlueGreenStrategy{ActiveService: "order", PreviewService: "order"}}
		}, []string{`spec.strategy.blueGreen.previewService: Invalid value: "order": must differ from activeService: blue-green needs two Services`}},
		{"blueGreen without activeService", func(ro *rollouts.Rollout) {
			ro.Spec.Strategy = rollouts.RolloutStrategy{BlueGreen: &rollouts.BlueGreenStrategy{}}
		}, []string{"spec.strategy.blueGreen.activeService: Required value: the Service that sends traffic to the active version"}},
		{"blueGreen scaleDownDelayRevisionLimit above revisionHistoryLimit", func(ro *rollouts.Rollout) {
			ro.Spec.Strategy = rollouts.RolloutStrategy{BlueGreen: &rollouts.BlueGreenStrategy{ActiveService: "a", ScaleDownDelayRevisionLimit: i32(11)}}
		}, []string{"spec.strategy.blueGreen.scaleDownDelayRevisionLimit: Invalid value: 11: must not be larger than spec.revisionHistoryLimit (10)"}},
		{"blueGreen analysis without template", func(ro *rollouts.Rollout) {
			ro.Spec.Strategy = rollouts.RolloutStrategy{BlueGreen: &rollouts.BlueGreenStrategy{ActiveService: "a", PostPromotionAnalysis: &rollouts.RolloutAnalysis{}}}
		}, []string{"spec.strategy.blueGreen.postPromotionAnalysis.templates: Required value: at least one AnalysisTemplate (an analysis without metrics ends in Error)"}},

		// ValidateRolloutStrategyAntiAffinity
		{"antiAffinity preferred", func(ro *rollouts.Rollout) {
			canaryOf(ro).AntiAffinity = &rollouts.AntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: &rollouts.PreferredDuringSchedulingIgnoredDuringExecution{Weight: 100}}
		}, nil},
		{"antiAffinity with neither", func(ro *rollouts.Rollout) { canaryOf(ro).AntiAffinity = &rollouts.AntiAffinity{} },
			[]string{"spec.strategy.canary.antiAffinity: Invalid value: give exactly one of preferredDuringSchedulingIgnoredDuringExecution and requiredDuringSchedulingIgnoredDuringExecution"}},
		{"antiAffinity weight 0", func(ro *rollouts.Rollout) {
			canaryOf(ro).AntiAffinity = &rollouts.AntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: &rollouts.PreferredDuringSchedulingIgnoredDuringExecution{}}
		}, []string{"spec.strategy.canary.antiAffinity.preferredDuringSchedulingIgnoredDuringExecution.weight: Invalid value: 0: must be between 1 and 100"}},

		// invalidMaxSurgeMaxUnavailable
		{"maxSurge 0% with maxUnavailable 1", func(ro *rollouts.Rollout) {
			canaryOf(ro).MaxSurge, canaryOf(ro).MaxUnavailable = intOrStr(intstr.FromString("0%")), intOrStr(intstr.FromInt32(1))
		}, nil},
		{"maxSurge and maxUnavailable 0", func(ro *rollouts.Rollout) {
			canaryOf(ro).MaxSurge, canaryOf(ro).MaxUnavailable = intOrStr(intstr.FromString("0%")), intOrStr(intstr.FromInt32(0))
		}, []string{`spec.strategy.canary.maxSurge: Invalid value: "0%": maxSurge and maxUnavailable cannot both be 0: no pod could be replaced`}},
		{"maxSurge not a number", func(ro *rollouts.Rollout) { canaryOf(ro).MaxSurge = intOrStr(intstr.FromString("lots")) },
			[]string{`spec.strategy.canary.maxSurge: Invalid value: "lots": must be an integer or a percentage such as 25%`}},

		// ValidateRolloutStrategyCanary: Services and traffic routing
		{"one Service for stable and canary", func(ro *rollouts.Rollout) { canaryOf(ro).CanaryService = "order-stable" },
			[]string{`spec.strategy.canary.stableService: Invalid value: "order-stable": must differ from canaryService: the canary needs two Services`}},
		{"istio host split without Services", func(ro *rollouts.Rollout) { canaryOf(ro).CanaryService, canaryOf(ro).StableService = "", "" },
			[]string{"spec.strategy.canary.stableService: Required value: trafficRouting needs both stableService and canaryService",
				"spec.strategy.canary.canaryService: Required value: trafficRouting needs both stableService and canaryService"}},
		{"istio subset split without Services", func(ro *rollouts.Rollout) {
			canaryOf(ro).CanaryService, canaryOf(ro).StableService = "", ""
			canaryOf(ro).TrafficRouting.Istio.DestinationRule = &rollouts.IstioDestinationRule{Name: "order", CanarySubsetName: "canary", StableSubsetName: "stable"}
		}, nil},
		{"destinationRule without names", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting.Istio.DestinationRule = &rollouts.IstioDestinationRule{}
		}, []string{"spec.strategy.canary.trafficRouting.istio.destinationRule.name: Required value",
			"spec.strategy.canary.trafficRouting.istio.destinationRule.canarySubsetName: Required value",
			"spec.strategy.canary.trafficRouting.istio.destinationRule.stableSubsetName: Required value"}},
		{"istio without a VirtualService", func(ro *rollouts.Rollout) { canaryOf(ro).TrafficRouting.Istio.VirtualService = nil },
			[]string{"spec.strategy.canary.trafficRouting.istio.virtualService: Required value: give virtualService or virtualServices: the VirtualService whose weights the Rollout sets"}},
		{"istio virtualServices", func(ro *rollouts.Rollout) {
			is := canaryOf(ro).TrafficRouting.Istio
			is.VirtualServices, is.VirtualService = []rollouts.IstioVirtualService{*is.VirtualService, {Name: "order-edge"}}, nil
		}, nil},
		{"istio virtualService and virtualServices", func(ro *rollouts.Rollout) {
			is := canaryOf(ro).TrafficRouting.Istio
			is.VirtualServices = []rollouts.IstioVirtualService{{}}
		}, []string{"spec.strategy.canary.trafficRouting.istio.virtualServices: Invalid value: give virtualService or virtualServices, not both",
			"spec.strategy.canary.trafficRouting.istio.virtualServices[0].name: Required value: the VirtualService's name"}},
		{"virtualService without name", func(ro *rollouts.Rollout) { canaryOf(ro).TrafficRouting.Istio.VirtualService.Name = "" },
			[]string{"spec.strategy.canary.trafficRouting.istio.virtualService.name: Required value: the VirtualService's name"}},
		{"nginx with stableIngresses", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting = &rollouts.RolloutTrafficRouting{Nginx: &rollouts.NginxTrafficRouting{StableIngresses: []string{"a"}}}
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[:2]
		}, nil},
		{"nginx with both ingress fields", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting = &rollouts.RolloutTrafficRouting{Nginx: &rollouts.NginxTrafficRouting{StableIngress: "a", StableIngresses: []string{"a"}}}
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[:2]
		}, []string{"spec.strategy.canary.trafficRouting.nginx: Invalid value: give exactly one of stableIngress and stableIngresses"}},
		{"alb without ingress", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting = &rollouts.RolloutTrafficRouting{ALB: &rollouts.ALBTrafficRouting{}}
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[:2]
		}, []string{"spec.strategy.canary.trafficRouting.alb: Invalid value: give exactly one of ingress and ingresses"}},
		{"managedRoutes entry without name", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting.ManagedRoutes = append(canaryOf(ro).TrafficRouting.ManagedRoutes, rollouts.MangedRoutes{})
		}, []string{"spec.strategy.canary.trafficRouting.managedRoutes[2].name: Required value"}},
		{"scaleDownDelaySeconds with trafficRouting", func(ro *rollouts.Rollout) { canaryOf(ro).ScaleDownDelaySeconds = i32(30) }, nil},
		{"scaleDownDelaySeconds and dynamicStableScale without trafficRouting", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting, canaryOf(ro).ScaleDownDelaySeconds, canaryOf(ro).DynamicStableScale = nil, i32(30), true
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[:2]
		}, []string{"spec.strategy.canary.scaleDownDelaySeconds: Invalid value: 30: can only be used with trafficRouting",
			"spec.strategy.canary.dynamicStableScale: Invalid value: true: can only be used with trafficRouting"}},
		{"scaleDownDelaySeconds with dynamicStableScale", func(ro *rollouts.Rollout) {
			canaryOf(ro).ScaleDownDelaySeconds, canaryOf(ro).DynamicStableScale = i32(30), true
		}, []string{"spec.strategy.canary.dynamicStableScale: Invalid value: true: cannot be used with scaleDownDelaySeconds"}},
		{"maxTrafficWeight with istio", func(ro *rollouts.Rollout) { canaryOf(ro).TrafficRouting.MaxTrafficWeight = i32(1000) },
			[]string{"spec.strategy.canary.trafficRouting.maxTrafficWeight: Invalid value: 1000: only the nginx and plugin traffic routers support it"}},
		{"pingPong", func(ro *rollouts.Rollout) {
			canaryOf(ro).PingPong = &rollouts.PingPongSpec{PingService: "ping", PongService: "pong"}
			canaryOf(ro).CanaryService, canaryOf(ro).StableService = "", ""
		}, nil},
		{"pingPong without Services", func(ro *rollouts.Rollout) {
			canaryOf(ro).PingPong = &rollouts.PingPongSpec{}
			canaryOf(ro).CanaryService, canaryOf(ro).StableService = "", ""
		}, []string{"spec.strategy.canary.pingPong.pingService: Required value: pingPong needs pingService and pongService",
			"spec.strategy.canary.pingPong.pongService: Required value: pingPong needs pingService and pongService"}},
		{"pingPong with one Service and another router", func(ro *rollouts.Rollout) {
			canaryOf(ro).PingPong = &rollouts.PingPongSpec{PingService: "p", PongService: "p"}
			canaryOf(ro).TrafficRouting = &rollouts.RolloutTrafficRouting{SMI: &rollouts.SMITrafficRouting{}}
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[:2]
		}, []string{"spec.strategy.canary.pingPong: Invalid value: works with the alb and istio traffic routers only",
			`spec.strategy.canary.pingPong.pongService: Invalid value: "p": must differ from pingService`}},
		{"pingPong with alb and no rootService", func(ro *rollouts.Rollout) {
			canaryOf(ro).PingPong = &rollouts.PingPongSpec{PingService: "ping", PongService: "pong"}
			canaryOf(ro).TrafficRouting = &rollouts.RolloutTrafficRouting{ALB: &rollouts.ALBTrafficRouting{Ingress: "i"}}
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[:2]
		}, []string{"spec.strategy.canary.trafficRouting.alb.rootService: Required value: pingPong with alb needs the root Service"}},

		// The step loop of ValidateRolloutStrategyCanary
		{"weights 0 and 100", func(ro *rollouts.Rollout) { stepOf(ro, 0).SetWeight = i32(0); setStep(ro, 1, "setWeight: 100") }, nil},
		{"setWeight 150", func(ro *rollouts.Rollout) { stepOf(ro, 0).SetWeight = i32(150) },
			[]string{"spec.strategy.canary.steps[0].setWeight: Invalid value: 150: must be between 0 and 100"}},
		{"negative setWeight", func(ro *rollouts.Rollout) { stepOf(ro, 0).SetWeight = i32(-1) },
			[]string{"spec.strategy.canary.steps[0].setWeight: Invalid value: -1: must be between 0 and 100"}},
		{"setWeight up to nginx's maxTrafficWeight", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting = &rollouts.RolloutTrafficRouting{Nginx: &rollouts.NginxTrafficRouting{StableIngress: "a"}, MaxTrafficWeight: i32(1000)}
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[:2]
			stepOf(ro, 0).SetWeight = i32(150)
		}, nil},
		{"setWeight above nginx's maxTrafficWeight", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting = &rollouts.RolloutTrafficRouting{Nginx: &rollouts.NginxTrafficRouting{StableIngress: "a"}, MaxTrafficWeight: i32(1000)}
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[:2]
			stepOf(ro, 0).SetWeight = i32(1001)
		}, []string{"spec.strategy.canary.steps[0].setWeight: Invalid value: 1001: must be between 0 and 1000"}},
		{"pause durations Argo reads", func(ro *rollouts.Rollout) {
			for i, d := range []string{"pause: {duration: 45}", "pause: {duration: '45'}", "pause: {duration: 5m}", "pause: {duration: 1h30m}", "pause: {duration: 500ms}"} {
				ro.Spec.Strategy.Canary.Steps = append(ro.Spec.Strategy.Canary.Steps, rollouts.CanaryStep{})
				setStep(ro, 7+i, d)
			}
		}, nil},
		{"pause duration abc", func(ro *rollouts.Rollout) { setStep(ro, 1, "pause: {duration: abc}") },
			[]string{`spec.strategy.canary.steps[1].pause.duration: Invalid value: "abc": must be a number of seconds or a duration such as 30s, 5m or 1h`}},
		{"pause duration 1d", func(ro *rollouts.Rollout) { setStep(ro, 1, "pause: {duration: 1d}") },
			[]string{`spec.strategy.canary.steps[1].pause.duration: Invalid value: "1d": must be a number of seconds or a duration such as 30s, 5m or 1h`}},
		{"negative pause durations", func(ro *rollouts.Rollout) {
			setStep(ro, 1, "pause: {duration: -5}")
			setStep(ro, 6, "pause: {duration: -5s}")
		},
			[]string{`spec.strategy.canary.steps[1].pause.duration: Invalid value: "-5": must not be negative`,
				`spec.strategy.canary.steps[6].pause.duration: Invalid value: "-5s": must not be negative`}},
		{"empty step", func(ro *rollouts.Rollout) { setStep(ro, 0, "{}") },
			[]string{"spec.strategy.canary.steps[0]: Required value: one of setWeight, pause, analysis, setCanaryScale, setHeaderRoute, setMirrorRoute, experiment, plugin"}},
		{"setWeight and pause in one step", func(ro *rollouts.Rollout) { stepOf(ro, 0).Pause = &rollouts.RolloutPause{} },
			[]string{"spec.strategy.canary.steps[0]: Invalid value: a step has one of setWeight, pause, experiment and analysis, not setWeight and pause"}},
		{"setCanaryScale with setWeight (Argo allows)", func(ro *rollouts.Rollout) { stepOf(ro, 0).SetCanaryScale = &rollouts.SetCanaryScale{Replicas: i32(1)} }, nil},
		{"setCanaryScale without trafficRouting", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting = nil
			ro.Spec.Strategy.Canary.Steps = []rollouts.CanaryStep{{SetCanaryScale: &rollouts.SetCanaryScale{Replicas: i32(1)}}}
		}, []string{"spec.strategy.canary.steps[0].setCanaryScale: Invalid value: needs spec.strategy.canary.trafficRouting (without it the replica count is the traffic split)"}},
		{"setHeaderRoute without trafficRouting", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting = nil
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[2:3]
		}, []string{"spec.strategy.canary.steps[0].setHeaderRoute: Invalid value: needs trafficRouting with istio, alb, apisix or a plugin"}},
		{"setHeaderRoute without managedRoutes", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting.ManagedRoutes = nil
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[2:3]
		}, []string{`spec.strategy.canary.trafficRouting.managedRoutes: Required value: spec.strategy.canary.steps[0].setHeaderRoute names route "header", which must be listed in managedRoutes`}},
		{"setHeaderRoute not in managedRoutes", func(ro *rollouts.Rollout) { stepOf(ro, 2).SetHeaderRoute.Name = "canary-header" },
			[]string{`spec.strategy.canary.steps[2].setHeaderRoute.name: Invalid value: "canary-header": not in spec.strategy.canary.trafficRouting.managedRoutes ("header", "mirror")`}},
		{"setHeaderRoute match by prefix and regex", func(ro *rollouts.Rollout) {
			setStep(ro, 2, `setHeaderRoute: {name: header, match: [{headerName: a, headerValue: {prefix: x}}, {headerName: b, headerValue: {regex: "y.*"}}]}`)
		}, nil},
		{"setHeaderRoute match with two values, none, no name", func(ro *rollouts.Rollout) {
			setStep(ro, 2, `setHeaderRoute: {name: header, match: [{headerName: a, headerValue: {exact: x, prefix: x}}, {headerName: b, headerValue: {}}, {headerValue: {exact: x}}]}`)
		}, []string{"spec.strategy.canary.steps[2].setHeaderRoute.match[0].headerValue: Invalid value: give one of exact, prefix and regex, not exact and prefix",
			"spec.strategy.canary.steps[2].setHeaderRoute.match[1].headerValue: Required value: one of exact, prefix, regex",
			"spec.strategy.canary.steps[2].setHeaderRoute.match[2].headerName: Required value"}},
		{"setHeaderRoute with alb matches exactly only", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting.Istio, canaryOf(ro).TrafficRouting.ALB = nil, &rollouts.ALBTrafficRouting{Ingress: "i"}
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[:3]
			setStep(ro, 2, `setHeaderRoute: {name: header, match: [{headerName: a, headerValue: {exact: x}}, {headerName: b, headerValue: {prefix: x}}]}`)
		}, []string{"spec.strategy.canary.steps[2].setHeaderRoute.match[1].headerValue: Invalid value: the alb router matches headers by exact value only"}},
		{"setMirrorRoute without istio", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting.Istio, canaryOf(ro).TrafficRouting.Apisix = nil, &rollouts.ApisixTrafficRouting{}
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[3:4]
		}, []string{"spec.strategy.canary.steps[0].setMirrorRoute: Invalid value: needs trafficRouting.istio (only the Istio router mirrors)"}},
		{"setMirrorRoute match with two values", func(ro *rollouts.Rollout) {
			setStep(ro, 3, `setMirrorRoute: {name: mirror, match: [{method: {exact: GET, regex: G.*}}]}`)
		}, []string{"spec.strategy.canary.steps[3].setMirrorRoute.match[0].method: Invalid value: give one of exact, prefix and regex, not exact and regex"}},
		{"setMirrorRoute not in managedRoutes", func(ro *rollouts.Rollout) { stepOf(ro, 3).SetMirrorRoute.Name = "m" },
			[]string{`spec.strategy.canary.steps[3].setMirrorRoute.name: Invalid value: "m": not in spec.strategy.canary.trafficRouting.managedRoutes ("header", "mirror")`}},
		{"experiment with a weight and istio", func(ro *rollouts.Rollout) {
			setStep(ro, 6, `experiment: {templates: [{name: baseline, specRef: stable, weight: 5}], analyses: [{name: a, templateName: t}]}`)
		}, nil},
		{"experiment weight without trafficRouting", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting = nil
			ro.Spec.Strategy.Canary.Steps = []rollouts.CanaryStep{{}}
			setStep(ro, 0, `experiment: {templates: [{name: baseline, specRef: stable, weight: 5}]}`)
		}, []string{"spec.strategy.canary.steps[0].experiment.templates[0].weight: Invalid value: 5: needs spec.strategy.canary.trafficRouting"}},
		{"experiment weight with nginx", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting = &rollouts.RolloutTrafficRouting{Nginx: &rollouts.NginxTrafficRouting{StableIngress: "a"}}
			ro.Spec.Strategy.Canary.Steps = []rollouts.CanaryStep{{}}
			setStep(ro, 0, `experiment: {templates: [{name: baseline, specRef: stable, weight: 5}]}`)
		}, []string{"spec.strategy.canary.steps[0].experiment.templates[0].weight: Invalid value: 5: needs trafficRouting with smi, alb, istio or a plugin"}},
		{"experiment template and analysis without names", func(ro *rollouts.Rollout) {
			setStep(ro, 6, `experiment: {templates: [{specRef: stable}], analyses: [{args: [{value: x}]}]}`)
		}, []string{"spec.strategy.canary.steps[6].experiment.templates[0].name: Required value",
			"spec.strategy.canary.steps[6].experiment.analyses[0].name: Required value",
			"spec.strategy.canary.steps[6].experiment.analyses[0].templateName: Required value: the AnalysisTemplate to run",
			"spec.strategy.canary.steps[6].experiment.analyses[0].args[0].name: Required value"}},

		// Analysis references
		{"analysis without templates", func(ro *rollouts.Rollout) { stepOf(ro, 4).Analysis.Templates = nil },
			[]string{"spec.strategy.canary.steps[4].analysis.templates: Required value: at least one AnalysisTemplate (an analysis without metrics ends in Error)"}},
		{"analysis template without name", func(ro *rollouts.Rollout) { canaryOf(ro).Analysis.Templates[0].TemplateName = "" },
			[]string{"spec.strategy.canary.analysis.templates[0].templateName: Required value: the AnalysisTemplate (or, with clusterScope: true, ClusterAnalysisTemplate) to run"}},
		{"analysis argument without name", func(ro *rollouts.Rollout) { stepOf(ro, 4).Analysis.Args[0].Name = "" },
			[]string{"spec.strategy.canary.steps[4].analysis.args[0].name: Required value"}},
		{"analysis arguments from metadata", func(ro *rollouts.Rollout) {
			for _, fp := range []string{"metadata.namespace", "metadata.uid", "metadata.labels", "metadata.labels['app']", "metadata.annotations['example.com/team']"} {
				stepOf(ro, 4).Analysis.Args = append(stepOf(ro, 4).Analysis.Args, rollouts.AnalysisRunArgument{Name: fp,
					ValueFrom: &rollouts.ArgumentValueFrom{FieldRef: &rollouts.FieldRef{FieldPath: fp}}})
			}
		}, nil},
		{"analysis arguments from unsupported metadata", func(ro *rollouts.Rollout) {
			stepOf(ro, 4).Analysis.Args[0].ValueFrom.FieldRef.FieldPath = "metadata.generation"
			stepOf(ro, 4).Analysis.Args = append(stepOf(ro, 4).Analysis.Args, rollouts.AnalysisRunArgument{Name: "b",
				ValueFrom: &rollouts.ArgumentValueFrom{FieldRef: &rollouts.FieldRef{FieldPath: "metadata.name['x']"}}})
		}, []string{`spec.strategy.canary.steps[4].analysis.args[0].valueFrom.fieldRef.fieldPath: Invalid value: "metadata.generation": not a Rollout metadata field the downward API reads; supported: metadata.name, metadata.namespace, metadata.uid, metadata.labels, metadata.annotations, metadata.labels['KEY'], metadata.annotations['KEY']`,
			`spec.strategy.canary.steps[4].analysis.args[1].valueFrom.fieldRef.fieldPath: Invalid value: "metadata.name['x']": this field does not take a ['KEY'] subscript; supported: metadata.name, metadata.namespace, metadata.uid, metadata.labels, metadata.annotations, metadata.labels['KEY'], metadata.annotations['KEY']`}},
		{"analysis argument from the spec (Argo resolves it when it runs)", func(ro *rollouts.Rollout) {
			stepOf(ro, 4).Analysis.Args[0].ValueFrom.FieldRef.FieldPath = "spec.template.metadata.labels.app"
		}, nil},
		{"dryRun and measurementRetention rules", func(ro *rollouts.Rollout) {
			canaryOf(ro).Analysis.DryRun = []rollouts.DryRun{{MetricName: "latency"}, {MetricName: "error-.*"}}
			canaryOf(ro).Analysis.MeasurementRetention = []rollouts.MeasurementRetention{{MetricName: ".*", Limit: 20}}
		}, nil},
		{"dryRun rules twice, bad expression, no name", func(ro *rollouts.Rollout) {
			canaryOf(ro).Analysis.DryRun = []rollouts.DryRun{{MetricName: "latency"}, {MetricName: "latency"}, {MetricName: "*"}}
			canaryOf(ro).Analysis.MeasurementRetention = []rollouts.MeasurementRetention{{}}
		}, []string{`spec.strategy.canary.analysis.dryRun[1].metricName: Duplicate value: "latency"`,
			"spec.strategy.canary.analysis.dryRun[2].metricName: Invalid value: \"*\": not a regular expression: error parsing regexp: missing argument to repetition operator: `*`",
			`spec.strategy.canary.analysis.measurementRetention[0].metricName: Required value: a metric name, or a regular expression over metric names such as ".*"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ro := parseRollout(t, base)
			tc.change(ro)
			if diff := cmp.Diff(tc.want, texts(Rollout(ro))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestRolloutDoesNotChangeIt: validation reads the Rollout only.
func TestRolloutDoesNotChangeIt(t *testing.T) {
	ro := parseRollout(t, base)
	before, _ := json.Marshal(ro)
	Rollout(ro)
	after, _ := json.Marshal(ro)
	if string(before) != string(after) {
		t.Errorf("Rollout changed its input:\n%s\n%s", before, after)
	}
}

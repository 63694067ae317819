package rolloutcheck

import (
	"encoding/json"
	"testing"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
)

func TestNotRunLocally(t *testing.T) {
	tests := []struct {
		name   string
		change func(ro *rollouts.Rollout)
		want   []string // "path: message; hint"
	}{
		{"istio canary with header routes, analysis and canary scale", func(*rollouts.Rollout) {}, []string{
			"spec.strategy.canary.steps[3].setMirrorRoute: a setMirrorRoute step is not run by graylane up (runs on a cluster); send a share with setWeight, or a header with setHeaderRoute",
		}},
		{"basic canary", func(ro *rollouts.Rollout) {
			canaryOf(ro).TrafficRouting = nil
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[:2]
		}, nil},
		{"workloadRef and blueGreen", func(ro *rollouts.Rollout) {
			ro.Spec.WorkloadRef = &rollouts.ObjectRef{Kind: "Deployment", Name: "order"}
			ro.Spec.Strategy = rollouts.RolloutStrategy{BlueGreen: &rollouts.BlueGreenStrategy{ActiveService: "a"}}
		}, []string{
			"spec.workloadRef: workloadRef (a pod template taken from another workload) is not run by graylane up (runs on a cluster); put the pod template in spec.template",
			"spec.strategy.blueGreen: the blueGreen strategy is not run by graylane up (runs on a cluster); use the canary strategy",
		}},
		{"pingPong and other routers", func(ro *rollouts.Rollout) {
			canaryOf(ro).PingPong = &rollouts.PingPongSpec{PingService: "a", PongService: "b"}
			canaryOf(ro).TrafficRouting = &rollouts.RolloutTrafficRouting{Nginx: &rollouts.NginxTrafficRouting{}, SMI: &rollouts.SMITrafficRouting{},
				Plugins: map[string]json.RawMessage{"x": nil}}
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[:2]
		}, []string{
			"spec.strategy.canary.pingPong: pingPong (stable and canary swapping Services) is not run by graylane up (runs on a cluster); use stableService and canaryService",
			"spec.strategy.canary.trafficRouting.nginx: the nginx traffic router is not run by graylane up (runs on a cluster); route with trafficRouting.istio",
			"spec.strategy.canary.trafficRouting.smi: the smi traffic router is not run by graylane up (runs on a cluster); route with trafficRouting.istio",
			"spec.strategy.canary.trafficRouting.plugins: the plugins traffic router is not run by graylane up (runs on a cluster); route with trafficRouting.istio",
		}},
		{"TLS and TCP routes, a VirtualService in another namespace", func(ro *rollouts.Rollout) {
			is := canaryOf(ro).TrafficRouting.Istio
			is.VirtualService = nil
			is.VirtualServices = []rollouts.IstioVirtualService{{Name: "order", Routes: []string{"primary"}},
				{Name: "edge.istio-system", TLSRoutes: []rollouts.TLSRoute{{Port: 443}}, TCPRoutes: []rollouts.TCPRoute{{Port: 9000}}}}
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[:2]
		}, []string{
			"spec.strategy.canary.trafficRouting.istio.virtualServices[1].tlsRoutes: weighting TLS routes is not run by graylane up (runs on a cluster); split HTTP routes (routes)",
			"spec.strategy.canary.trafficRouting.istio.virtualServices[1].tcpRoutes: weighting TCP routes is not run by graylane up (runs on a cluster); split HTTP routes (routes)",
			"spec.strategy.canary.trafficRouting.istio.virtualServices[1].name: a VirtualService named as NAME.NAMESPACE is not run by graylane up (runs on a cluster); give the name of a VirtualService in the Rollout's namespace",
		}},
		{"experiment and plugin steps", func(ro *rollouts.Rollout) {
			setStep(ro, 0, "experiment: {templates: [{name: baseline, specRef: stable}]}")
			setStep(ro, 1, "plugin: {name: example.com/step}")
		}, []string{
			"spec.strategy.canary.steps[0].experiment: an experiment step is not run by graylane up (runs on a cluster); compare versions with an analysis step",
			"spec.strategy.canary.steps[1].plugin: a plugin step is not run by graylane up (runs on a cluster); remove the step",
			"spec.strategy.canary.steps[3].setMirrorRoute: a setMirrorRoute step is not run by graylane up (runs on a cluster); send a share with setWeight, or a header with setHeaderRoute",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ro := parseRollout(t, base)
			tc.change(ro)
			var got []string
			for _, g := range NotRunLocally(ro) {
				got = append(got, g.Path+": "+g.Message()+"; "+g.Hint)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

package rolloutcheck

import (
	"strings"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Gap is an Argo Rollouts feature a Rollout uses that the embedded runtime
// (`graylane up`) does not run. Argo Rollouts runs it on a cluster.
type Gap struct {
	// Path is the field that uses the feature, such as spec.strategy.blueGreen.
	Path string
	// Feature names it ("the blueGreen strategy").
	Feature string
	// Hint says what to do to run the Rollout locally.
	Hint string
}

// Message is the text every command shows for the gap.
func (g Gap) Message() string {
	return g.Feature + " is not run by graylane up (runs on a cluster)"
}

// NotRunLocally lists the features of ro the embedded runtime does not run,
// in field order. The runtime refuses such a Rollout; `graylane lint`
// reports each as information.
func NotRunLocally(ro *rollouts.Rollout) []Gap {
	spec := field.NewPath("spec")
	var out []Gap
	add := func(p *field.Path, feature, hint string) {
		out = append(out, Gap{Path: p.String(), Feature: feature, Hint: hint})
	}
	if ro.Spec.WorkloadRef != nil {
		add(spec.Child("workloadRef"), "workloadRef (a pod template taken from another workload)", "put the pod template in spec.template")
	}
	s := ro.Spec.Strategy
	sp := spec.Child("strategy")
	if s.BlueGreen != nil {
		add(sp.Child("blueGreen"), "the blueGreen strategy", "use the canary strategy")
	}
	c := s.Canary
	if c == nil {
		return out
	}
	cp := sp.Child("canary")
	if c.PingPong != nil {
		add(cp.Child("pingPong"), "pingPong (stable and canary swapping Services)", "use stableService and canaryService")
	}
	if tr := c.TrafficRouting; tr != nil {
		tp := cp.Child("trafficRouting")
		for _, r := range otherRouters(tr) {
			add(tp.Child(r), "the "+r+" traffic router", "route with trafficRouting.istio")
		}
		if is := tr.Istio; is != nil {
			vss, vp := is.VirtualServices, tp.Child("istio", "virtualServices")
			if is.VirtualService != nil {
				vss, vp = []rollouts.IstioVirtualService{*is.VirtualService}, nil
			}
			for i, vs := range vss {
				p := tp.Child("istio", "virtualService")
				if vp != nil {
					p = vp.Index(i)
				}
				if len(vs.TLSRoutes) > 0 {
					add(p.Child("tlsRoutes"), "weighting TLS routes", "split HTTP routes (routes)")
				}
				if len(vs.TCPRoutes) > 0 {
					add(p.Child("tcpRoutes"), "weighting TCP routes", "split HTTP routes (routes)")
				}
				if strings.Contains(vs.Name, ".") {
					add(p.Child("name"), "a VirtualService named as NAME.NAMESPACE", "give the name of a VirtualService in the Rollout's namespace")
				}
			}
		}
	}
	for i, st := range c.Steps {
		p := cp.Child("steps").Index(i)
		switch {
		case st.Experiment != nil:
			add(p.Child("experiment"), "an experiment step", "compare versions with an analysis step")
		case st.Plugin != nil:
			add(p.Child("plugin"), "a plugin step", "remove the step")
		case st.SetMirrorRoute != nil:
			add(p.Child("setMirrorRoute"), "a setMirrorRoute step", "send a share with setWeight, or a header with setHeaderRoute")
		}
	}
	return out
}

// otherRouters names the traffic routers other than Istio that tr sets.
func otherRouters(tr *rollouts.RolloutTrafficRouting) []string {
	var out []string
	for _, r := range []struct {
		name string
		set  bool
	}{
		{"nginx", tr.Nginx != nil}, {"alb", tr.ALB != nil}, {"smi", tr.SMI != nil}, {"ambassador", tr.Ambassador != nil},
		{"appMesh", tr.AppMesh != nil}, {"traefik", tr.Traefik != nil}, {"apisix", tr.Apisix != nil}, {"plugins", len(tr.Plugins) > 0},
	} {
		if r.set {
			out = append(out, r.name)
		}
	}
	return out
}

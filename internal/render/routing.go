package render

import (
	"maps"
	"regexp"

	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/route"
)

const istioAPIVersion = "networking.istio.io/v1"

// stableName and canaryName are the Services of the "services" layout.
func stableName(app string) string { return app + "-stable" }
func canaryName(app string) string { return app + "-canary" }

// services returns the callers' Service and, in the services layout, the
// stable and canary Services Argo Rollouts pins to one version each (it
// adds rollouts-pod-template-hash to their selectors): NAME-canary reaches
// the canary pods directly (the web probe uses it).
func services(u *unit, layout string) []Object {
	main := u.service
	if main == nil {
		main = &corev1.Service{
			ObjectMeta: objectMeta(u.name, u.namespace, objLabels(u.name)),
			Spec:       corev1.ServiceSpec{Selector: maps.Clone(u.selector), Ports: u.ports},
		}
	}
	main = main.DeepCopy()
	main.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	out := []Object{{"v1", "Service", u.namespace, main.Name, main}}
	if layout != v1alpha1.LayoutServices {
		return out
	}
	for _, name := range []string{stableName(u.name), canaryName(u.name)} {
		s := &corev1.Service{
			TypeMeta:   main.TypeMeta,
			ObjectMeta: objectMeta(name, u.namespace, objLabels(u.name)),
			Spec:       corev1.ServiceSpec{Selector: maps.Clone(main.Spec.Selector), Ports: servicePorts(main.Spec.Ports)},
		}
		out = append(out, Object{"v1", "Service", u.namespace, name, s})
	}
	return out
}

// servicePorts copies ports without node ports (a stable/canary Service is
// ClusterIP whatever the callers' Service is).
func servicePorts(in []corev1.ServicePort) []corev1.ServicePort {
	out := make([]corev1.ServicePort, len(in))
	for i, p := range in {
		p.NodePort = 0
		out[i] = p
	}
	return out
}

// destinationRule has the subsets stable and canary; Argo Rollouts adds
// rollouts-pod-template-hash to their labels.
func destinationRule(u *unit) Object {
	dr := &networkingv1.DestinationRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: istioAPIVersion, Kind: "DestinationRule"},
		ObjectMeta: objectMeta(u.name, u.namespace, objLabels(u.name)),
	}
	dr.Spec.Host = u.host()
	dr.Spec.Subsets = []*networking.Subset{
		{Name: StableSubset, Labels: maps.Clone(u.selector)},
		{Name: CanarySubset, Labels: maps.Clone(u.selector)},
	}
	return Object{istioAPIVersion, "DestinationRule", u.namespace, u.name, dr}
}

// host is the name callers use: the callers' Service.
func (u *unit) host() string {
	if u.service != nil {
		return u.service.Name
	}
	return u.name
}

// virtualService routes header and cookie matches to the canary, then
// splits the rest by weight (the route Argo Rollouts owns, "primary").
func virtualService(u *unit, spec *v1alpha1.ReleaseSpec) Object {
	vs := &networkingv1.VirtualService{
		TypeMeta:   metav1.TypeMeta{APIVersion: istioAPIVersion, Kind: "VirtualService"},
		ObjectMeta: objectMeta(u.name, u.namespace, objLabels(u.name)),
	}
	vs.Spec.Hosts = []string{u.host()}
	if len(spec.Gateways) > 0 {
		vs.Spec.Hosts = append(vs.Spec.Hosts, spec.Hosts...)
		vs.Spec.Gateways = append([]string(nil), spec.Gateways...)
		if spec.IsMesh() {
			vs.Spec.Gateways = append(vs.Spec.Gateways, "mesh")
		}
	}
	stable, canary := u.destination(StableSubset), u.destination(CanarySubset)
	if h := spec.HeaderRoute; h != nil && !h.Disabled {
		vs.Spec.Http = append(vs.Spec.Http, &networking.HTTPRoute{
			Name: HeaderRoute,
			Match: []*networking.HTTPMatchRequest{{Headers: map[string]*networking.StringMatch{
				h.Header: {MatchType: &networking.StringMatch_Exact{Exact: h.Value}},
			}}},
			Route: []*networking.HTTPRouteDestination{{Destination: canary()}},
		})
	}
	for _, c := range spec.CookieRoutes {
		vs.Spec.Http = append(vs.Spec.Http, &networking.HTTPRoute{
			Name: "canary-cookie-" + c.Cookie,
			Match: []*networking.HTTPMatchRequest{{Headers: map[string]*networking.StringMatch{
				"cookie": {MatchType: &networking.StringMatch_Regex{Regex: route.CookieRegex(c.Cookie, regexp.QuoteMeta(c.Value))}},
			}}},
			Route: []*networking.HTTPRouteDestination{{Destination: canary()}},
		})
	}
	vs.Spec.Http = append(vs.Spec.Http, &networking.HTTPRoute{
		Name: PrimaryRoute,
		Route: []*networking.HTTPRouteDestination{
			{Destination: stable(), Weight: 100},
			{Destination: canary(), Weight: 0},
		},
	})
	return Object{istioAPIVersion, "VirtualService", u.namespace, u.name, vs}
}

// destination returns a constructor of the stable or canary destination:
// a subset of the callers' host (both layouts route by subset).
func (u *unit) destination(version string) func() *networking.Destination {
	return func() *networking.Destination {
		d := &networking.Destination{Host: u.host(), Subset: version}
		if len(u.ports) > 1 {
			d.Port = &networking.PortSelector{Number: uint32(u.ports[0].Port)}
		}
		return d
	}
}

// podDisruptionBudget covers stable and canary pods alike.
func podDisruptionBudget(u *unit, p *v1alpha1.PDB) *Object {
	if p == nil || p.Disabled {
		return nil
	}
	pdb := &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(u.name, u.namespace, objLabels(u.name)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: maps.Clone(u.selector)},
			MinAvailable:   p.MinAvailable,
			MaxUnavailable: p.MaxUnavailable,
		},
	}
	return &Object{"policy/v1", "PodDisruptionBudget", u.namespace, u.name, pdb}
}

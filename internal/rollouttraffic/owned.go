// Package rollouttraffic is what the Argo Rollouts controller (v1.8.3,
// trafficRouting.istio) writes on the mesh objects of a canary Rollout, as
// pure functions on typed objects: which VirtualService routes and
// DestinationRule subsets it owns, the weights it sets on the stable and
// canary destinations, the setHeaderRoute routes it inserts above the
// user's, the rollouts-pod-template-hash it adds to the subsets and to the
// stableService/canaryService selectors, and what all of these are at a
// given status.currentStepIndex. No I/O. The embedded runtime applies it
// to its routing, `graylane apply` keeps the fields it names, `graylane
// render` tells Argo CD to ignore them, and `graylane route`/`simulate
// --rollout-step` answer with it.
package rollouttraffic

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// PodTemplateHashLabel is the label Argo Rollouts puts on the pods of each
// ReplicaSet and adds to the DestinationRule subsets and the
// stable/canary Service selectors it manages.
const PodTemplateHashLabel = rolloutsv1alpha1.DefaultRolloutUniqueLabelKey

// TemplateHash identifies a pod template, as the pod-template-hash label
// does: the embedded runtime labels a template's pods with it, and
// --rollout-step names the canary with it.
func TemplateHash(t *corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(t) // a PodTemplateSpec always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}

// VirtualServiceRef is one VirtualService a Rollout names in
// trafficRouting.istio, with the HTTP routes whose weights it sets
// (empty: the only route, or else the first unnamed one).
type VirtualServiceRef struct {
	types.NamespacedName
	Routes []string
	// Spec is the entry as the Rollout writes it (tlsRoutes, tcpRoutes).
	Spec rolloutsv1alpha1.IstioVirtualService
}

// Owned is what the Argo Rollouts controller writes for one Rollout.
type Owned struct {
	VirtualServices []VirtualServiceRef
	// DestinationRule is nil for host-level traffic splitting.
	DestinationRule *types.NamespacedName
	// Subsets are the canary and stable subset names of the
	// DestinationRule, in that order.
	Subsets []string
	// Services are the stableService and canaryService that are set; the
	// controller adds the pod-template-hash to their selectors.
	Services []types.NamespacedName
	// ManagedRoutes are trafficRouting.managedRoutes: the HTTP routes the
	// controller inserts (setHeaderRoute, setMirrorRoute) and removes.
	ManagedRoutes []string
}

// OwnedBy lists what the Argo Rollouts controller writes for a Rollout in
// namespace ns (nil for a Rollout that is not a canary).
func OwnedBy(ro *rolloutsv1alpha1.Rollout, ns string) *Owned {
	c := ro.Spec.Strategy.Canary
	if c == nil {
		return nil
	}
	o := &Owned{}
	for _, name := range []string{c.StableService, c.CanaryService} {
		if name != "" {
			o.Services = append(o.Services, types.NamespacedName{Namespace: ns, Name: name})
		}
	}
	if c.TrafficRouting == nil {
		return o
	}
	for _, m := range c.TrafficRouting.ManagedRoutes {
		o.ManagedRoutes = append(o.ManagedRoutes, m.Name)
	}
	istio := c.TrafficRouting.Istio
	if istio == nil {
		return o
	}
	for _, vs := range virtualServices(istio) {
		o.VirtualServices = append(o.VirtualServices, VirtualServiceRef{NamespacedName: IstioRef(vs.Name, ns), Routes: vs.Routes, Spec: vs})
	}
	if dr := istio.DestinationRule; dr != nil {
		// Argo reads the DestinationRule in the Rollout's namespace.
		o.DestinationRule = &types.NamespacedName{Namespace: ns, Name: dr.Name}
		o.Subsets = []string{dr.CanarySubsetName, dr.StableSubsetName}
	}
	return o
}

// virtualServices are the VirtualServices of trafficRouting.istio:
// virtualService or virtualServices (Argo's validation allows one of
// them).
func virtualServices(istio *rolloutsv1alpha1.IstioTrafficRouting) []rolloutsv1alpha1.IstioVirtualService {
	var out []rolloutsv1alpha1.IstioVirtualService
	if istio.VirtualService != nil {
		out = append(out, *istio.VirtualService)
	}
	return append(out, istio.VirtualServices...)
}

// IstioRef reads a VirtualService name as Argo Rollouts does
// (GetVirtualServiceNamespaceName): "name" in the Rollout's namespace, or
// "name.namespace" (what follows a second dot is ignored).
func IstioRef(name, namespace string) types.NamespacedName {
	if f := strings.Split(name, "."); len(f) >= 2 {
		return types.NamespacedName{Namespace: f[1], Name: f[0]}
	}
	return types.NamespacedName{Namespace: namespace, Name: name}
}

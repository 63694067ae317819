package kubeapply

import (
	"errors"
	"slices"
	"strings"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	networkingapi "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/graylane/graylane/internal/rollouttraffic"
)

// argoOwned is what the Argo Rollouts controller writes in the Istio objects
// that the Rollouts of an apply name in trafficRouting.istio
// (rollouttraffic.OwnedBy): the weights of the managed HTTP routes of each
// VirtualService, the pod-template-hash label of the canary and stable
// subsets of the DestinationRule, and the selectors of the canary and
// stable Services.
type argoOwned struct {
	routes  map[types.NamespacedName][]string // VirtualService -> route names (empty: Argo's default route)
	subsets map[types.NamespacedName][]string // DestinationRule -> subset names
	// services are the canary and stable Services, whose selector the
	// controller pins to a pod-template-hash.
	services map[types.NamespacedName]bool
}

// argoFields collects argoOwned from the Rollouts among items.
func argoFields(items []Item) argoOwned {
	owned := argoOwned{routes: map[types.NamespacedName][]string{}, subsets: map[types.NamespacedName][]string{}, services: map[types.NamespacedName]bool{}}
	for _, it := range items {
		ro, ok := it.Object.(*rolloutsv1alpha1.Rollout)
		if !ok {
			continue
		}
		o := rollouttraffic.OwnedBy(ro, ro.Namespace)
		if o == nil {
			continue
		}
		for _, svc := range o.Services {
			owned.services[svc] = true
		}
		for _, vs := range o.VirtualServices {
			owned.routes[vs.NamespacedName] = append(owned.routes[vs.NamespacedName], vs.Routes...)
		}
		if o.DestinationRule != nil {
			owned.subsets[*o.DestinationRule] = append(owned.subsets[*o.DestinationRule], o.Subsets...)
		}
	}
	return owned
}

// keepLive copies into desired the values the Argo Rollouts controller
// wrote in live, so an apply neither resets a rollout's traffic split nor
// conflicts with the controller over them. It reports whether desired is
// such an object.
func (a argoOwned) keepLive(desired, live Object) bool {
	key := objectKey(desired)
	switch d := desired.(type) {
	case *networkingv1.VirtualService:
		if routes, ok := a.routes[key]; ok {
			keepWeights(d, live.(*networkingv1.VirtualService), routes)
			return true
		}
	case *networkingv1.DestinationRule:
		if subsets, ok := a.subsets[key]; ok {
			keepHashes(d, live.(*networkingv1.DestinationRule), subsets)
			return true
		}
	case *corev1.Service:
		if !a.services[key] {
			return false
		}
		if h, ok := live.(*corev1.Service).Spec.Selector[rollouttraffic.PodTemplateHashLabel]; ok {
			if d.Spec.Selector == nil {
				d.Spec.Selector = map[string]string{}
			}
			d.Spec.Selector[rollouttraffic.PodTemplateHashLabel] = h
		}
		return true
	}
	return false
}

// ControllerManager is the field manager of the Argo Rollouts controller's
// writes.
const ControllerManager = "rollouts-controller"

// onlyControllerConflicts reports whether err is an apply conflict of an
// object in a, solely with the Argo Rollouts controller over the fields it
// writes (spec.http of a VirtualService, spec.subsets of a DestinationRule:
// atomic lists, where an omitted "weight: 0" already differs; the atomic
// spec.selector of a canary or stable Service).
func (a argoOwned) onlyControllerConflicts(obj Object, err error) bool {
	key := objectKey(obj)
	var field string
	switch obj.(type) {
	case *networkingv1.VirtualService:
		if _, ok := a.routes[key]; !ok {
			return false
		}
		field = ".spec.http"
	case *networkingv1.DestinationRule:
		if _, ok := a.subsets[key]; !ok {
			return false
		}
		field = ".spec.subsets"
	case *corev1.Service:
		if !a.services[key] {
			return false
		}
		field = ".spec.selector"
	default:
		return false
	}
	var status apierrors.APIStatus
	if !apierrors.IsConflict(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	causes := status.Status().Details.Causes
	for _, c := range causes {
		if c.Type != metav1.CauseTypeFieldManagerConflict || c.Field != field || !strings.Contains(c.Message, `"`+ControllerManager+`"`) {
			return false
		}
	}
	return len(causes) > 0
}

// keepWeights sets the weight of each destination of the HTTP routes
// whose weights Argo sets (rollouttraffic.WeightRoutes of names) to the
// live weight of the same destination in the live route of the same name.
func keepWeights(desired, live *networkingv1.VirtualService, names []string) {
	for _, i := range rollouttraffic.WeightRoutes(desired.Spec.Http, names, nil) {
		route := desired.Spec.Http[i]
		for _, lr := range live.Spec.Http {
			if lr.Name != route.Name {
				continue
			}
			for _, dst := range route.Route {
				for _, ldst := range lr.Route {
					if sameDestination(dst.Destination, ldst.Destination) {
						dst.Weight = ldst.Weight
					}
				}
			}
			break
		}
	}
}

func sameDestination(a, b *networkingapi.Destination) bool {
	return a != nil && b != nil && a.Host == b.Host && a.Subset == b.Subset
}

// keepHashes copies the live pod-template-hash label of the named subsets.
func keepHashes(desired, live *networkingv1.DestinationRule, names []string) {
	for _, s := range desired.Spec.Subsets {
		if !slices.Contains(names, s.Name) {
			continue
		}
		for _, ls := range live.Spec.Subsets {
			hash, ok := ls.Labels[rollouttraffic.PodTemplateHashLabel]
			if ls.Name != s.Name || !ok {
				continue
			}
			if _, set := s.Labels[rollouttraffic.PodTemplateHashLabel]; set {
				continue
			}
			if s.Labels == nil {
				s.Labels = map[string]string{}
			}
			s.Labels[rollouttraffic.PodTemplateHashLabel] = hash
		}
	}
}

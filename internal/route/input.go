package route

import (
	"regexp"
	"sort"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Input is the configuration Compile reads. Objects are given in load
// order; VirtualServices are ordered by creationTimestamp when set (oldest
// first, as istiod does), then by that order.
type Input struct {
	VirtualServices  []VirtualService
	DestinationRules []DestinationRule
	Gateways         []Gateway
	Services         []Service
	// ServiceEntries add hosts to the registry: their namespace and
	// exportTo decide where DestinationRules for those hosts are found.
	ServiceEntries []ServiceEntry
	// Outbound is the mesh's outboundTrafficPolicy for hosts nothing
	// defines (AllowAny, Istio's default, when unset).
	Outbound OutboundPolicy
}

// VirtualService is one VirtualService and where its fields were written.
type VirtualService struct {
	Object *networkingv1.VirtualService
	Locate Locator
}

// DestinationRule is one DestinationRule and where its fields were written.
type DestinationRule struct {
	Object *networkingv1.DestinationRule
	Locate Locator
}

// Gateway is one Gateway and where its fields were written.
type Gateway struct {
	Object *networkingv1.Gateway
	Locate Locator
}

// ServiceEntry is one ServiceEntry and where its fields were written.
type ServiceEntry struct {
	Object *networkingv1.ServiceEntry
	Locate Locator
}

// Service is one Kubernetes Service and where its fields were written.
type Service struct {
	Object *corev1.Service
	Locate Locator
}

func namespaceOf(m *metav1.ObjectMeta) string {
	if m.Namespace == "" {
		return "default"
	}
	return m.Namespace
}

func meta(kind string, m *metav1.ObjectMeta, loc Locator) *objMeta {
	return &objMeta{kind: kind, namespace: namespaceOf(m), name: m.Name, locate: loc}
}

// orderedVirtualServices sorts by creation time, keeping input order for
// equal or unset times.
func orderedVirtualServices(in []VirtualService) []VirtualService {
	out := make([]VirtualService, 0, len(in))
	for _, vs := range in {
		if vs.Object != nil {
			out = append(out, vs)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return createdAt(out[i].Object.ObjectMeta) < createdAt(out[j].Object.ObjectMeta)
	})
	return out
}

// createdAt is the creation time in nanoseconds; unset sorts first, as an
// object applied from a file has no timestamp yet.
func createdAt(m metav1.ObjectMeta) int64 {
	if m.CreationTimestamp.IsZero() {
		return 0
	}
	return m.CreationTimestamp.UnixNano()
}

// LabelsMatch reports whether a set of labels carries every wanted label
// (a Kubernetes equality selector; an empty selector matches everything).
func LabelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// CookieRegex is the RE2 pattern (a full match, as Istio applies it) for a
// Cookie header that carries cookie name with a value matching valueRE
// among other cookies. Quote a literal value with regexp.QuoteMeta.
func CookieRegex(name, valueRE string) string {
	return `^(.*;\s*)?` + regexp.QuoteMeta(name) + `=` + valueRE + `(;.*)?$`
}

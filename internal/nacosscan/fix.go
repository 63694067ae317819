package nacosscan

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	networkingv1api "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/graylane/graylane/internal/render"
	"github.com/graylane/graylane/internal/springprops"
)

// Conflict is a Nacos service name that bypass findings map to two
// different URLs (the same name in two Nacos namespaces or groups): one
// Spring configuration cannot say both.
type Conflict struct {
	Service string   `json:"service"`
	URLs    []string `json:"urls"`
}

// Properties are the Spring properties that point the clients of every
// bypass finding at its Service's DNS name: the Feign client URL and the
// simple-discovery instance, per Nacos service, and the simple
// discovery client's order. A service name whose findings disagree on
// the URL is left out and reported as a Conflict. No bypass finding, no
// properties.
func Properties(findings []Finding) (map[string]string, []Conflict) {
	urls := map[string][]string{}
	for _, f := range findings {
		if f.Kind != KindBypass || f.Host == "" || f.Port == 0 {
			continue
		}
		u := "http://" + net.JoinHostPort(f.Host, strconv.Itoa(int(f.Port)))
		if !slices.Contains(urls[f.NacosService], u) {
			urls[f.NacosService] = append(urls[f.NacosService], u)
		}
	}
	props := map[string]string{}
	var conflicts []Conflict
	for _, name := range slices.Sorted(maps.Keys(urls)) {
		if us := urls[name]; len(us) > 1 {
			slices.Sort(us)
			conflicts = append(conflicts, Conflict{Service: name, URLs: us})
			continue
		}
		props[springprops.FeignURLKey(name)] = urls[name][0]
		props[springprops.SimpleURIKey(name)] = urls[name][0]
	}
	if len(props) > 0 {
		props[springprops.SimpleOrderKey] = springprops.SimpleOrderBefore
	}
	return props, conflicts
}

// ServiceEntries are the ServiceEntries that make the instances of the
// external nacos-only findings known to the mesh, in namespace: host
// NAME.nacos (NAME the Nacos service name as a DNS label), the instance
// IPs as addresses and STATIC endpoints, an HTTP port per instance port,
// location MESH_EXTERNAL (the default, so not written; Istio's
// ServiceEntry reference). Callers keep
// calling the IPs they get from Nacos; with the entry the sidecar
// reports and can route those calls as the service instead of
// PassthroughCluster.
func ServiceEntries(findings []Finding, namespace string) []*networkingv1.ServiceEntry {
	var out []*networkingv1.ServiceEntry
	seen := map[string]bool{}
	for _, f := range findings {
		if f.Kind != KindNacosOnly || !f.External {
			continue
		}
		name := dnsLabel(f.NacosService)
		if f.NacosGroup != "" && f.NacosGroup != "DEFAULT_GROUP" {
			name = dnsLabel(f.NacosService + "-" + f.NacosGroup)
		}
		// Two services whose names make the same DNS label (Pay.Svc and
		// pay-svc) each get an entry: the later one numbered.
		for i, base := 2, name; seen[name]; i++ {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		seen[name] = true
		out = append(out, serviceEntry(f, name, namespace))
	}
	return out
}

// The label and annotation of the ServiceEntries fix makes.
const (
	managedByLabel    = render.ManagedBy
	nacosServiceAnnot = "graylane.io/nacos-service"
	managedByGraylane = "graylane"
)

// IsManaged says whether a ServiceEntry's labels and annotations are
// those ServiceEntries gives (app.kubernetes.io/managed-by: graylane and
// graylane.io/nacos-service).
func IsManaged(labels, annotations map[string]string) bool {
	return labels[managedByLabel] == managedByGraylane && annotations[nacosServiceAnnot] != ""
}

// Unmanaged is s without the ServiceEntries fix made (those with a
// ServiceEntry.NacosService): fix computes those again from Nacos, so that
// they follow its instances and applying them again says what changed.
func Unmanaged(s Snapshot) Snapshot {
	var keep []ServiceEntry
	for _, se := range s.ServiceEntries {
		if se.NacosService == "" {
			keep = append(keep, se)
		}
	}
	s.ServiceEntries = keep
	return s
}

func serviceEntry(f Finding, name, namespace string) *networkingv1.ServiceEntry {
	se := &networkingv1.ServiceEntry{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "ServiceEntry"},
		ObjectMeta: metav1.ObjectMeta{Name: "nacos-" + name, Namespace: namespace,
			Labels:      map[string]string{managedByLabel: managedByGraylane},
			Annotations: map[string]string{nacosServiceAnnot: f.NacosNamespace + "/" + f.NacosGroup + "/" + f.NacosService}},
	}
	se.Spec.Hosts = []string{name + ".nacos"}
	se.Spec.Location = networkingv1api.ServiceEntry_MESH_EXTERNAL
	se.Spec.Resolution = networkingv1api.ServiceEntry_STATIC
	ports := map[uint32]bool{}
	ips := map[string]bool{}
	for _, a := range f.Addresses {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		if p, err := strconv.ParseUint(port, 10, 32); err == nil && p > 0 {
			ports[uint32(p)] = true
		}
		ips[host] = true
	}
	for _, ip := range slices.Sorted(maps.Keys(ips)) {
		se.Spec.Addresses = append(se.Spec.Addresses, ip)
		se.Spec.Endpoints = append(se.Spec.Endpoints, &networkingv1api.WorkloadEntry{Address: ip})
	}
	for _, p := range slices.Sorted(maps.Keys(ports)) {
		se.Spec.Ports = append(se.Spec.Ports, &networkingv1api.ServicePort{Number: p, Protocol: "HTTP", Name: fmt.Sprintf("http-%d", p)})
	}
	return se
}

// dnsLabel turns a name into a DNS-1123 label: lower case, characters
// other than letters and digits as '-', at most 57 characters (room for
// the "nacos-" prefix of the object name).
func dnsLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 57 {
		out = strings.TrimRight(out[:57], "-")
	}
	if out == "" {
		out = "service"
	}
	return out
}

// NacosServiceOf is the Nacos service a ServiceEntry fix made is for (its
// graylane.io/nacos-service annotation, NAMESPACE/GROUP/NAME); "" for a
// ServiceEntry fix did not make (IsManaged).
func NacosServiceOf(labels, annotations map[string]string) string {
	if !IsManaged(labels, annotations) {
		return ""
	}
	return annotations[nacosServiceAnnot]
}

// StaleEntry is a ServiceEntry an earlier fix made that this run does not
// make: its Nacos service is gone or has no instances, is now in the
// cluster, or the entry is in another namespace than
// --service-entry-namespace says now. Its host still resolves to the
// addresses it lists.
type StaleEntry struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// NacosService is its graylane.io/nacos-service annotation,
	// NAMESPACE/GROUP/NAME.
	NacosService string `json:"nacosService"`
	// Where is "file:line" when it came from a manifest file.
	Where string `json:"where,omitempty"`
	// UID and ResourceVersion are the ServiceEntry's as read from a
	// cluster (or the ResourceVersion from a running graylane up): the
	// preconditions of its delete.
	UID             types.UID `json:"-"`
	ResourceVersion string    `json:"-"`
}

// Stale lists the ServiceEntries of held that fix made (NacosService) for a
// service of the Nacos namespace nacosNS and one of groups - what this run
// read - and that made has no ServiceEntry of the same namespace and name
// for, sorted by namespace and name. The entries of other Nacos
// namespaces or groups are another run's: left out.
func Stale(held []ServiceEntry, made []*networkingv1.ServiceEntry, nacosNS string, groups []string) []StaleEntry {
	produced := map[string]bool{}
	for _, se := range made {
		produced[se.Namespace+"/"+se.Name] = true
	}
	out := []StaleEntry{}
	for _, se := range held {
		if se.NacosService == "" || produced[se.Namespace+"/"+se.Name] {
			continue
		}
		ns, rest, _ := strings.Cut(se.NacosService, "/")
		group, name, ok := strings.Cut(rest, "/")
		if !ok || name == "" || ns != nacosNS || !slices.Contains(groups, group) {
			continue
		}
		out = append(out, StaleEntry{Namespace: se.Namespace, Name: se.Name, NacosService: se.NacosService, Where: se.Where,
			UID: se.UID, ResourceVersion: se.ResourceVersion})
	}
	slices.SortFunc(out, func(a, b StaleEntry) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out
}

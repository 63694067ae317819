// Package nacosscan finds the calls of Nacos clients that bypass the mesh,
// and computes what fixes them.
//
// Spring Cloud clients take a peer's instance addresses (pod IPs) from
// Nacos and call them directly, so the caller's sidecar sees a call to an
// IP, not to a Service: VirtualService routing, canary weights and lanes
// do not apply, and Istio's metrics name the destination
// "PassthroughCluster" (istio/istio#36596, #35726). Scan compares a Nacos
// snapshot with a Kubernetes snapshot (and optional PassthroughCluster
// edges from Prometheus) and reports findings; Properties and
// ServiceEntries compute the fix: the shared Spring configuration that
// points every affected client at the Service's DNS name, and
// ServiceEntries for the Nacos services outside the cluster.
//
// It is pure: snapshots in, findings out. The shell
// (internal/nacosscan/command) reads Nacos, the manifests, a cluster or a
// running `graylane up`, and Prometheus.
package nacosscan

import (
	"k8s.io/apimachinery/pkg/types"

	"github.com/graylane/graylane/internal/route"
)

// Finding kinds.
const (
	// KindBypass: callers reach a Nacos service through the pod
	// addresses behind a Kubernetes Service instead of the Service.
	KindBypass = "bypass"
	// KindNacosOnly: a Nacos service with no Kubernetes Service in front
	// of its instances.
	KindNacosOnly = "nacos-only"
	// KindMissing: a Kubernetes Service whose pods no Nacos service lists.
	KindMissing = "missing-from-nacos"
)

// Snapshot is what Scan compares.
type Snapshot struct {
	Nacos    []NacosService
	Services []Service
	// Pods are running pods (with IP) or, from manifests, the pod
	// templates of the workloads (without IP).
	Pods  []Pod
	Edges []Edge
	// ServiceEntries make addresses outside the cluster known to the
	// mesh: a Nacos service whose instances they all cover is not
	// reported as nacos-only.
	ServiceEntries []ServiceEntry
	// Shared are the properties of the shared Spring configuration fix
	// publishes (flattened, springprops.Parse), SharedName its data id.
	// A bypass the configuration already points at the Service is not
	// reported, unless the metrics still show a caller going around it.
	Shared     map[string]string
	SharedName string
}

// NacosService is one service of a Nacos namespace and group.
type NacosService struct {
	Namespace string `json:"namespace"` // Nacos namespace id ("public" for the default)
	Group     string `json:"group"`
	Name      string `json:"name"`
	Instances []Instance
	// Subscribers are the clients subscribed to the service, when the
	// source knows them (Nacos lists them at GET
	// /nacos/v1/ns/service/subscribers; internal/nacosclient.Subscribers).
	Subscribers []Subscriber
}

// Instance is one registered address of a Nacos service.
type Instance struct {
	IP   string
	Port int
}

// Subscriber is a client subscribed to a Nacos service.
type Subscriber struct {
	IP  string
	App string // the app name the client reported, when it did
}

// Service is a Kubernetes Service.
type Service struct {
	Namespace, Name string
	// Host is the name the mesh routes for the Service; "" is
	// NAME.NAMESPACE.svc.cluster.local.
	Host     string
	Selector map[string]string
	// Pods, when set, are the names of the pods behind the Service (the
	// local runtime's endpoints); they take the place of Selector.
	Pods  []string
	Ports []ServicePort
	Where string // file:line when it came from a file
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name string
	Port int32
	// TargetPort is the pod port (0: by name, or the same as Port when
	// TargetPortName is empty too).
	TargetPort     int32
	TargetPortName string
	Where          string
}

// Pod is a running pod or a workload's pod template.
type Pod struct {
	Namespace, Name string
	// Workload is the Deployment or Rollout the pod belongs to, its name
	// only ("" when not known).
	Workload string
	Labels   map[string]string
	// IP is the pod IP; "" for a pod template from manifests.
	IP string
	// Port, when not 0, is the one port the pod listens on at IP (the
	// local runtime runs every replica on 127.0.0.1 with its own port).
	// Sidecar is the replica's inbound sidecar address there, if any.
	Port    int
	Sidecar string
	// ContainerPorts are the named container ports (for targetPort by
	// name).
	ContainerPorts map[string]int32
	// NacosClient: the pod's containers look configured for Nacos
	// (LooksLikeNacosClient).
	NacosClient bool
}

// ServiceEntry is an Istio ServiceEntry by the addresses it covers.
type ServiceEntry struct {
	Namespace, Name string
	// Addresses are its spec.addresses and its endpoints' addresses (IPs
	// or CIDRs).
	Addresses []string
	// NacosService, when not "", says `graylane nacos fix` made it
	// (IsManaged): its graylane.io/nacos-service annotation
	// (NAMESPACE/GROUP/NAME). Fix computes such an entry again from Nacos
	// rather than taking it as given.
	NacosService string
	// Where is "file:line" when it came from a file.
	Where string
	// UID and ResourceVersion are the object's, as read from a cluster
	// (a running graylane up gives a ResourceVersion only; "" otherwise):
	// fix deletes a stale entry only as it read it.
	UID             types.UID `json:"-"`
	ResourceVersion string    `json:"-"`
}

// Edge is a series of Istio's istio_requests_total with
// destination_service_name="PassthroughCluster": a workload that called
// an address the mesh does not know as a Service.
type Edge struct {
	SourceWorkload, SourceNamespace string
	// Destination is the destination_service label: the request's host
	// (HOST[:PORT]), "unknown" when the proxy did not record one.
	Destination string
	// DestinationWorkload, DestinationNamespace name the peer when the
	// proxy knew it ("unknown" otherwise).
	DestinationWorkload, DestinationNamespace string
	Requests                                  float64
}

// Finding is one problem, with where it is and how to fix it.
type Finding struct {
	Kind string `json:"kind"`
	// Caller is the calling workload, "NAMESPACE/NAME" (or the app name
	// or address a Nacos subscriber reported); "" when not known: any
	// Nacos client of the service.
	Caller string `json:"caller,omitempty"`
	// NacosNamespace, NacosGroup and NacosService name the Nacos service
	// (empty for KindMissing).
	NacosNamespace string `json:"nacosNamespace,omitempty"`
	NacosGroup     string `json:"nacosGroup,omitempty"`
	NacosService   string `json:"nacosService,omitempty"`
	// Service is the Kubernetes Service "NAMESPACE/NAME" (empty for
	// KindNacosOnly), Host and Port where the mesh serves it.
	Service string `json:"service,omitempty"`
	Host    string `json:"host,omitempty"`
	Port    int32  `json:"port,omitempty"`
	// Addresses are the instance addresses concerned (IP:PORT).
	Addresses []string `json:"addresses,omitempty"`
	// External (KindNacosOnly): no instance is a pod; the service needs
	// a ServiceEntry. When false the instances are pods that no Service
	// fronts on their port.
	External bool `json:"external,omitempty"`
	// Requests is how many PassthroughCluster requests the metrics
	// counted from Caller to the addresses (0: not measured).
	Requests float64 `json:"requests,omitempty"`
	// Where is "file:line" when the object came from a file, else a
	// reference: "Service NAMESPACE/NAME" or "nacos NAMESPACE/GROUP/NAME".
	Where   string `json:"where"`
	Message string `json:"message"`
	Hint    string `json:"hint"`
}

// String renders "where: kind: message (hint)".
func (f Finding) String() string {
	return f.Where + ": " + f.Kind + ": " + f.Message + " (" + f.Hint + ")"
}

// host is where the mesh serves s.
func (s *Service) host() string {
	if s.Host != "" {
		return s.Host
	}
	return route.ResolveHost(s.Name, s.Namespace)
}

func (s *Service) ref() string { return s.Namespace + "/" + s.Name }

func (s *Service) where() string {
	if s.Where != "" {
		return s.Where
	}
	return "Service " + s.ref()
}

func (n *NacosService) ref() string { return n.Namespace + "/" + n.Group + "/" + n.Name }

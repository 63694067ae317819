// Package embedded is Graylane's embedded runtime: it runs Kubernetes and
// Istio manifests on one machine with no cluster and no container engine.
//
// Each Deployment replica is a local process (an image map turns an image
// into a command). Each replica gets its own sidecar: an HTTP proxy
// listener, set as the process's HTTP_PROXY, that knows the replica's pod
// labels and namespace and routes outbound calls with the same compiled
// routing table (internal/route) the offline commands use. Istio Gateways
// become local listeners. Requests are counted in Istio's standard metrics.
// The compiled configuration is swapped atomically when manifests change.
package embedded

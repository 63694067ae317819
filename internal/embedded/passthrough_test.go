package embedded

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// passthroughApp: order has two versions behind one Service; its
// VirtualService sends everything to v1.
const passthroughApp = `apiVersion: v1
kind: Service
metadata: {name: order}
spec:
  selector: {app: order}
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: order}
spec:
  host: order
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: order}
spec:
  hosts: [order]
  http:
  - route:
    - destination: {host: order, subset: v1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: order-v1}
spec:
  selector: {matchLabels: {app: order, version: v1}}
  template:
    metadata: {labels: {app: order, version: v1}}
    spec:
      containers:
      - {name: order, image: go-http-sample, env: [{name: app, value: order}, {name: version, value: v1}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: order-v2}
spec:
  selector: {matchLabels: {app: order, version: v2}}
  template:
    metadata: {labels: {app: order, version: v2}}
    spec:
      containers:
      - {name: order, image: go-http-sample, env: [{name: app, value: order}, {name: version, value: v2}]}
`

// TestPassthroughToPodAddress: a call through a sidecar to a replica's own
// address (127.0.0.1:PORT, what a Spring Cloud client takes from Nacos)
// reaches that replica directly, whatever the VirtualService says, and is
// counted under PassthroughCluster with the replica as destination, as
// Istio's PassthroughCluster does (istio/istio#36596). An address no
// replica has goes there too (ALLOW_ANY): nothing listens on it, 503 UF.
func TestPassthroughToPodAddress(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app.yaml"), passthroughApp)
	r := start(t, []string{dir})

	v2 := orderV2(t, r)
	if code, body := r.get(t, true, "order:8080"); code != 200 || body != "order(v1)" {
		t.Fatalf("by the Service: %d %q, want 200 order(v1) (the VirtualService)", code, body)
	}
	for _, host := range []string{v2.addr, strings.Replace(v2.addr, "127.0.0.1", "localhost", 1)} {
		if code, body := r.get(t, true, host); code != 200 || body != "order(v2)" {
			t.Errorf("by the pod address %s: %d %q, want 200 order(v2)", host, code, body)
		}
	}
	if code, _ := r.get(t, true, "127.0.0.1:1"); code != 503 {
		t.Errorf("an address no replica has: %d, want 503", code)
	}

	var got []string
	for _, s := range requestSeries(t, r.rt.metrics) {
		if strings.HasPrefix(s, "source graylane-client") || strings.HasPrefix(s, "destination graylane-client") {
			got = append(got, s)
		}
	}
	slices.Sort(got)
	want := []string{
		"destination graylane-client 200 - PassthroughCluster order-v2 = 2",
		"destination graylane-client 200 - order order-v1 = 1",
		"source graylane-client 200 - PassthroughCluster order-v2 = 2",
		"source graylane-client 200 - order order-v1 = 1",
		"source graylane-client 503 UF PassthroughCluster unknown = 1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
}

// orderV2 is passthroughApp's order-v2 replica.
func orderV2(t *testing.T, r *running) *pod {
	t.Helper()
	for _, p := range r.rt.cfg.Load().pods {
		if p.spec.labels["version"] == "v2" {
			return p
		}
	}
	t.Fatal("no order-v2 replica")
	return nil
}

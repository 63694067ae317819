package lane_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/render"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func load(t *testing.T, extra string) *manifest.Set {
	t.Helper()
	shop, err := os.ReadFile("../../examples/lanes/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := manifest.LoadBytes("lanes.yaml", append(append(shop, "\n---\n"...), extra...))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func exampleLane(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/lanes/lane.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// encode writes the changed objects as multi-document YAML.
func encode(t *testing.T, out *lane.Output) []byte {
	t.Helper()
	var objs []render.Object
	for _, o := range out.Changed {
		objs = append(objs, render.Object{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Value: o.Typed})
	}
	b, err := render.EncodeAll(objs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.yaml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestCompileGolden pins what each lane shape compiles to.
func TestCompileGolden(t *testing.T) {
	loose := exampleLane(t)
	tests := []struct {
		name   string
		lane   string
		states map[string]lane.State
	}{
		{"loose", loose, nil},
		{"strict", strings.Replace(loose, "fallback: base", "fallback: strict", 1), nil},
		{"sourcelabels", strings.Replace(loose, "  fallback: base", "  propagation:\n    modes: [header, sourceLabels]\n  fallback: base", 1), nil},
		{"promoted", loose, map[string]lane.State{"shop/gray": {Phase: lane.Promoted, Weight: 100}}},
		{"aborted", loose, map[string]lane.State{"shop/gray": {Phase: lane.Aborted}}},
		// order v2 runs with a lane-only property (and is labelled for
		// sourceLabels too: one changed copy with both).
		{"canaryconfig", strings.Replace(strings.Replace(loose, "    workload: order-v2\n",
			"    workload: order-v2\n    canaryConfig:\n      properties: {feature.discount-rate: \"0.2\"}\n      nacos: {dataId: order.yaml}\n", 1),
			"  fallback: base", "  propagation:\n    modes: [header, sourceLabels]\n  fallback: base", 1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := load(t, tt.lane)
			out, err := lane.Compile(lane.Input{Objects: set.Objects, States: tt.states})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, encode(t, out))
		})
	}
}

// TestCompileErrors: references that do not resolve are located errors.
func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, lane, want string
	}{
		{"no service", `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members:
  - {service: cart, workload: cart-v2}
`, "lanes.yaml:199: spec.members[0].service: no Service cart in namespace shop"},
		{"no workload", `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members:
  - service: order
    workload: order-v3
`, "lanes.yaml:200: spec.members[0].workload: no Deployment or Rollout order-v3 in namespace shop"},
		{"canaryConfig container", `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members:
  - service: order
    workload: order-v2
    canaryConfig: {container: app, properties: {a.b: c}}
`, `lanes.yaml:201: spec.members[0].canaryConfig.container: Unsupported value: "app": supported values: "order"`},
		{"no stable", `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members:
  - {service: payment, workload: payment-v1}
`, "Service payment has no stable version"},
		{"two lanes one workload", `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members:
  - {service: order, workload: order-v2}
---
apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: blue, namespace: shop}
spec:
  members:
  - {service: order, workload: order-v2}
`, "Deployment order-v2 is already the lane version in lane shop/blue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := load(t, tt.lane)
			_, err := lane.Compile(lane.Input{Objects: set.Objects})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestValidationLocated: Lane validation errors come from the loader with
// file:line and field path.
func TestValidationLocated(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"weight", `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray}
spec:
  members: [{service: order, workload: order-v2}]
  entry:
    percentage:
      weight: 120
`, "l.yaml:8: spec.entry.percentage.weight: Invalid value: 120: must be between 0 and 100"},
		{"unknown field", `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray}
spec:
  members: [{service: order, workload: order-v2}]
  fallbak: strict
`, "l.yaml:6: spec: unknown field \"fallbak\""},
		{"fallback", `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray}
spec:
  members: [{service: order, workload: order-v2}]
  fallback: loose
`, `l.yaml:6: spec.fallback: Unsupported value: "loose"`},
		{"regex", `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray}
spec:
  members: [{service: order, workload: order-v2}]
  entry:
    headers:
    - name: x-user
      regex: "(qa"
`, "l.yaml:9: spec.entry.headers[0].regex: Invalid value"},
		{"step kind", `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray}
spec:
  members: [{service: order, workload: order-v2}]
  plan:
    steps:
    - setWeight: 10
    - setCanaryScale: {replicas: 2}
`, "l.yaml:9: spec.plan.steps[1].setCanaryScale: Forbidden: a lane plan step is setWeight, pause or analysis"},
		{"pause duration", `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray}
spec:
  members: [{service: order, workload: order-v2}]
  plan:
    steps:
    - pause: {duration: 5 minutes}
`, "l.yaml:8: spec.plan.steps[0].pause.duration: Invalid value"},
		{"base name", `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: base}
spec:
  members: [{service: order, workload: order-v2}]
`, `l.yaml:3: metadata.name: Invalid value: "base"`},
		{"no members", `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray}
spec:
  members: []
`, "l.yaml:5: spec.members: Required value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := manifest.LoadBytes("l.yaml", []byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestExampleLoads keeps the example free of findings a user would see.
func TestExampleLoads(t *testing.T) {
	set := load(t, exampleLane(t))
	out, err := lane.Compile(lane.Input{Objects: set.Objects})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Lanes) != 1 || len(out.Lanes[0].Members) != 2 {
		t.Fatalf("lanes: %+v", out.Lanes)
	}
	var b bytes.Buffer
	for _, m := range out.Lanes[0].Members {
		b.WriteString(m.Service + " " + m.LaneSubset + " " + m.StableSubset + "\n")
	}
	if diff := cmp.Diff("order graylane-gray stable\nlogistics graylane-gray stable\n", b.String()); diff != "" {
		t.Error(diff)
	}
}

// TestTwoLanes: two lanes over the same service each get their subset and
// their routes, and the entry tells them apart.
func TestTwoLanes(t *testing.T) {
	shop, err := os.ReadFile("../../examples/lanes/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v3 := strings.ReplaceAll(strings.ReplaceAll(string(shop[strings.Index(string(shop), "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: order-v2"):]), "v2", "v3"), "---\n", "\x00")
	v3 = v3[:strings.IndexByte(v3, 0)]
	doc := string(shop) + "\n---\n" + v3 + `---
apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members: [{service: order, workload: order-v2, stable: {workload: order-v1}}]
  entry: {headers: [{name: x-lane, exact: gray}]}
---
apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: blue, namespace: shop}
spec:
  members: [{service: order, workload: order-v3, stable: {workload: order-v1}}]
  entry: {headers: [{name: x-lane, exact: blue}]}
`
	set, err := manifest.LoadBytes("two.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	in := lane.Input{Objects: set.Objects}
	out, err := lane.Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	var subsets []string
	for _, l := range out.Lanes {
		subsets = append(subsets, l.Name+"="+l.Members[0].LaneSubset+labelsOf(l.Members[0].LaneLabels))
	}
	if diff := cmp.Diff([]string{"blue=graylane-blue{version=v3}", "gray=graylane-gray{version=v2}"}, subsets); diff != "" {
		t.Errorf("lane subsets (-want +got):\n%s", diff)
	}
	e, err := lane.NewEntry(&in, out.Lanes, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"gray", "blue"} {
		h := headers("x-lane", want)
		if d := e.Apply(h, 0.5, nil, time.Now()); d.Lane != want || h.Get("x-graylane") != want {
			t.Errorf("x-lane %s: entered %q, header %q", want, d.Lane, h.Get("x-graylane"))
		}
	}
}

func labelsOf(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// rolloutShop is a service whose DestinationRule a Rollout manages, with a
// lane version beside the Rollout.
const rolloutShop = `apiVersion: v1
kind: Service
metadata: {name: order, namespace: shop}
spec:
  selector: {app: order}
  ports: [{name: http, port: 8080}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: order, version: v1}}
  template:
    metadata: {labels: {app: order, version: v1}}
    spec: {containers: [{name: order, image: graylane/sample:1.0}]}
  strategy:
    canary:
      trafficRouting:
        istio:
          virtualService: {name: order, routes: [primary]}
          destinationRule: {name: order, canarySubsetName: canary, stableSubsetName: stable}
      steps: [{setWeight: 20}, {pause: {}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: order, namespace: shop}
spec:
  host: order
  exportTo: [".", "edge"]
  subsets:
  - {name: stable, labels: {app: order, version: v1}}
  - {name: canary, labels: {app: order, version: v1}}
  - {name: graylane-gray, labels: {app: order, version: v0}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: order, namespace: shop}
spec:
  hosts: [order]
  http:
  - name: primary
    route:
    - {destination: {host: order, subset: stable}, weight: 100}
    - {destination: {host: order, subset: canary}, weight: 0}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: order-v2, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: order, version: v2}}
  template:
    metadata: {labels: {app: order, version: v2}}
    spec: {containers: [{name: order, image: graylane/sample:1.0}]}
---
apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members:
  - {service: order, workload: order-v2}
  entry:
    headers: [{name: x-canary, exact: "true"}]
`

// TestCompileRolloutManagedDR: Argo Rollouts keeps only the stable and
// canary subsets of the DestinationRule it manages, so a lane's subsets
// go to a companion DestinationRule for the same host and exportTo, the
// managed rule is left as it is, and no subset name of the two collides
// (the managed rule's graylane-gray is taken, so the lane gets
// graylane-gray-2).
func TestCompileRolloutManagedDR(t *testing.T) {
	set, err := manifest.LoadBytes("rollout.yaml", []byte(rolloutShop))
	if err != nil {
		t.Fatal(err)
	}
	out, err := lane.Compile(lane.Input{Objects: set.Objects})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Changed {
		if o.Kind == "DestinationRule" && o.Name == "order" {
			t.Errorf("the Rollout's DestinationRule was changed: %+v", o.Typed)
		}
	}
	golden(t, "rollout", encode(t, out))
}

package rollouttraffic

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	networking "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
)

// upstream holds unchanged Argo Rollouts files (testdata/README.md).
const upstream = "testdata/argo-rollouts/"

// load reads manifests into the routing input and the Rollouts.
func load(t *testing.T, set *manifest.Set) (route.Input, []Rollout) {
	t.Helper()
	var in route.Input
	var ros []Rollout
	for _, o := range set.Objects {
		switch v := o.Typed.(type) {
		case *networkingv1.VirtualService:
			in.VirtualServices = append(in.VirtualServices, route.VirtualService{Object: v})
		case *networkingv1.DestinationRule:
			in.DestinationRules = append(in.DestinationRules, route.DestinationRule{Object: v})
		case *corev1.Service:
			in.Services = append(in.Services, route.Service{Object: v})
		case *rolloutsv1alpha1.Rollout:
			o := o
			ros = append(ros, Rollout{Namespace: o.Namespace, Object: v, Locate: func(p string) string { return o.PathPos(p).String() }})
		}
	}
	return in, ros
}

func loadFiles(t *testing.T, files ...string) (route.Input, []Rollout) {
	t.Helper()
	set, err := manifest.Load(files...)
	if err != nil {
		t.Fatal(err)
	}
	return load(t, set)
}

func loadYAML(t *testing.T, docs ...string) (route.Input, []Rollout) {
	t.Helper()
	set, err := manifest.LoadBytes("test.yaml", []byte(strings.Join(docs, "\n---\n")))
	if err != nil {
		t.Fatal(err)
	}
	return load(t, set)
}

// mesh is what a test compares: each VirtualService's HTTP routes as
// "name: match -> host/subset:port=weight, ...", each DestinationRule
// subset's labels and each Service's selector.
func mesh(in route.Input) []string {
	var out []string
	for _, vs := range in.VirtualServices {
		for _, h := range vs.Object.Spec.Http {
			var ms, ds []string
			for _, m := range h.Match {
				for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
					v := m.Headers[k]
					ms = append(ms, fmt.Sprintf("%s exact=%q prefix=%q regex=%q", k, v.GetExact(), v.GetPrefix(), v.GetRegex()))
				}
			}
			for _, d := range h.Route {
				s := d.Destination.Host
				if d.Destination.Subset != "" {
					s += "/" + d.Destination.Subset
				}
				if p := d.Destination.Port; p != nil {
					s += fmt.Sprintf(":%d", p.Number)
				}
				ds = append(ds, fmt.Sprintf("%s=%d", s, d.Weight))
			}
			out = append(out, fmt.Sprintf("VS %s %s: %s -> %s", vs.Object.Name, h.Name, strings.Join(ms, " | "), strings.Join(ds, ", ")))
		}
	}
	for _, dr := range in.DestinationRules {
		for _, s := range dr.Object.Spec.Subsets {
			out = append(out, fmt.Sprintf("DR %s %s %v", dr.Object.Name, s.Name, s.Labels))
		}
	}
	for _, s := range in.Services {
		out = append(out, fmt.Sprintf("Service %s %v", s.Object.Name, s.Object.Spec.Selector))
	}
	return out
}

func TestAtStepsUpstreamSubsetSplit(t *testing.T) {
	file := upstream + "examples/istio/istio-subset-split.yaml"
	_, ros := loadFiles(t, file)
	c := TemplateHash(&ros[0].Object.Spec.Template)
	canary := func(w int) []string {
		return []string{
			fmt.Sprintf("VS istio-subset-split-vsvc primary:  -> istio-subset-split/stable=%d, istio-subset-split/canary=%d", 100-w, w),
			"DR istio-subset-split-destrule stable map[app:istio-subset-split rollouts-pod-template-hash:stable]",
			"DR istio-subset-split-destrule canary map[app:istio-subset-split rollouts-pod-template-hash:" + c + "]",
			"Service istio-subset-split map[app:istio-subset-split]",
		}
	}
	tests := []struct {
		step string
		want []string
		info Step
	}{
		{"istio-subset-split=0", canary(10), Step{Rollout: "default/istio-subset-split", Index: 0, Steps: 2, CanaryWeight: 10, StableHash: "stable", CanaryHash: c, StableReplicas: 1, CanaryReplicas: 1}},
		{"default/istio-subset-split=1", canary(10), Step{Rollout: "default/istio-subset-split", Index: 1, Steps: 2, CanaryWeight: 10, StableHash: "stable", CanaryHash: c, StableReplicas: 1, CanaryReplicas: 1}},
		{"istio-subset-split=2", []string{
			"VS istio-subset-split-vsvc primary:  -> istio-subset-split/stable=100, istio-subset-split/canary=0",
			"DR istio-subset-split-destrule stable map[app:istio-subset-split rollouts-pod-template-hash:" + c + "]",
			"DR istio-subset-split-destrule canary map[app:istio-subset-split rollouts-pod-template-hash:" + c + "]",
			"Service istio-subset-split map[app:istio-subset-split]",
		}, Step{Rollout: "default/istio-subset-split", Index: 2, Steps: 2, Promoted: true, StableHash: c, CanaryHash: c, StableReplicas: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.step, func(t *testing.T) {
			in, ros := loadFiles(t, file)
			before := mesh(in)
			orig := route.Input{VirtualServices: slices.Clone(in.VirtualServices), DestinationRules: slices.Clone(in.DestinationRules), Services: slices.Clone(in.Services)}
			placed, err := AtSteps(&in, ros, []string{tc.step})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, mesh(in)); diff != "" {
				t.Errorf("mesh (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.info, placed[0].Step); diff != "" {
				t.Errorf("step (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, mesh(orig)); diff != "" {
				t.Errorf("the loaded objects changed (-before +after):\n%s", diff)
			}
		})
	}
}

// hostRollout is the Rollout of Argo's host-level traffic splitting
// example (docs/features/traffic-management/istio.md) with a header
// route and a canary scale.
const hostRollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: rollouts-demo}
spec:
  replicas: 4
  selector: {matchLabels: {app: rollouts-demo}}
  template:
    metadata: {labels: {app: rollouts-demo}}
    spec: {containers: [{name: demo, image: argoproj/rollouts-demo:blue}]}
  strategy:
    canary:
      canaryService: canary-svc
      stableService: stable-svc
      trafficRouting:
        managedRoutes: [{name: mirror}, {name: header}]
        istio:
          virtualService: {name: rollout-vsvc, routes: [primary]}
      steps:
      - setWeight: 20
      - setHeaderRoute:
          name: header
          match:
          - {headerName: Agent, headerValue: {exact: firefox}}
          - {headerName: x-canary, headerValue: {prefix: "yes"}}
      - pause: {}
      - setCanaryScale: {replicas: 1}
      - setWeight: 60
      - analysis: {templates: [{templateName: success-rate}]}
      - setHeaderRoute: {name: header}
      - pause: {duration: 10}`

func TestAtStepsUpstreamHostSplit(t *testing.T) {
	files := []string{upstream + "docs/features/traffic-management/istio.md.L70-87.yaml", upstream + "docs/features/traffic-management/istio.md.L95-123.yaml"}
	set, err := manifest.Load(files...)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := manifest.LoadBytes("rollout.yaml", []byte(hostRollout))
	if err != nil {
		t.Fatal(err)
	}
	set.Objects = append(set.Objects, ro.Objects...)
	c := TemplateHash(&ro.Objects[0].Typed.(*rolloutsv1alpha1.Rollout).Spec.Template)
	services := func(stable, canary string) []string {
		return []string{
			"Service canary-svc map[app:rollouts-demo rollouts-pod-template-hash:" + canary + "]",
			"Service stable-svc map[app:rollouts-demo rollouts-pod-template-hash:" + stable + "]",
		}
	}
	header := `VS rollout-vsvc header: agent exact="firefox" prefix="" regex="" | x-canary exact="" prefix="yes" regex="" -> canary-svc=100`
	weights := func(w int) string {
		return fmt.Sprintf("VS rollout-vsvc primary:  -> stable-svc=%d, canary-svc=%d", 100-w, w)
	}
	tests := []struct {
		index    int
		want     []string
		routes   []string
		replicas [2]int32
	}{
		{0, append([]string{weights(20)}, services("stable", c)...), nil, [2]int32{4, 1}},
		{1, append([]string{header, weights(20)}, services("stable", c)...), []string{"header"}, [2]int32{4, 1}},
		{2, append([]string{header, weights(20)}, services("stable", c)...), []string{"header"}, [2]int32{4, 1}},
		{3, append([]string{header, weights(20)}, services("stable", c)...), []string{"header"}, [2]int32{4, 1}},
		{4, append([]string{header, weights(60)}, services("stable", c)...), []string{"header"}, [2]int32{4, 1}},
		{5, append([]string{header, weights(60)}, services("stable", c)...), []string{"header"}, [2]int32{4, 1}},
		{6, append([]string{weights(60)}, services("stable", c)...), nil, [2]int32{4, 1}},
		{7, append([]string{weights(60)}, services("stable", c)...), nil, [2]int32{4, 1}},
		{8, append([]string{weights(0)}, services(c, c)...), nil, [2]int32{4, 0}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.index), func(t *testing.T) {
			in, ros := load(t, set)
			placed, err := AtSteps(&in, ros, []string{fmt.Sprintf("rollouts-demo=%d", tc.index)})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, mesh(in)); diff != "" {
				t.Errorf("mesh (-want +got):\n%s", diff)
			}
			st := placed[0].Step
			if diff := cmp.Diff(tc.routes, st.HeaderRoutes); diff != "" {
				t.Errorf("header routes (-want +got):\n%s", diff)
			}
			if got := [2]int32{st.StableReplicas, st.CanaryReplicas}; got != tc.replicas {
				t.Errorf("replicas stable, canary: %v, want %v", got, tc.replicas)
			}
		})
	}
}

// argoVS is regularVsvc of Argo Rollouts v1.8.3's
// rollout/trafficrouting/istio/istio_test.go.
const argoVS = `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: vsvc
  namespace: default
spec:
  gateways:
  - istio-rollout-gateway
  hosts:
  - istio-rollout.dev.argoproj.io
  http:
  - name: primary
    route:
    - destination:
        host: 'stable'
      weight: 100
    - destination:
        host: canary
      weight: 0
  - name: secondary
    route:
    - destination:
        host: 'stable'
      weight: 100
    - destination:
        host: canary
      weight: 0`

// TestApplyArgoCases are cases of Argo Rollouts v1.8.3's istio_test.go,
// with the VirtualServices Argo's SetHeaderRoute, SetWeight and
// UpdateHash leave.
func TestApplyArgoCases(t *testing.T) {
	hostBased := &rolloutsv1alpha1.Rollout{Spec: rolloutsv1alpha1.RolloutSpec{Strategy: rolloutsv1alpha1.RolloutStrategy{Canary: &rolloutsv1alpha1.CanaryStrategy{
		StableService: "stable", CanaryService: "canary",
		TrafficRouting: &rolloutsv1alpha1.RolloutTrafficRouting{
			ManagedRoutes: []rolloutsv1alpha1.MangedRoutes{{Name: "test-header-route"}},
			Istio:         &rolloutsv1alpha1.IstioTrafficRouting{VirtualService: &rolloutsv1alpha1.IstioVirtualService{Name: "vsvc", Routes: []string{"primary"}}},
		},
	}}}}
	subsetBased := &rolloutsv1alpha1.Rollout{Spec: rolloutsv1alpha1.RolloutSpec{Strategy: rolloutsv1alpha1.RolloutStrategy{Canary: &rolloutsv1alpha1.CanaryStrategy{
		TrafficRouting: &rolloutsv1alpha1.RolloutTrafficRouting{
			ManagedRoutes: []rolloutsv1alpha1.MangedRoutes{{Name: "test-header-route"}},
			Istio: &rolloutsv1alpha1.IstioTrafficRouting{
				VirtualService:  &rolloutsv1alpha1.IstioVirtualService{Name: "vsvc"},
				DestinationRule: &rolloutsv1alpha1.IstioDestinationRule{Name: "istio-destrule", CanarySubsetName: "canary-subset", StableSubsetName: "stable-subset"},
			},
		},
	}}}}
	firefox := []rolloutsv1alpha1.SetHeaderRoute{{Name: "test-header-route", Match: []rolloutsv1alpha1.HeaderRoutingMatch{{HeaderName: "agent", HeaderValue: &rolloutsv1alpha1.StringMatch{Exact: "firefox"}}}}}
	tests := []struct {
		name string
		docs []string
		ro   *rolloutsv1alpha1.Rollout
		st   State
		want []string
	}{{
		// TestHttpReconcileHeaderRouteHostBased: the header route on top,
		// to the canaryService; the named route's weights only.
		name: "header route host based",
		docs: []string{argoVS},
		ro:   hostBased,
		st:   State{HeaderRoutes: firefox},
		want: []string{
			`VS vsvc test-header-route: agent exact="firefox" prefix="" regex="" -> canary=100`,
			"VS vsvc primary:  -> stable=100, canary=0",
			"VS vsvc secondary:  -> stable=100, canary=0",
		},
	}, {
		// TestHttpReconcileWeightsBaseCase: primary gets the weights,
		// secondary is not named and keeps its own.
		name: "weights",
		docs: []string{argoVS},
		ro:   hostBased,
		st:   State{CanaryWeight: 10},
		want: []string{"VS vsvc primary:  -> stable=90, canary=10", "VS vsvc secondary:  -> stable=100, canary=0"},
	}, {
		// TestHttpReconcileHeaderRouteSubsetBased: no route names, one
		// unnamed route; the header route goes to the DestinationRule's
		// host and canary subset; UpdateHash labels the subsets and drops
		// the others (rollout/trafficrouting/istio/istio.go UpdateHash: "Ignore any extraneous
		// subsets").
		name: "header route subset based",
		docs: []string{`apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vsvc, namespace: default}
spec:
  hosts: [istio-rollout.dev.argoproj.io]
  http:
  - route:
    - {destination: {host: 'rollout-service', subset: 'stable-subset', port: {number: 8080}}, weight: 100}
    - {destination: {host: rollout-service, subset: 'canary-subset'}, weight: 0}
    - {destination: {host: rollout-service, subset: 'other'}, weight: 0}`, `apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: istio-destrule, namespace: default}
spec:
  host: rollout-service
  subsets:
  - name: stable-subset
  - name: canary-subset
    labels: {version: v3}
  - name: legacy
    labels: {version: v1}`},
		ro: subsetBased,
		st: State{HeaderRoutes: firefox, CanaryWeight: 30, StableHash: "aaa", CanaryHash: "bbb"},
		want: []string{
			`VS vsvc test-header-route: agent exact="firefox" prefix="" regex="" -> rollout-service/canary-subset:8080=100`,
			"VS vsvc :  -> rollout-service/stable-subset:8080=70, rollout-service/canary-subset=30",
			"DR istio-destrule stable-subset map[rollouts-pod-template-hash:aaa]",
			"DR istio-destrule canary-subset map[rollouts-pod-template-hash:bbb version:v3]",
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, _ := loadYAML(t, tc.docs...)
			Apply(&in, tc.ro, "default", tc.st)
			if diff := cmp.Diff(tc.want, mesh(in)); diff != "" {
				t.Errorf("mesh (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWeightRoutes(t *testing.T) {
	tests := []struct {
		routes []string // route names, "" unnamed
		names  []string
		mirror string // a route with a mirror that managedRoutes names
		want   []int
	}{
		{[]string{"primary"}, nil, "", []int{0}},
		{[]string{"a", "", ""}, nil, "", []int{1}},
		{[]string{"a", "b"}, nil, "", nil},
		{[]string{"a", "b", "c"}, []string{"c", "a", "missing"}, "", []int{2, 0}},
		{[]string{"a", "m"}, []string{"a"}, "m", []int{0, 1}},
	}
	for _, tc := range tests {
		var http []*networking.HTTPRoute
		for _, n := range tc.routes {
			http = append(http, httpRoute(n, n == tc.mirror))
		}
		var managed []rolloutsv1alpha1.MangedRoutes
		if tc.mirror != "" {
			managed = []rolloutsv1alpha1.MangedRoutes{{Name: tc.mirror}}
		}
		if diff := cmp.Diff(tc.want, WeightRoutes(http, tc.names, managed)); diff != "" {
			t.Errorf("routes %q names %q (-want +got):\n%s", tc.routes, tc.names, diff)
		}
	}
}

func httpRoute(name string, mirror bool) *networking.HTTPRoute {
	h := &networking.HTTPRoute{Name: name}
	if mirror {
		h.Mirror = &networking.Destination{Host: "shadow"}
	}
	return h
}

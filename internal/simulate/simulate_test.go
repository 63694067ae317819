package simulate_test

import (
	"errors"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
	"github.com/graylane/graylane/internal/simulate"
)

// shop: web -> (cart, pay); pay -> ledger. pay routes x-lane: gray to v2,
// ledger routes by the caller's version label; cart has no v2 workload.
const shop = `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: cart}
spec: {selector: {app: cart}, ports: [{port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: pay}
spec: {selector: {app: pay}, ports: [{port: 8081}]}
---
apiVersion: v1
kind: Service
metadata: {name: ledger}
spec: {selector: {app: ledger}, ports: [{port: 8082}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web, version: v1}}, spec: {containers: [{name: c, image: web}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart-v1}
spec:
  replicas: 3
  selector: {matchLabels: {app: cart}}
  template: {metadata: {labels: {app: cart, version: v1}}, spec: {containers: [{name: c, image: cart}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: pay-v1}
spec:
  replicas: 3
  selector: {matchLabels: {app: pay}}
  template: {metadata: {labels: {app: pay, version: v1}}, spec: {containers: [{name: c, image: pay}]}}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: pay-v2}
spec:
  replicas: 1
  selector: {matchLabels: {app: pay}}
  template: {metadata: {labels: {app: pay, version: v2}}, spec: {containers: [{name: c, image: pay}]}}
  strategy: {canary: {}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ledger-v1}
spec:
  selector: {matchLabels: {app: ledger}}
  template: {metadata: {labels: {app: ledger, version: v1}}, spec: {containers: [{name: c, image: ledger}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ledger-v2}
spec:
  selector: {matchLabels: {app: ledger}}
  template: {metadata: {labels: {app: ledger, version: v2}}, spec: {containers: [{name: c, image: ledger}]}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: versions}
spec:
  host: "*.default.svc.cluster.local"
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pay}
spec:
  hosts: [pay]
  http:
  - match: [{headers: {x-lane: {exact: gray}}}]
    route: [{destination: {host: pay, subset: v2}}]
  - route: [{destination: {host: pay, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ledger}
spec:
  hosts: [ledger]
  http:
  - match: [{sourceLabels: {version: v2}}]
    route: [{destination: {host: ledger, subset: v2}}]
  - route: [{destination: {host: ledger, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart}
spec:
  hosts: [cart]
  http:
  - match: [{headers: {x-lane: {exact: gray}}}]
    route: [{destination: {host: cart, subset: v2}}]
  - route: [{destination: {host: cart, subset: v1}}]
`

func run(t *testing.T, calls string, propagate []string, headers ...string) *simulate.Report {
	t.Helper()
	set, err := manifest.LoadBytes("shop.yaml", []byte(shop))
	if err != nil {
		t.Fatal(err)
	}
	c, err := simulate.ParseCalls(calls)
	if err != nil {
		t.Fatal(err)
	}
	svcs, ws := expand.Inventory(set)
	entry := route.Request{Authority: "web", Path: "/", Header: http.Header{}, Source: route.Source{Namespace: "default"}}
	for i := 0; i+1 < len(headers); i += 2 {
		entry.Header.Set(headers[i], headers[i+1])
	}
	rep, err := simulate.Run(route.Compile(expand.RouteInput(set)), svcs, ws, simulate.Options{Entry: entry, Calls: c, Propagate: propagate, Requests: 400, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func paths(rep *simulate.Report) []string {
	var out []string
	for _, p := range rep.Paths {
		out = append(out, p.Path)
	}
	return out
}

func TestPropagation(t *testing.T) {
	tests := []struct {
		name      string
		propagate []string
		headers   []string
		want      []string
		mixed     float64
		failed    float64
	}{
		{"no lane header: all v1", []string{"x-lane"}, nil,
			[]string{"web:v1 -> (cart:v1, pay:v1 -> ledger:v1)"}, 0, 0},
		{"lane header carried: pay v2 and ledger follows by source labels; cart has no v2", []string{"x-lane"}, []string{"X-Lane", "gray"},
			[]string{"web:v1 -> (cart:503, pay:v2 -> ledger:v2)"}, 1, 1},
		{"lane header not propagated: stays v1", nil, []string{"X-Lane", "gray"},
			[]string{"web:v1 -> (cart:v1, pay:v1 -> ledger:v1)"}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := run(t, "web->cart,web->pay->ledger", tc.propagate, tc.headers...)
			if diff := cmp.Diff(tc.want, paths(rep)); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
			if rep.MixedFraction != tc.mixed || rep.FailedFraction != tc.failed {
				t.Errorf("mixed %v failed %v, want %v %v", rep.MixedFraction, rep.FailedFraction, tc.mixed, tc.failed)
			}
		})
	}
}

func TestFailedHopExplained(t *testing.T) {
	rep := run(t, "web->cart", []string{"x-lane"}, "X-Lane", "gray")
	want := []string{"no workload behind Service default/cart matches {app=cart,version=v2}: Envoy answers 503 no healthy upstream"}
	if diff := cmp.Diff(want, rep.Findings); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if got := rep.Paths[0].Hops.Calls[0].Problem; got != want[0] {
		t.Errorf("hop problem = %q", got)
	}
}

func TestReplicasWeightTheChoice(t *testing.T) {
	set, err := manifest.LoadBytes("shop.yaml", []byte(shop))
	if err != nil {
		t.Fatal(err)
	}
	svcs, ws := expand.Inventory(set)
	// Without a VirtualService for this host the Service picks among all
	// pods: pay-v1 has 3 replicas, pay-v2 has 1.
	entry := route.Request{Authority: "pay.default.svc.cluster.local", Path: "/", Header: http.Header{}}
	// The table knows the Services (not their VirtualServices); hosts
	// that are not one would leave the mesh (PassthroughCluster).
	tab := route.Compile(route.Input{Services: expand.RouteInput(set).Services})
	rep, err := simulate.Run(tab, svcs, ws, simulate.Options{Entry: entry, Requests: 4000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, p := range rep.Paths {
		got[p.Path] = p.Fraction
	}
	if v1 := got["pay:v1"]; v1 < 0.72 || v1 > 0.78 {
		t.Errorf("pay:v1 fraction %.3f, want about 0.75 (%v)", v1, got)
	}
}

func TestParseCalls(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string][]string
		wantErr bool
	}{
		{"a->b,b->c", map[string][]string{"a": {"b"}, "b": {"c"}}, false},
		{"a->b->c, a->d", map[string][]string{"a": {"b", "d"}, "b": {"c"}}, false},
		{" a -> b ,a->b", map[string][]string{"a": {"b"}}, false},
		{"", map[string][]string{}, false},
		{"a", nil, true},
		{"a->", nil, true},
		{"->b", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := simulate.ParseCalls(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); !tc.wantErr && diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCycle(t *testing.T) {
	calls, _ := simulate.ParseCalls("a->b,b->c,c->a")
	_, err := simulate.Run(route.Compile(route.Input{}), nil, nil, simulate.Options{Calls: calls})
	if !errors.Is(err, simulate.ErrCycle) {
		t.Fatalf("err = %v, want ErrCycle", err)
	}
}

// A lane request is judged by its lane: examples/lanes' lane path meets
// payment v1 on purpose (payment has no lane version, fallback base), so
// it is not mixed; the same request through apps that drop the lane header
// reaches logistics v1, leaves its lane and is mixed (and off-lane).
func TestLaneMixed(t *testing.T) {
	set, err := manifest.Load("../../examples/lanes")
	if err != nil {
		t.Fatal(err)
	}
	lanes, err := expand.Manifests(set)
	if err != nil {
		t.Fatal(err)
	}
	svcs, ws := expand.Inventory(lanes.Set)
	table := route.Compile(expand.RouteInput(lanes.Set))
	type path struct {
		Path, Lane string
		Mixed      bool
		OffLane    string
	}
	tests := []struct {
		name      string
		propagate []string
		want      []path
	}{
		{"apps forward x-graylane", []string{"x-graylane"}, []path{
			{Path: "order:v1 -> payment:v1 -> logistics:v1"},
			{Path: "order:v2 -> payment:v1 -> logistics:v2", Lane: "gray"},
		}},
		{"apps drop it", nil, []path{
			{Path: "order:v1 -> payment:v1 -> logistics:v1"},
			{Path: "order:v2 -> payment:v1 -> logistics:v1", Lane: "gray", Mixed: true,
				OffLane: `logistics served by subset "stable", not the lane's "graylane-gray"`},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := simulate.Options{
				Entry:     route.Request{Authority: "shop.example", Path: "/", Method: "GET", Port: 80, Header: http.Header{}, Source: route.Source{Gateway: "shop/shop-gateway"}},
				Calls:     map[string][]string{"order": {"payment"}, "payment": {"logistics"}},
				Propagate: tc.propagate, Requests: 1000, Seed: 1,
			}
			lanes.SimulateOptions(&opts, time.Now())
			rep, err := simulate.Run(table, svcs, ws, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []path
			laneFraction := 0.0
			for _, p := range rep.Paths {
				got = append(got, path{Path: p.Path, Lane: p.Lane, Mixed: p.Mixed, OffLane: p.OffLane})
				if p.Lane != "" {
					laneFraction += p.Fraction
				}
			}
			sort.Slice(got, func(i, j int) bool { return got[i].Path < got[j].Path })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
			wantMixed := 0.0
			if tc.propagate == nil {
				wantMixed = laneFraction
			}
			if rep.MixedFraction != wantMixed || rep.OffLaneFraction != wantMixed || laneFraction == 0 {
				t.Errorf("mixedFraction %v, offLaneFraction %v, want both %v (lane paths: %v)", rep.MixedFraction, rep.OffLaneFraction, wantMixed, laneFraction)
			}
		})
	}
}

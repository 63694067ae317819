package simulate_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
	"github.com/graylane/graylane/internal/simulate"
)

// Bookinfo's fault-injection task in miniature: jason's ratings calls are
// aborted (500), everyone else's are delayed half of the time; a gRPC
// abort fails the hop with its grpc-status.
const faulty = `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: ratings}
spec: {selector: {app: ratings}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-v1}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, version: v1}}
    spec: {containers: [{name: c, image: x}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ratings-v1}
spec:
  selector: {matchLabels: {app: ratings}}
  template:
    metadata: {labels: {app: ratings, version: v1}}
    spec: {containers: [{name: c, image: x}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    fault: {abort: {percentage: {value: 100.0}, httpStatus: 500}}
    route: [{destination: {host: ratings}}]
  - match: [{headers: {end-user: {exact: grpc}}}]
    fault: {abort: {percentage: {value: 100.0}, grpcStatus: UNAVAILABLE}}
    route: [{destination: {host: ratings}}]
  - fault: {delay: {percentage: {value: 50}, fixedDelay: 7s}}
    route: [{destination: {host: ratings}}]
`

func TestFaults(t *testing.T) {
	set, err := manifest.LoadBytes("faulty.yaml", []byte(faulty))
	if err != nil {
		t.Fatal(err)
	}
	calls, err := simulate.ParseCalls("web->ratings")
	if err != nil {
		t.Fatal(err)
	}
	svcs, ws := expand.Inventory(set)
	tab := route.Compile(expand.RouteInput(set))
	for _, tt := range []struct {
		user   string
		want   map[string]float64
		failed float64
	}{
		{"jason", map[string]float64{"web:v1 -> ratings:500": 1}, 1},
		{"grpc", map[string]float64{"web:v1 -> ratings:grpc-status 14": 1}, 1},
		{"anyone", map[string]float64{"web:v1 -> ratings:v1": 0.5, "web:v1 -> ratings:v1 (delayed)": 0.5}, 0},
	} {
		entry := route.Request{Authority: "web", Path: "/", Header: http.Header{"End-User": {tt.user}}, Source: route.Source{Namespace: "default"}}
		rep, err := simulate.Run(tab, svcs, ws, simulate.Options{Entry: entry, Calls: calls, Propagate: []string{"end-user"}, Requests: 4000, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, p := range rep.Paths {
			got[p.Path] = p.Fraction
		}
		// the delay is drawn per request: 50% within a few percent
		approx := cmp.Comparer(func(a, b float64) bool { return a-b < 0.04 && b-a < 0.04 })
		if diff := cmp.Diff(tt.want, got, approx); diff != "" {
			t.Errorf("%s: paths (-want +got):\n%s", tt.user, diff)
		}
		if rep.FailedFraction != tt.failed {
			t.Errorf("%s: failed %v, want %v", tt.user, rep.FailedFraction, tt.failed)
		}
	}
}

package command_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	routecmd "github.com/graylane/graylane/internal/route/command"
	simulatecmd "github.com/graylane/graylane/internal/simulate/command"
)

// subsetNoPods: subset v3 of reviews names pods no loaded workload has;
// ratings has its Service but no workload in the files.
const subsetNoPods = `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {selector: {app: reviews}, ports: [{port: 9080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: reviews, version: v1}}
  template:
    metadata: {labels: {app: reviews, version: v1}}
    spec: {containers: [{name: app, image: reviews:v1}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v2, namespace: default}
spec:
  replicas: 0
  selector: {matchLabels: {app: reviews, version: v2}}
  template:
    metadata: {labels: {app: reviews, version: v2}}
    spec: {containers: [{name: app, image: reviews:v2}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: v3}}}]
    route: [{destination: {host: reviews, subset: v3}}]
  - match: [{headers: {end-user: {exact: v2}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: default}
spec: {selector: {app: ratings}, ports: [{port: 9080}]}
`

// TestRouteSubsetWithoutPods: a destination whose subset no loaded pod
// carries (v3), or whose pods have no replicas (v2), answers 503 in route
// as in simulate (Istio: no healthy upstream); a served subset and a
// Service whose workloads are not among the files are not judged.
func TestRouteSubsetWithoutPods(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reviews.yaml")
	if err := os.WriteFile(path, []byte(subsetNoPods), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		url, user string
		want      int
	}{
		{"http://reviews:9080/", "v3", 503},
		{"http://reviews:9080/", "v2", 503},
		{"http://reviews:9080/", "", 200},
		{"http://ratings:9080/", "", 200},
	} {
		var hdr []string
		if tc.user != "" {
			hdr = []string{"end-user: " + tc.user}
		}
		var out, errb bytes.Buffer
		o := routecmd.RouteOptions{Files: []string{path}, Output: "json", Request: routecmd.RequestOptions{URL: tc.url, Headers: hdr}}
		if err := routecmd.Route(context.Background(), o, &out, &errb); err != nil {
			t.Fatalf("%s %s: %v", tc.url, tc.user, err)
		}
		var rep routecmd.RouteReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, rep.Status); diff != "" {
			t.Errorf("route %s end-user=%q status (-want +got):\n%s\nfindings: %q", tc.url, tc.user, diff, rep.Findings)
		}
		if tc.url != "http://reviews:9080/" {
			continue
		}
		// simulate answers the same for the same request.
		var sout bytes.Buffer
		so := simulatecmd.SimulateOptions{Files: []string{path}, Output: "json", Requests: 20, Request: routecmd.RequestOptions{URL: tc.url, Headers: hdr}}
		if err := simulatecmd.Simulate(context.Background(), so, &sout, &errb); err != nil {
			t.Fatalf("simulate: %v", err)
		}
		var srep simulatecmd.SimulateReport
		if err := json.Unmarshal(sout.Bytes(), &srep); err != nil {
			t.Fatal(err)
		}
		want := 0.0
		if tc.want != 200 {
			want = 1
		}
		if diff := cmp.Diff(want, srep.FailedFraction); diff != "" {
			t.Errorf("simulate end-user=%q failed fraction (-want +got):\n%s\n%s", tc.user, diff, sout.String())
		}
	}
}

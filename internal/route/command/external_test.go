package command_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	routecmd "github.com/graylane/graylane/internal/route/command"
)

const externalYAML = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: pay, namespace: default}
spec:
  hosts: [pay.example.com]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, labels: {version: v1}}
  - {address: 10.0.0.2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pay}
spec:
  host: pay.example.com
  subsets: [{name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pay}
spec:
  hosts: [pay.example.com]
  http:
  - match: [{headers: {x-pay: {exact: v3}}}]
    route: [{destination: {host: pay.example.com, subset: v3}}]
  - route: [{destination: {host: pay.example.com, subset: v2}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: default}
spec: {hosts: [api.example.com], ports: [{number: 443, name: http, protocol: HTTP}], resolution: DNS}
`

// TestRouteServiceEntry: route reports a ServiceEntry host's destination
// as leaving the mesh to the entry's endpoints (a subset's by their
// labels), whether a VirtualService routes it or not; a subset no
// endpoint carries is 503; a host nothing defines goes to itself.
func TestRouteServiceEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "external.yaml")
	if err := os.WriteFile(path, []byte(externalYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	type dest struct {
		Host, ServiceEntry string
		Port               uint32
		Endpoints          []string
		Problem            bool
	}
	tests := []struct {
		url, header string
		wantStatus  int
		want        []dest
		wantText    string
	}{
		{"http://pay.example.com/", "", 200, []dest{{"pay.example.com", "default/pay", 80, []string{"10.0.0.2:8080"}, false}},
			"100%  pay.example.com:80  subset v2 {version=v2}  (ServiceEntry default/pay: 10.0.0.2:8080)"},
		{"http://pay.example.com/", "x-pay: v3", 503, []dest{{"pay.example.com", "default/pay", 80, nil, true}},
			"(503: no healthy upstream)"},
		{"http://api.example.com:443/", "", 200, []dest{{"api.example.com", "default/api", 443, []string{"api.example.com:443"}, false}},
			"(ServiceEntry default/api: api.example.com:443)"},
		{"http://unknown.example.org/", "", 200, []dest{{"unknown.example.org", "", 80, nil, false}},
			"PassthroughCluster"},
	}
	for _, tt := range tests {
		t.Run(tt.url+" "+tt.header, func(t *testing.T) {
			var hdr []string
			if tt.header != "" {
				hdr = []string{tt.header}
			}
			var out, text, errb bytes.Buffer
			o := routecmd.RouteOptions{Files: []string{path}, Output: "json", Request: routecmd.RequestOptions{URL: tt.url, Headers: hdr}}
			if err := routecmd.Route(context.Background(), o, &out, &errb); err != nil {
				t.Fatal(err)
			}
			var rep routecmd.RouteReport
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatal(err)
			}
			var got []dest
			for _, d := range rep.Destinations {
				got = append(got, dest{d.Host, d.ServiceEntry, d.Port, d.Endpoints, d.Problem != ""})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("destinations (-want +got):\n%s", diff)
			}
			if rep.Status != tt.wantStatus {
				t.Errorf("status %d, want %d; findings %q", rep.Status, tt.wantStatus, rep.Findings)
			}
			o.Output = "text"
			if err := routecmd.Route(context.Background(), o, &text, &errb); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), tt.wantText) {
				t.Errorf("text lacks %q:\n%s", tt.wantText, text.String())
			}
		})
	}
}

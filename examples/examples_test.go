// Package examples holds the manifests of the seed documents; this test
// checks each claim the seed text makes about them.
package examples

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
	routecmd "github.com/graylane/graylane/internal/route/command"
	"github.com/graylane/graylane/internal/simulate"
)

type fixture struct {
	table     *route.Table
	services  []simulate.Service
	workloads []simulate.Workload
}

func load(t *testing.T, paths ...string) fixture {
	t.Helper()
	set, err := manifest.Load(paths...)
	if err != nil {
		t.Fatalf("load %v: %v", paths, err)
	}
	svcs, ws := expand.Inventory(set)
	return fixture{table: route.Compile(expand.RouteInput(set)), services: svcs, workloads: ws}
}

// split is "subset:weight" of each destination, e.g. "v1:10 v2:90".
func (f fixture) split(t *testing.T, gateway, url string, labels map[string]string, headers ...string) string {
	t.Helper()
	r := request(gateway, url, labels, headers...)
	rep := routecmd.Evaluate(f.table, r, true)
	var parts []string
	for _, d := range rep.Destinations {
		name := d.Subset
		if name == "" {
			name = d.Host
		}
		parts = append(parts, name+":"+strconv.Itoa(int(d.Weight)))
	}
	return strings.Join(parts, " ")
}

func (f fixture) simulate(t *testing.T, gateway, url, calls string, n int, headers ...string) *simulate.Report {
	t.Helper()
	c, err := simulate.ParseCalls(calls)
	if err != nil {
		t.Fatal(err)
	}
	r := request(gateway, url, nil, headers...)
	rep, err := simulate.Run(f.table, f.services, f.workloads, simulate.Options{Entry: *r, Calls: c, Requests: n, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func request(gateway, url string, labels map[string]string, headers ...string) *route.Request {
	scheme, rest, _ := strings.Cut(url, "://")
	authority, path, _ := strings.Cut(rest, "/")
	r := &route.Request{Scheme: scheme, Authority: authority, Path: "/" + path, Method: "GET", Header: http.Header{},
		Source: route.Source{Gateway: gateway, Labels: labels, Namespace: "default"}}
	if gateway != "" {
		r.Source.Namespace, _, _ = strings.Cut(gateway, "/")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		r.Header.Add(k, strings.TrimSpace(v))
	}
	return r
}

func fractions(rep *simulate.Report) map[string]float64 {
	out := map[string]float64{}
	for _, p := range rep.Paths {
		out[p.Path] = p.Fraction
	}
	return out
}

const gw = "istio-system/app-gw"

// Seed 004, 三/四: gateway traffic to appa splits v1:v2 = 1:9, appb keeps
// appa's version; mesh traffic to appa goes to v1 only.
func TestSeed004Routing(t *testing.T) {
	f := load(t, "seed004")
	tests := []struct {
		name, gateway, url string
		labels             map[string]string
		want               string
	}{
		{"gateway splits appa 10/90", gw, "http://192.168.1.106:86/", nil, "v1:10 v2:90"},
		{"mesh sends appa to v1", "", "http://appa:8000/", nil, "v1:100 v2:0"},
		{"appb serves appa v1 callers from v1", "", "http://appb:8000/", map[string]string{"app": "appa", "version": "v1"}, "v1:100"},
		{"appb serves appa v2 callers from v2", "", "http://appb:8000/", map[string]string{"app": "appa", "version": "v2"}, "v2:100"},
		{"appb's last route catches the rest", "", "http://appb:8000/", map[string]string{"app": "other"}, "v1:100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, f.split(t, tc.gateway, tc.url, tc.labels)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	rep := f.simulate(t, gw, "http://192.168.1.106:86/", "appa->appb", 2000)
	got := fractions(rep)
	if rep.MixedFraction != 0 || rep.FailedFraction != 0 {
		t.Errorf("mixed %v failed %v, want 0 and 0: %v", rep.MixedFraction, rep.FailedFraction, got)
	}
	if v1 := got["appa:v1 -> appb:v1"]; math.Abs(v1-0.10) > 0.03 {
		t.Errorf("appa:v1 -> appb:v1 fraction %.3f, want about 0.10 (%v)", v1, got)
	}
	mesh := f.simulate(t, "", "http://appa:8000/", "appa->appb", 500)
	if diff := cmp.Diff(map[string]float64{"appa:v1 -> appb:v1": 1}, fractions(mesh)); diff != "" {
		t.Errorf("mesh paths (-want +got):\n%s", diff)
	}
}

// Seed 004, 五: with header "version: v1|v2" gateway traffic goes to that
// version; otherwise gateway and mesh traffic split 8:2.
func TestSeed004HeaderRouting(t *testing.T) {
	f := load(t, "seed004", "seed004-headers")
	tests := []struct {
		name, gateway, url string
		headers            []string
		want               string
	}{
		{"version: v1 goes to v1", gw, "http://192.168.1.106/", []string{"version: v1"}, "v1:100"},
		{"version: v2 goes to v2", gw, "http://192.168.1.106/", []string{"version: v2"}, "v2:100"},
		{"other header values split 8:2", gw, "http://192.168.1.106/", []string{"version: v3"}, "v1:80 v2:20"},
		{"no header splits 8:2", gw, "http://192.168.1.106/", nil, "v1:80 v2:20"},
		{"mesh splits 8:2", "", "http://appa:8000/", nil, "v1:80 v2:20"},
		{"mesh ignores the gateway-only header routes", "", "http://appa:8000/", []string{"version: v2"}, "v1:80 v2:20"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, f.split(t, tc.gateway, tc.url, nil, tc.headers...)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	rep := f.simulate(t, gw, "http://192.168.1.106/", "appa->appb", 200, "version: v2")
	if diff := cmp.Diff(map[string]float64{"appa:v2 -> appb:v2": 1}, fractions(rep)); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}

// Seed 004 as published has an indentation slip in routing.yaml: the
// loader names the file and line.
func TestSeed004BrokenRouting(t *testing.T) {
	_, err := manifest.Load("seed004-broken")
	var list manifest.ErrorList
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("error = %v, want one located error", err)
	}
	if got, want := list[0].Pos.String(), "seed004-broken/routing.yaml:115"; got != want {
		t.Errorf("position = %s, want %s (%v)", got, want, list[0])
	}
}

// Seed 002, 3.3.1: a tenantGray=1 cookie goes to gray, everything else to
// prod; 3.3.2: 20% to gray.
func TestSeed002(t *testing.T) {
	f := load(t, "seed002")
	web := map[string]string{"app": "web"}
	cases := []struct {
		cookie string
		want   string
	}{
		{"tenantGray=1; rememberMe=; channel=", "test-a.gray.svc.cluster.local:100"},
		{"tenantGray=0; rememberMe=; channel=", "test-a.prod.svc.cluster.local:100"},
		{"", "test-a.prod.svc.cluster.local:100"},
	}
	for _, tc := range cases {
		t.Run("cookie "+tc.cookie, func(t *testing.T) {
			r := request("", "http://test-A:8080/", web)
			r.Source.Namespace = "prod"
			if tc.cookie != "" {
				r.Header.Set("Cookie", tc.cookie)
			}
			rep := routecmd.Evaluate(f.table, r, true)
			got := rep.Destinations[0].Host + ":" + strconv.Itoa(int(rep.Destinations[0].Weight))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	p := load(t, "seed002", "seed002-percentage")
	r := request("", "http://test-A:8080/", web)
	r.Source.Namespace = "prod"
	rep := routecmd.Evaluate(p.table, r, true)
	if got := []int32{rep.Destinations[0].Weight, rep.Destinations[1].Weight}; !cmp.Equal(got, []int32{20, 80}) {
		t.Errorf("weights %v, want [20 80]", got)
	}
}

// Seed 003: every service pinned to subset v1, so a request meets v1 on
// every hop even while the order-service Rollout has a v2 template.
func TestSeed003(t *testing.T) {
	f := load(t, "seed003")
	rep := f.simulate(t, "", "http://order-service:8080/", "order-service->payment-service->logistics-service", 300)
	want := map[string]float64{"order-service:v1 -> payment-service:v1 -> logistics-service:v1": 1}
	if diff := cmp.Diff(want, fractions(rep)); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}

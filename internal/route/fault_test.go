package route

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func readTestdata(t *testing.T, names ...string) string {
	t.Helper()
	var docs []string
	for _, n := range names {
		b, err := os.ReadFile("testdata/" + n)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	out := ""
	for i, d := range docs {
		if i > 0 {
			out += "\n---\n"
		}
		out += d
	}
	return out
}

// Bookinfo's fault-injection task: jason's ratings requests are aborted
// with 500 (ratings-test-abort) or wait 7s (ratings-test-delay); others
// go through. fault-injection-details-v1 aborts every details request
// with 555.
func TestBookinfoFaults(t *testing.T) {
	const nw = "istio/samples/bookinfo/networking/"
	tests := []struct {
		file, host string
		headers    []string
		want       *Fault
	}{
		{"virtual-service-ratings-test-abort.yaml", "ratings", []string{"end-user: jason"}, &Fault{AbortStatus: 500, AbortPercent: 100}},
		{"virtual-service-ratings-test-abort.yaml", "ratings", nil, nil},
		{"virtual-service-ratings-test-delay.yaml", "ratings", []string{"end-user: jason"}, &Fault{Delay: 7 * time.Second, DelayPercent: 100}},
		{"virtual-service-ratings-test-delay.yaml", "ratings", []string{"end-user: someone"}, nil},
		{"fault-injection-details-v1.yaml", "details", nil, &Fault{AbortStatus: 555, AbortPercent: 100}},
	}
	for _, tt := range tests {
		tab := compileYAML(t, readTestdata(t, nw+tt.file, nw+"destination-rule-all.yaml"))
		for _, f := range tab.Findings {
			if f.Severity == Error {
				t.Errorf("%s: %s %s: %s", tt.file, f.Object, f.Path, f.Message)
			}
		}
		r := req("GET", "http://"+tt.host+"/", tt.headers...)
		res := tab.Evaluate(r)
		if res.Route == nil {
			t.Fatalf("%s %v: no route", tt.file, tt.headers)
		}
		if diff := cmp.Diff(tt.want, res.Route.Fault, cmpopts.IgnoreUnexported(Fault{})); diff != "" {
			t.Errorf("%s %v: fault (-want +got):\n%s", tt.file, tt.headers, diff)
		}
		if tt.want == nil {
			continue
		}
		// 100%: every draw is injected.
		for _, x := range []uint32{0, 500000, 999999} {
			in := res.Route.Fault.Inject(x, x)
			if in.Abort != (tt.want.AbortStatus != 0) || in.Delay != tt.want.Delay || in.Status != tt.want.AbortStatus {
				t.Errorf("%s: Inject(%d) = %+v", tt.file, x, in)
			}
		}
	}
}

// Percentages are parts per million as istiod writes them; delay and
// abort are drawn independently; a gRPC abort answers 200 with the code.
func TestFaultInject(t *testing.T) {
	tab := compileYAML(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: shop}
spec:
  hosts: [a]
  http:
  - match: [{uri: {prefix: /both}}]
    fault:
      delay: {fixedDelay: 250ms, percentage: {value: 0.5}}
      abort: {httpStatus: 503, percentage: {value: 25}}
    route: [{destination: {host: a}}]
  - match: [{uri: {prefix: /grpc}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: a}}]
  - match: [{uri: {prefix: /nopercent}}]
    fault: {delay: {fixedDelay: 1s}, abort: {httpStatus: 500}}
    route: [{destination: {host: a}}]
  - match: [{uri: {prefix: /old}}]
    fault: {delay: {fixedDelay: 1s, percent: 10}}
    route: [{destination: {host: a}}]
`)
	get := func(path string) *Fault {
		r := req("GET", "http://a"+path)
		r.Source.Namespace = "shop"
		return tab.Evaluate(r).Route.Fault
	}
	both := get("/both")
	for _, tt := range []struct {
		d, a uint32
		want Injection
	}{
		{0, 0, Injection{Delay: 250 * time.Millisecond, Abort: true, Status: 503}},
		{4999, 249999, Injection{Delay: 250 * time.Millisecond, Abort: true, Status: 503}},
		{5000, 250000, Injection{}},
		{4999, 250000, Injection{Delay: 250 * time.Millisecond}},
		{5000, 0, Injection{Abort: true, Status: 503}},
	} {
		if diff := cmp.Diff(tt.want, both.Inject(tt.d, tt.a)); diff != "" {
			t.Errorf("Inject(%d, %d) (-want +got):\n%s", tt.d, tt.a, diff)
		}
	}
	if got, want := get("/grpc").Inject(0, 0), (Injection{Abort: true, Status: 200, GRPCStatus: "14"}); got != want {
		t.Errorf("grpc: got %+v, want %+v", got, want)
	}
	// no percentage: nothing is injected (Istio: "If left unspecified, no
	// request will be delayed / aborted").
	if got := get("/nopercent").Inject(0, 0); got != (Injection{}) {
		t.Errorf("no percentage: got %+v", got)
	}
	// the deprecated integer percent still counts.
	if got := get("/old").Inject(99999, 0); got.Delay != time.Second {
		t.Errorf("percent 10: got %+v", got)
	}
	if got := get("/old").Inject(100000, 0); got.Delay != 0 {
		t.Errorf("percent 10, draw 10%%: got %+v", got)
	}
	if got, want := both.String(), "delay 250ms for 0.5% of requests, abort 503 for 25% of requests"; got != want {
		t.Errorf("String: got %q, want %q", got, want)
	}
}

func TestFaultRejected(t *testing.T) {
	tab := compileYAML(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: f, namespace: shop}
spec:
  hosts: [f]
  http:
  - fault: {}
    route: [{destination: {host: f}}]
  - fault: {abort: {httpStatus: 700, percentage: {value: 10}}}
    route: [{destination: {host: f}}]
  - fault: {abort: {grpcStatus: NOPE}}
    route: [{destination: {host: f}}]
  - fault: {delay: {exponentialDelay: 1s}}
    route: [{destination: {host: f}}]
  - fault: {delay: {fixedDelay: 0.0001s, percentage: {value: 101}}}
    route: [{destination: {host: f}}]
  - fault: {abort: {http2Error: CANCEL}}
    route: [{destination: {host: f}}]
`)
	var got []string
	for _, f := range tab.Findings {
		if f.Severity == Error {
			got = append(got, f.Path)
		}
	}
	want := []string{
		"spec.http[0].fault",
		"spec.http[1].fault.abort.httpStatus",
		"spec.http[2].fault.abort.grpcStatus",
		"spec.http[3].fault.delay.exponentialDelay",
		"spec.http[4].fault.delay.percentage",
		"spec.http[4].fault.delay.fixedDelay",
		"spec.http[5].fault.abort.http2Error",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rejections (-want +got):\n%s", diff)
	}
}

// Istio's mirroring task: httpbin v1 serves, v2 gets a copy of every
// request (mirrorPercent: 100, the deprecated integer form).
func TestMirroringTask(t *testing.T) {
	const task = "istio.io/content/en/docs/tasks/traffic-management/mirroring/"
	in := readTestdata(t, task+"snip_creating_a_default_routing_policy_1.yaml")
	// the task's second step replaces the VirtualService of the first
	vs := readTestdata(t, task+"snip_mirroring_traffic_to_v2_1.yaml")
	docs := ""
	for _, d := range splitDocs(in) {
		if !strings.Contains(d, "kind: VirtualService") {
			docs += d + "\n---\n"
		}
	}
	tab := compileYAML(t, docs+vs)
	res := tab.Evaluate(req("GET", "http://httpbin:8000/headers"))
	if res.Route == nil {
		t.Fatalf("no route: %v", res.Reason)
	}
	want := []Mirror{{Destination: Destination{Host: "httpbin.default.svc.cluster.local", Subset: "v2", Labels: map[string]string{"version": "v2"}, DestinationRule: "default/httpbin"}, Percent: 100}}
	if diff := cmp.Diff(want, res.Route.Mirrors, cmpopts.IgnoreUnexported(Mirror{})); diff != "" {
		t.Errorf("mirrors (-want +got):\n%s", diff)
	}
	m := res.Route.Mirrors[0]
	if !m.Sample(0) || !m.Sample(999999) {
		t.Errorf("100%%: not every request is mirrored")
	}
}

func TestMirrorPercentAndRejections(t *testing.T) {
	tab := compileYAML(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: shop}
spec:
  hosts: [a]
  http:
  - match: [{uri: {prefix: /some}}]
    route: [{destination: {host: a}}]
    mirror: {host: a-copy}
    mirrorPercentage: {value: 12.5}
  - match: [{uri: {prefix: /zero}}]
    route: [{destination: {host: a}}]
    mirror: {host: a-copy}
    mirrorPercentage: {value: 0}
  - route: [{destination: {host: a}}]
    mirrors: [{destination: {host: b}}, {destination: {host: c}, percentage: {value: 50}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad, namespace: shop}
spec:
  hosts: [bad]
  http:
  - route: [{destination: {host: bad}}]
    mirror: {host: xx}
    mirrors: [{destination: {host: yy}, percentage: {value: 101}}]
`)
	get := func(path string) []Mirror {
		r := req("GET", "http://a"+path)
		r.Source.Namespace = "shop"
		return tab.Evaluate(r).Route.Mirrors
	}
	some := get("/some")
	if len(some) != 1 || some[0].Percent != 12.5 || !some[0].Sample(124999) || some[0].Sample(125000) {
		t.Errorf("12.5%%: %+v", some)
	}
	if z := get("/zero"); len(z) != 0 {
		t.Errorf("an explicit 0%% mirrors nothing, got %+v", z)
	}
	var hosts []string
	for _, m := range get("/other") {
		hosts = append(hosts, fmt.Sprintf("%s %v", m.Host, m.Percent))
	}
	if diff := cmp.Diff([]string{"b.shop.svc.cluster.local 100", "c.shop.svc.cluster.local 50"}, hosts); diff != "" {
		t.Errorf("mirrors (-want +got):\n%s", diff)
	}
	var rej []string
	for _, f := range tab.Findings {
		if f.Severity == Error {
			rej = append(rej, f.Object+" "+f.Path)
		}
	}
	if diff := cmp.Diff([]string{"VirtualService shop/bad spec.http[0]", "VirtualService shop/bad spec.http[0].mirrors[0].percentage"}, rej); diff != "" {
		t.Errorf("rejections (-want +got):\n%s", diff)
	}
	for in, want := range map[string]string{"b": "b-shadow", "b:8080": "b-shadow:8080", "10.0.0.1:80": "10.0.0.1-shadow:80", "a.b.c": "a.b.c-shadow"} {
		if got := ShadowHost(in); got != want {
			t.Errorf("ShadowHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func splitDocs(s string) []string { return strings.Split(s, "\n---\n") }

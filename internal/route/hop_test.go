package route

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const hopYAML = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: multi, namespace: default}
spec: {selector: {app: multi}, ports: [{name: http, port: 8080}, {name: http-admin, port: 9090}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec: {hosts: [ext.example.com], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy, namespace: default}
spec:
  hosts: [legacy.nacos]
  addresses: [10.0.0.7]
  ports: [{number: 9001, name: http-9001, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.7}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: short, namespace: default}
spec: {hosts: [mainframe], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy-admin, namespace: default}
spec:
  hosts: [legacy-admin.nacos]
  addresses: [10.0.0.7]
  ports: [{number: 9002, name: http-9002, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.7}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: default}
spec:
  host: web
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: 8080, name: http-alt, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge, namespace: default}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/gw]
  http:
  - match: [{uri: {prefix: /redirect}}]
    redirect: {uri: /new, authority: other.example.com}
  - match: [{uri: {prefix: /direct}}]
    directResponse: {status: 418, body: {string: teapot}}
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: web}}]
  - match: [{uri: {prefix: /delay}}]
    fault: {delay: {fixedDelay: 2s, percentage: {value: 100}}}
    route: [{destination: {host: web, subset: v2}}]
  - match: [{uri: {prefix: /missing}}]
    route: [{destination: {host: web, subset: v9}}]
  - match: [{uri: {prefix: /fault-abort-missing}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: web, subset: v9}}]
  - match: [{uri: {prefix: /fault-delay-missing}}]
    fault: {delay: {fixedDelay: 1s, percentage: {value: 100}}}
    route: [{destination: {host: web, subset: v9}}]
  - match: [{uri: {prefix: /fault-delay-multi}}]
    fault: {delay: {fixedDelay: 1s, percentage: {value: 100}}}
    route: [{destination: {host: multi}}]
  - match: [{uri: {prefix: /ext-port}}]
    route: [{destination: {host: ext.example.com, port: {number: 8443}}}]
  - match: [{uri: {prefix: /ext}}]
    route: [{destination: {host: ext.example.com}}]
  - match: [{uri: {prefix: /multi}}]
    route: [{destination: {host: multi}}]
  - match: [{uri: {prefix: /admin}}]
    route: [{destination: {host: multi, port: {number: 9090}}}]
  - match: [{uri: {prefix: /api/}}]
    rewrite: {uri: /v2/, authority: inner.example.com}
    headers:
      request: {set: {x-route: edge}}
      response: {add: {x-served-by: edge}, remove: [server]}
    mirror: {host: web, subset: v1}
    mirrorPercentage: {value: 50}
    timeout: 3s
    retries: {attempts: 5, retryOn: 5xx}
    route:
    - destination: {host: web, subset: v1}
      weight: 0
    - destination: {host: web, subset: v2}
      weight: 100
      headers: {request: {add: {x-dest: v2}}, response: {set: {x-version: v2}}}
  - route: [{destination: {host: web}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: strict, namespace: default}
spec:
  hosts: [strict.example.com]
  gateways: [istio-system/gw]
  http:
  - match: [{uri: {exact: /only}}]
    route: [{destination: {host: web}}]
`

// constRand draws the same number every time (modulo n).
type constRand uint32

func (c constRand) Uint32N(n uint32) uint32 { return uint32(c) % n }

// hopSummary is the comparable part of a Hop.
type hopSummary struct {
	Outcome            string
	Status             int
	Flags              string
	Host, Subset       string
	Port               uint32
	Target, Authority  string
	NotService         bool
	External           string // the ServiceEntry
	Passthrough        bool
	Problem            bool
	Delay              time.Duration
	Timeout            time.Duration
	Attempts, Mirrors  int
	VirtualService     string
	DestinationDefined bool
}

func summarizeHop(h Hop) hopSummary {
	s := hopSummary{Outcome: h.Outcome.String(), Status: h.Status, Flags: h.Flags, Host: strings.TrimSuffix(h.Host, ".default.svc.cluster.local"), Subset: h.Subset,
		Port: h.Port, Target: h.Target, Authority: h.Authority, NotService: h.NotService, Problem: h.Problem != "", Delay: h.Fault.Delay,
		Timeout: h.Policy.Timeout, Mirrors: len(h.Mirrors), DestinationDefined: h.Destination != nil, Passthrough: h.Passthrough}
	if h.External != nil {
		s.External = h.External.ServiceEntry
	}
	if h.Policy.Retries != nil {
		s.Attempts = h.Policy.Retries.Attempts
	}
	if h.Route != nil {
		s.VirtualService = h.Route.VirtualService
	}
	return s
}

// Every outcome of a hop, at a gateway and in the mesh.
func TestHop(t *testing.T) {
	tab := compileYAML(t, hopYAML)
	for _, f := range tab.Findings {
		if f.Severity == Error && !strings.Contains(f.Message, "v9") {
			t.Fatalf("finding: %s", f)
		}
	}
	gw := func(url string) *Request {
		r := req("GET", url)
		if r.Port == 0 {
			r.Port = 80
		}
		r.Source = Source{Gateway: "istio-system/gw", Namespace: "istio-system"}
		return r
	}
	mesh := func(url string) *Request {
		r := req("GET", url)
		r.Source = Source{Namespace: "default"}
		return r
	}
	const edge = "default/edge"
	tests := []hopCase{
		{"no virtual host", gw("http://nowhere.example.com/"), hopSummary{Outcome: "not routed", Status: 404, Flags: "NR", Port: 80, Target: "/", Attempts: 2}},
		{"no route", gw("http://strict.example.com/other"), hopSummary{Outcome: "not routed", Status: 404, Flags: "NR", Port: 80, Target: "/other", Attempts: 2}},
		{"redirect", gw("http://shop.example.com/redirect"), hopSummary{Outcome: "redirect", Status: 301, Port: 80, Target: "/redirect", Attempts: 2, VirtualService: edge}},
		{"direct response", gw("http://shop.example.com/direct"), hopSummary{Outcome: "direct response", Status: 418, Port: 80, Target: "/direct", Attempts: 2, VirtualService: edge}},
		{"fault abort 100%", gw("http://shop.example.com/abort"), hopSummary{Outcome: "fault abort", Status: 503, Flags: "FI", Host: "web", Port: 80, Target: "/abort",
			Attempts: 2, VirtualService: edge, DestinationDefined: true}},
		{"fault delay 100%", gw("http://shop.example.com/delay"), hopSummary{Outcome: "forward", Status: 200, Flags: "DI", Host: "web", Subset: "v2", Port: 80, Target: "/delay",
			Delay: 2 * time.Second, Attempts: 2, VirtualService: edge, DestinationDefined: true}},
		{"missing subset", gw("http://shop.example.com/missing"), hopSummary{Outcome: "unavailable", Status: 503, Flags: "NR", Host: "web", Subset: "v9", Port: 80, Target: "/missing",
			Problem: true, Attempts: 2, VirtualService: edge, DestinationDefined: true}},
		// Envoy's fault filter runs before its router finds no cluster.
		{"fault abort, missing subset: the abort answers", gw("http://shop.example.com/fault-abort-missing"), hopSummary{Outcome: "fault abort", Status: 418, Flags: "FI", Host: "web", Subset: "v9",
			Port: 80, Target: "/fault-abort-missing", Attempts: 2, VirtualService: edge, DestinationDefined: true}},
		{"fault delay, missing subset: delayed, then 503", gw("http://shop.example.com/fault-delay-missing"), hopSummary{Outcome: "unavailable", Status: 503, Flags: "NR,DI", Host: "web", Subset: "v9",
			Port: 80, Target: "/fault-delay-missing", Problem: true, Delay: time.Second, Attempts: 2, VirtualService: edge, DestinationDefined: true}},
		{"fault delay, no cluster for the port: delayed, then 503", gw("http://shop.example.com/fault-delay-multi"), hopSummary{Outcome: "unavailable", Status: 503, Flags: "DI,NC", Host: "multi",
			Port: 80, Target: "/fault-delay-multi", Problem: true, Delay: time.Second, Attempts: 2, VirtualService: edge, DestinationDefined: true}},
		// A ServiceEntry host has clusters, one per port of the entry
		// (it was 503 NR "not a Service" before Graylane sent to them).
		{"ServiceEntry host: its cluster", gw("http://shop.example.com/ext"), hopSummary{Outcome: "forward", Status: 200, Host: "ext.example.com", Port: 80, Target: "/ext",
			External: "default/ext", Attempts: 2, VirtualService: edge, DestinationDefined: true}},
		{"ServiceEntry host, a port it does not have: no cluster", gw("http://shop.example.com/ext-port"), hopSummary{Outcome: "unavailable", Status: 503, Flags: "NC", Host: "ext.example.com", Port: 8443,
			Target: "/ext-port", Problem: true, Attempts: 2, VirtualService: edge, DestinationDefined: true}},
		{"passthrough to a ServiceEntry host", mesh("http://ext.example.com/x"), hopSummary{Outcome: "forward", Status: 200, Host: "ext.example.com", Port: 80, Target: "/x",
			External: "default/ext", Attempts: 2}},
		{"passthrough to a ServiceEntry address", mesh("http://10.0.0.7:9001/x"), hopSummary{Outcome: "forward", Status: 200, Host: "10.0.0.7", Port: 9001, Target: "/x",
			External: "default/legacy", Attempts: 2}},
		{"passthrough to an address two ServiceEntries share: the one with the port", mesh("http://10.0.0.7:9002/x"), hopSummary{Outcome: "forward", Status: 200, Host: "10.0.0.7", Port: 9002, Target: "/x",
			External: "default/legacy-admin", Attempts: 2}},
		{"passthrough to a ServiceEntry's short host, as written", mesh("http://mainframe/x"), hopSummary{Outcome: "forward", Status: 200, Host: "mainframe", Port: 80, Target: "/x",
			External: "default/short", Attempts: 2}},
		{"passthrough to a ServiceEntry address on a port none has", mesh("http://10.0.0.7:9003/x"), hopSummary{Outcome: "forward", Status: 200, Host: "10.0.0.7", Port: 9003, Target: "/x",
			Passthrough: true}},
		// On a port the entry does not have, the host is unknown to the
		// sidecar's listener of that port: the catch-all route takes it.
		{"passthrough to a ServiceEntry host on another port", mesh("http://ext.example.com:8443/x"), hopSummary{Outcome: "forward", Status: 200, Host: "ext.example.com", Port: 8443, Target: "/x",
			Passthrough: true}},
		{"multi-port Service without the listener port: no cluster", gw("http://shop.example.com/multi"), hopSummary{Outcome: "unavailable", Status: 503, Flags: "NC", Host: "multi", Port: 80,
			Target: "/multi", Problem: true, Attempts: 2, VirtualService: edge, DestinationDefined: true}},
		{"multi-port Service with the listener port", gw("http://shop.example.com:8080/multi"), hopSummary{Outcome: "forward", Status: 200, Host: "multi", Port: 8080,
			Target: "/multi", Attempts: 2, VirtualService: edge, DestinationDefined: true}},
		{"multi-port Service, port named by the route", gw("http://shop.example.com/admin"), hopSummary{Outcome: "forward", Status: 200, Host: "multi", Port: 9090,
			Target: "/admin", Attempts: 2, VirtualService: edge, DestinationDefined: true}},
		{"rewrite, headers, mirror, timeout, retries, weight 0/100", gw("http://shop.example.com/api/items?x=1"), hopSummary{Outcome: "forward", Status: 200, Host: "web", Subset: "v2", Port: 80,
			Target: "/v2/items?x=1", Authority: "inner.example.com", Timeout: 3 * time.Second, Attempts: 5, Mirrors: 1, VirtualService: edge, DestinationDefined: true}},
		{"catch-all route: the Service's only port", gw("http://shop.example.com:8080/"), hopSummary{Outcome: "forward", Status: 200, Host: "web", Port: 80, Target: "/",
			Attempts: 2, VirtualService: edge, DestinationDefined: true}},
		{"passthrough to a Service", mesh("http://web/p"), hopSummary{Outcome: "forward", Status: 200, Host: "web", Port: 80, Target: "/p", Attempts: 2}},
		// Istio's default outboundTrafficPolicy ALLOW_ANY sends it to its
		// original destination (PassthroughCluster); it was 503 NR before.
		{"passthrough to a host nothing defines: no retries", mesh("http://nope/"), hopSummary{Outcome: "forward", Status: 200, Host: "nope", Port: 80, Target: "/",
			Passthrough: true}},
	}
	checkHops(t, tab, tests)
}

// TestHopRegistryOnly: under outboundTrafficPolicy REGISTRY_ONLY a host
// nothing defines is answered 502 by the sidecar's catch-all route
// (BlackHoleCluster); ServiceEntry hosts still have their clusters, and a
// route's destination nothing defines is still 503 (no cluster).
func TestHopRegistryOnly(t *testing.T) {
	in := inputYAML(t, hopYAML)
	in.Outbound = RegistryOnly
	tab := Compile(in)
	mesh := func(url string) *Request {
		r := req("GET", url)
		r.Source = Source{Namespace: "default"}
		return r
	}
	tests := []hopCase{
		{"a host nothing defines", mesh("http://nope/"), hopSummary{Outcome: "blocked", Status: 502, Host: "nope", Port: 80, Target: "/", Attempts: 2}},
		{"an address nothing defines", mesh("http://10.0.0.8:9001/"), hopSummary{Outcome: "blocked", Status: 502, Host: "10.0.0.8", Port: 9001, Target: "/", Attempts: 2}},
		{"a ServiceEntry host", mesh("http://ext.example.com/x"), hopSummary{Outcome: "forward", Status: 200, Host: "ext.example.com", Port: 80, Target: "/x",
			External: "default/ext", Attempts: 2}},
		{"a Service", mesh("http://web/p"), hopSummary{Outcome: "forward", Status: 200, Host: "web", Port: 80, Target: "/p", Attempts: 2}},
	}
	checkHops(t, tab, tests)
}

// The draws: the weighted pick takes the first, the fault the next two;
// a route without a fault draws nothing more.
func TestHopDraws(t *testing.T) {
	tab := compileYAML(t, `apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec: {host: web, subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - fault:
      delay: {fixedDelay: 1s, percentage: {value: 50}}
      abort: {httpStatus: 500, percentage: {value: 25}}
    route:
    - {destination: {host: web, subset: v1}, weight: 30}
    - {destination: {host: web, subset: v2}, weight: 70}
`)
	r := req("GET", "http://web/")
	res := tab.Evaluate(r)
	tests := []struct {
		draws              []uint32
		wantSubset, wantFl string
		wantStatus         int
	}{
		{[]uint32{0, 999_999, 999_999}, "v1", "", 200},
		{[]uint32{29, 0, 999_999}, "v1", "DI", 200},
		{[]uint32{30, 999_999, 0}, "v2", "FI", 500},
		{[]uint32{99, 499_999, 249_999}, "v2", "DI,FI", 500},
		{[]uint32{99, 500_000, 250_000}, "v2", "", 200},
	}
	for _, tt := range tests {
		s := &seqRand{draws: tt.draws}
		h := tab.Hop(r, &res, s)
		if h.Subset != tt.wantSubset || h.Flags != tt.wantFl || h.Status != tt.wantStatus || s.next != 3 {
			t.Errorf("draws %v: got subset %s flags %q status %d after %d draws, want %s %q %d after 3",
				tt.draws, h.Subset, h.Flags, h.Status, s.next, tt.wantSubset, tt.wantFl, tt.wantStatus)
		}
	}
}

type seqRand struct {
	draws []uint32
	next  int
}

func (s *seqRand) Uint32N(n uint32) uint32 {
	x := s.draws[s.next] % n
	s.next++
	return x
}

// Header operations: the route's, then the destination's; remove, set,
// add. A redirect's Location keeps the query.
func TestHopHeadersAndLocation(t *testing.T) {
	tab := compileYAML(t, hopYAML)
	r := req("GET", "http://shop.example.com/api/x")
	r.Port, r.Source = 80, Source{Gateway: "istio-system/gw", Namespace: "istio-system"}
	res := tab.Evaluate(r)
	h := tab.Hop(r, &res, constRand(0))
	if !h.RewritesRequestHeaders() {
		t.Fatal("RewritesRequestHeaders: false, want true")
	}
	in := http.Header{"X-Route": {"client"}, "Accept": {"*/*"}}
	h.ApplyRequestHeaders(in)
	want := http.Header{"X-Route": {"edge"}, "X-Dest": {"v2"}, "Accept": {"*/*"}}
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("request header (-want +got):\n%s", diff)
	}
	out := http.Header{"Server": {"app"}, "Content-Type": {"text/plain"}}
	h.ApplyResponseHeaders(out)
	want = http.Header{"X-Served-By": {"edge"}, "X-Version": {"v2"}, "Content-Type": {"text/plain"}}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("response header (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		rd                    Redirect
		authority, target, lo string
	}{
		{Redirect{URI: "/new", Authority: "other.example.com", Code: 301}, "shop.example.com", "/redirect?a=1", "http://other.example.com/new?a=1"},
		{Redirect{Scheme: "https", Code: 301}, "secure.example.com", "/p?q=1", "https://secure.example.com/p?q=1"},
		{Redirect{Port: 8443, Code: 302}, "shop.example.com:8080", "/x", "http://shop.example.com:8443/x"},
	} {
		if got := tt.rd.Location(tt.authority, tt.target); got != tt.lo {
			t.Errorf("%+v: Location(%s, %s) = %s, want %s", tt.rd, tt.authority, tt.target, got, tt.lo)
		}
	}
}

// A hop that forwards without rewriting the path allocates nothing.
func TestHopDoesNotAllocate(t *testing.T) {
	tab := compileYAML(t, hopYAML)
	r := req("GET", "http://shop.example.com/delay")
	r.Port, r.Source = 80, Source{Gateway: "istio-system/gw", Namespace: "istio-system"}
	res := tab.Evaluate(r)
	var h Hop
	if n := testing.AllocsPerRun(100, func() { h = tab.Hop(r, &res, constRand(0)) }); n != 0 {
		t.Errorf("Hop allocates %v times per request, want 0", n)
	}
	if h.Outcome != Forward {
		t.Errorf("outcome %s, want forward", h.Outcome)
	}
}

// BenchmarkHop: the decision alone, after Evaluate, for the common cases.
func BenchmarkHop(b *testing.B) {
	tab := compileYAML(b, hopYAML)
	for _, tc := range []struct {
		name, url string
		mesh      bool
	}{
		{"weighted", "http://shop.example.com/", false},
		{"fault-delay", "http://shop.example.com/delay", false},
		{"rewrite-mirror-headers", "http://shop.example.com/api/items?x=1", false},
		{"serviceentry", "http://shop.example.com/ext", false},
		{"passthrough", "http://web.default.svc.cluster.local/", true},
		{"passthrough-serviceentry", "http://ext.example.com/", true},
		{"passthrough-unknown", "http://unknown.example.org/", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := req("GET", tc.url)
			r.Port = 80
			if !tc.mesh {
				r.Source = Source{Gateway: "istio-system/gw", Namespace: "istio-system"}
			}
			res := tab.Evaluate(r)
			b.ReportAllocs()
			var h Hop
			for b.Loop() {
				h = tab.Hop(r, &res, constRand(7))
			}
			if h.Outcome != Forward {
				b.Fatalf("outcome %s", h.Outcome)
			}
		})
	}
}

// A destination index out of range (a route with nothing to pick): 503.
func TestHopToNoDestination(t *testing.T) {
	tab := compileYAML(t, hopYAML)
	r := req("GET", "http://shop.example.com/")
	r.Port, r.Source = 80, Source{Gateway: "istio-system/gw", Namespace: "istio-system"}
	res := tab.Evaluate(r)
	h := tab.HopTo(r, &res, len(res.Route.Destinations), Certain)
	if h.Outcome != Unavailable || h.Status != 503 || h.Problem != "route has no destinations" || h.Destination != nil {
		t.Errorf("got %s %d %q (destination %v), want unavailable 503 \"route has no destinations\"", h.Outcome, h.Status, h.Problem, h.Destination)
	}
}

// A mirror gets no copies when Envoy has no cluster for it: a subset
// that does not exist, or a multi-port Service without the listener's
// port.
func TestMirrorProblem(t *testing.T) {
	tab := compileYAML(t, hopYAML+`---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mirrors, namespace: default}
spec:
  hosts: [mirrored.example.com]
  gateways: [istio-system/gw]
  http:
  - route: [{destination: {host: web}}]
    mirrors:
    - destination: {host: web, subset: v1}
    - destination: {host: web, subset: v9}
    - destination: {host: multi}
    - destination: {host: multi, port: {number: 9090}}
`)
	for _, tt := range []struct {
		port uint32
		want []bool // a problem, per mirror
	}{
		{80, []bool{false, true, true, false}},
		{8080, []bool{false, true, false, false}},
	} {
		r := req("GET", "http://mirrored.example.com/")
		r.Port, r.Source = tt.port, Source{Gateway: "istio-system/gw", Namespace: "istio-system"}
		res := tab.Evaluate(r)
		h := tab.Hop(r, &res, Certain)
		var got []bool
		for i := range h.Mirrors {
			got = append(got, tab.MirrorProblem(r, &h.Mirrors[i]) != "")
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("port %d: mirror problems (-want +got):\n%s", tt.port, diff)
		}
	}
}

// hopCase is a request and the hop it should take.
type hopCase struct {
	name string
	req  *Request
	want hopSummary
}

// checkHops runs each case through tab.Hop with draws of 0.
func checkHops(t *testing.T, tab *Table, tests []hopCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tab.Evaluate(tt.req)
			got := summarizeHop(tab.Hop(tt.req, &res, constRand(0)))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("hop (-want +got):\n%s", diff)
			}
		})
	}
}

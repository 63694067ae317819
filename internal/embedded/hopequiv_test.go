package embedded

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/dataplane"
	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
	"github.com/graylane/graylane/internal/simulate"
)

// hopBase is what every generated configuration shares: Services b (one
// port) and multi (two ports), their Deployments (for the simulator)
// and DestinationRule subsets, a ServiceEntry host, and a gateway.
const hopBase = `apiVersion: v1
kind: Service
metadata: {name: b, namespace: default}
spec: {selector: {app: b}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: multi, namespace: default}
spec: {selector: {app: multi}, ports: [{name: http, port: 8080}, {name: http-admin, port: 9090}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: b-v1, namespace: default}
spec:
  selector: {matchLabels: {app: b, version: v1}}
  template: {metadata: {labels: {app: b, version: v1}}, spec: {containers: [{name: app, image: sample}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: b-v2, namespace: default}
spec:
  selector: {matchLabels: {app: b, version: v2}}
  template: {metadata: {labels: {app: b, version: v2}}, spec: {containers: [{name: app, image: sample}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: multi-v1, namespace: default}
spec:
  selector: {matchLabels: {app: multi, version: v1}}
  template: {metadata: {labels: {app: multi, version: v1}}, spec: {containers: [{name: app, image: sample}]}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: b, namespace: default}
spec: {host: b, subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec: {hosts: [ext.example.com], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
`

// The parts a generated VirtualService is made of: where its route goes,
// what it does, how it rewrites, its header operations and its match.
var (
	hopDestinations = []string{
		"[{destination: {host: b, subset: v1}}]",
		"[{destination: {host: b, subset: v1}, weight: 0}, {destination: {host: b, subset: v2}, weight: 100}]",
		"[{destination: {host: b, subset: v9}}]", // no such subset
		"[{destination: {host: multi}}]",         // no port, two ports: the listener's
		"[{destination: {host: multi, port: {number: 9090}}}]",
		"[{destination: {host: ext.example.com}}]", // a ServiceEntry host: outside
		"[{destination: {host: b, subset: v2}, headers: {request: {set: {x-route: dest}}, response: {add: {x-dest: b}}}}]",
	}
	hopActions = []string{
		"",
		"redirect: {uri: /moved, authority: elsewhere.example.com}",
		"directResponse: {status: 418, body: {string: teapot}}",
		"fault: {abort: {httpStatus: 429, percentage: {value: 100}}}",
		"fault: {delay: {fixedDelay: 1ms, percentage: {value: 100}}, abort: {httpStatus: 500, percentage: {value: 0}}}",
	}
	hopRewrites = []string{
		"",
		"rewrite: {uri: /v2/}",
		`rewrite: {uriRegexRewrite: {match: "^/api/(.*)$", rewrite: '/x/\1'}}`,
		"rewrite: {authority: inner.example.com}",
	}
	genHeaderOps = []string{
		"",
		"headers: {request: {set: {x-route: edge}, remove: [x-drop]}, response: {set: {x-served-by: graylane}, remove: [server]}}",
	}
	hopMatches = []string{
		"[{uri: {prefix: /api/}}]",
		"[{headers: {x-user: {exact: alice}}}, {uri: {prefix: /api/}}]",
	}
)

// hopConfigs generates VirtualServices for host b (mesh) and
// shop.example.com (gateway): every destination with every action, the
// rewrites, header operations and matches taking turns.
func hopConfigs() []string {
	var out []string
	for i, dest := range hopDestinations {
		for j, action := range hopActions {
			n := i*len(hopActions) + j
			var b strings.Builder
			fmt.Fprintf(&b, "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: gen-%d, namespace: default}\n", n)
			b.WriteString("spec:\n  hosts: [b, shop.example.com]\n  gateways: [mesh, istio-system/gw]\n  http:\n")
			fmt.Fprintf(&b, "  - match: %s\n", hopMatches[(n/2)%len(hopMatches)])
			for _, f := range []string{hopRewrites[n%len(hopRewrites)], genHeaderOps[n%len(genHeaderOps)], action} {
				if f != "" && !(strings.HasPrefix(f, "rewrite") && (strings.HasPrefix(action, "redirect") || strings.HasPrefix(action, "direct"))) {
					fmt.Fprintf(&b, "    %s\n", f)
				}
			}
			if !strings.HasPrefix(action, "redirect") && !strings.HasPrefix(action, "direct") {
				fmt.Fprintf(&b, "    route: %s\n", dest)
			}
			out = append(out, b.String())
		}
	}
	return out
}

// hopSeen is what a request met, compared between the simulator and the
// real proxy.
type hopSeen struct {
	Status  int
	Version string
	// Path and Host are the request target and Host the replica
	// received; Route its x-route field.
	Path, Host, Route string
	// Header are the answer's fields the configurations act on.
	Header http.Header
}

// hopAnswerFields are the answer's fields compared.
var hopAnswerFields = []string{"X-Version", "Server", "X-Served-By", "X-Dest", "Location"}

// answerOf is the replica's answer (see hopReplica) to a request.
func answerOf(version, target, host, xroute string) http.Header {
	return http.Header{"X-Version": {version}, "Server": {"replica"}, "X-Upstream-Path": {target}, "X-Upstream-Host": {host}, "X-Saw-Route": {xroute}}
}

// hopReplica answers with its version and what it received.
func hopReplica(t *testing.T, version string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range answerOf(version, r.RequestURI, r.Host, r.Header.Get("X-Route")) {
			w.Header()[k] = v
		}
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// The same generated configurations, run through the simulator and sent
// as real requests through the runtime's gateway and sidecar listeners,
// give the same status, version, upstream path and Host, request header
// operations and answer fields (issue 12: one hop). Weights and
// percentages are 0 or 100: every hop is deterministic.
func TestHopEquivalence(t *testing.T) {
	pods := []*pod{
		readyPod("b", "v1", hopReplica(t, "v1")),
		readyPod("multi", "v1", hopReplica(t, "v1")),
	}
	v2 := readyPod("b", "v2", hopReplica(t, "v2"))
	v2.spec.name = "b-v2-0"
	pods = append(pods, v2)
	// Outside the mesh: the ServiceEntry's endpoint, and a host nothing
	// defines (passthrough), both a server that answers as "outside".
	outside := hopReplica(t, outsideVersion)
	_, outsidePort, _ := net.SplitHostPort(outside)
	base := strings.Replace(hopBase, "resolution: DNS}", "resolution: STATIC, endpoints: [{address: 127.0.0.1, ports: {http: "+outsidePort+"}}]}", 1)
	rt, gwl := serveRouted(t, dataplane.EdgeOptions{}, base, pods...)
	gwl.caller.Store(&caller{gateways: []string{"istio-system/gw"}, port: 80, workload: "istio-ingressgateway"})
	mesh, err := rt.serveCaller("127.0.0.1:0", &caller{source: route.Source{Namespace: "default"}, workload: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mesh.close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	type request struct {
		listener *listener
		host     string
		path     string
		header   http.Header
		entry    route.Source
	}
	gateway := route.Source{Gateway: "istio-system/gw", Namespace: "istio-system"}
	meshSrc := route.Source{Namespace: "default"}
	requests := []request{
		{gwl, "shop.example.com", "/api/items?q=1", http.Header{"X-Route": {"client"}, "X-Drop": {"1"}}, gateway},
		{gwl, "shop.example.com", "/other", http.Header{"X-User": {"alice"}}, gateway},
		{gwl, "shop.example.com", "/other", nil, gateway},
		{gwl, "nowhere.example.com", "/", nil, gateway},
		{mesh, "b", "/api/v", http.Header{"X-Route": {"client"}}, meshSrc},
		{mesh, "b", "/", nil, meshSrc},
		{mesh, "multi", "/p", nil, meshSrc},
		{mesh, "localhost:" + outsidePort, "/", nil, meshSrc},
	}
	configs := hopConfigs()
	for ci, vs := range configs {
		set, err := manifest.LoadBytes("gen.yaml", []byte(base+"---\n"+vs))
		if err != nil {
			t.Fatalf("config %d: %v\n%s", ci, err, vs)
		}
		in := expand.RouteInput(set)
		tab := route.Compile(in)
		// The snapshot is published with its pods: the listeners'
		// goroutines read it as soon as it is stored.
		cfg := &config{table: tab, services: map[string]*corev1.Service{}, pods: pods, byAddr: map[string]*pod{}}
		for _, s := range in.Services {
			cfg.services[serviceKey(s.Object.Name, nsOr(s.Object.Namespace))] = s.Object
		}
		rt.cfg.Store(cfg)
		svcs, workloads := expand.Inventory(set)
		for _, rq := range requests {
			name := fmt.Sprintf("config %d: %s%s %v", ci, rq.host, rq.path, rq.header)
			entry := route.Request{Authority: rq.host, Path: rq.path, Method: http.MethodGet, Scheme: "http", Port: 80, Header: rq.header.Clone(), Source: rq.entry}
			rep, err := simulate.Run(tab, svcs, workloads, simulate.Options{Entry: entry, Requests: 1})
			if err != nil {
				t.Fatal(err)
			}
			want := simulated(rep.Paths[0].Hops, rq.host, rq.path, rq.header)
			got := sent(t, client, rq.listener.addr, rq.host, rq.path, rq.header)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: simulate (-) and the proxy (+) differ:\n%s\n%s", name, diff, vs)
			}
		}
	}
}

// outsideVersion is the version the server outside the mesh answers.
const outsideVersion = "outside"

// simulated is what the simulator says the request meets. A hop that
// leaves the mesh (a ServiceEntry host, a host nothing defines) reaches
// the server outside, which the simulator does not know: its answer is
// the one expected.
func simulated(h *simulate.Hop, host, path string, header http.Header) hopSeen {
	seen := hopSeen{Status: h.Status, Version: h.Version, Header: http.Header{}}
	d := h.Decision
	if d.Outcome == route.Forward && h.Status == http.StatusOK && (d.External != nil || d.Passthrough) {
		seen.Version = outsideVersion
	}
	var answer http.Header
	switch {
	case d.Outcome == route.Forward && seen.Version != "":
		up := header.Clone()
		if up == nil {
			up = http.Header{}
		}
		d.ApplyRequestHeaders(up)
		seen.Path, seen.Host, seen.Route = d.Target, host, up.Get("X-Route")
		if d.Authority != "" {
			seen.Host = d.Authority
		}
		answer = answerOf(seen.Version, seen.Path, seen.Host, seen.Route)
		d.ApplyResponseHeaders(answer)
	case d.Outcome == route.Redirected:
		answer = http.Header{"Location": {d.Route.Redirect.Location(host, path)}}
	}
	for _, k := range hopAnswerFields {
		if v, ok := answer[k]; ok {
			seen.Header[k] = v
		}
	}
	return seen
}

// sent is what a real request through the listener at addr meets.
func sent(t *testing.T, client *http.Client, addr, host, path string, header http.Header) hopSeen {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	seen := hopSeen{Status: resp.StatusCode, Header: http.Header{}}
	if v := resp.Header.Get("X-Version"); v != "" && resp.Header.Get("X-Upstream-Path") != "" {
		seen.Version = v
		seen.Path, seen.Host, seen.Route = resp.Header.Get("X-Upstream-Path"), resp.Header.Get("X-Upstream-Host"), resp.Header.Get("X-Saw-Route")
	}
	for _, k := range hopAnswerFields {
		if v, ok := resp.Header[k]; ok {
			seen.Header[k] = v
		}
	}
	return seen
}

// A gateway listener routes with its Gateway server's port, not the port
// the Host header names: a match on port 80 holds for a request to the
// port-80 server's local listener sent with Host shop.example.com:18080.
func TestGatewayListenerPort(t *testing.T) {
	p := readyPod("b", "v1", hopReplica(t, "v1"))
	const vs = `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/gw]
  http:
  - match: [{port: 80}]
    route: [{destination: {host: b, subset: v1}}]
`
	rt, _ := serveRouted(t, dataplane.EdgeOptions{}, hopBase+vs, p)
	rt.opts.GatewayAddr = "127.0.0.1:0"
	set, err := manifest.LoadBytes("gw.yaml", []byte(hopBase+vs))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.reconcileGateways(expand.RouteInput(set).Gateways); err != nil {
		t.Fatal(err)
	}
	l := rt.gatewayLs[80]
	t.Cleanup(l.close)
	got := sent(t, &http.Client{}, l.addr, "shop.example.com:18080", "/", nil)
	if got.Status != http.StatusOK || got.Version != "v1" {
		t.Errorf("got %d from version %q, want 200 from v1", got.Status, got.Version)
	}
}

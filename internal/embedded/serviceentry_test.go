package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/dataplane"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
)

// outside is a real HTTP server on loopback that answers its name and
// the Host it was sent, and counts its requests.
type outside struct {
	name, addr string
	mu         sync.Mutex
	hits       int
}

func newOutside(t *testing.T, name string) *outside {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOutside(t, name, ln)
}

// serveOutside serves an outside server named name on ln.
func serveOutside(t *testing.T, name string, ln net.Listener) *outside {
	t.Helper()
	o := &outside{name: name, addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.hits++
		o.mu.Unlock()
		_, _ = io.WriteString(w, o.name+" "+r.Host)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return o
}

func (o *outside) port() string {
	_, p, _ := net.SplitHostPort(o.addr)
	return p
}

func (o *outside) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits
}

// proxyGet sends GET http://host/path through the sidecar listener l as
// an HTTP proxy (what a replica's HTTP_PROXY does), with header.
func proxyGet(t *testing.T, l *listener, host, path string, header http.Header) (int, string) {
	t.Helper()
	proxy, _ := url.Parse("http://" + l.addr)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "http://"+host+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// seSeries lists istio_requests_total as "reporter code flags
// destination_service destination_service_name destination_service_namespace
// destination_workload = count", sorted.
func seSeries(t *testing.T, ms *metrics) []string {
	t.Helper()
	return seriesWith(t, ms, "reporter", "response_code", "response_flags", "destination_service",
		"destination_service_name", "destination_service_namespace", "destination_workload")
}

// TestServiceEntryDestinations: the sidecar sends a ServiceEntry host's
// requests to the entry's endpoints, real servers on loopback - STATIC
// (each endpoint on its port by the entry port's name, a subset of them
// by their labels through a DestinationRule and a VirtualService), DNS
// (the endpoint's name, localhost, resolved), NONE (the address the
// client called, an address of the entry) - and counts them under the
// entry's host and namespace, with no destination reporter (no sidecar
// there); a route's mirror to a ServiceEntry host copies requests to its
// endpoint. A call to a replica's address listed as an endpoint, or made
// to an address of the entry on its port, reaches that replica, counted
// by both reporters under the entry's host.
func TestServiceEntryDestinations(t *testing.T) {
	v1, v2, dns, none := newOutside(t, "v1"), newOutside(t, "v2"), newOutside(t, "dns"), newOutside(t, "none")
	shadow := newOutside(t, "shadow")
	rep := newOutside(t, "replica")
	manifests := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: pay, namespace: ext}
spec:
  hosts: [pay.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: %s}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: %s}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pay, namespace: ext}
spec:
  host: pay.example.com
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pay, namespace: ext}
spec:
  hosts: [pay.example.com]
  http:
  - match: [{headers: {x-pay: {exact: v2}}}]
    route: [{destination: {host: pay.example.com, subset: v2}}]
  - route: [{destination: {host: pay.example.com, subset: v1}}]
    mirror: {host: shadow.example.com}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: shadow, namespace: ext}
spec:
  hosts: [shadow.example.com]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: %s}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: local, namespace: ext}
spec:
  hosts: [local.example.com]
  ports: [{number: %s, name: http, protocol: HTTP}]
  resolution: DNS
  endpoints: [{address: localhost}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: direct, namespace: ext}
spec:
  hosts: [direct.example.com]
  addresses: [127.0.0.1]
  ports: [{number: %s, name: http, protocol: HTTP}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: nacos-order, namespace: ext}
spec:
  hosts: [order.nacos]
  addresses: [127.0.0.1]
  ports: [{number: %s, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`, v1.port(), v2.port(), shadow.port(), dns.port(), none.port(), rep.port())
	replica := readyPod("order", "v1", rep.addr)
	rt, l := serveRoutedWith(t, Options{}, manifests, replica)

	tests := []struct {
		name, host string
		header     http.Header
		want       string
	}{
		{"STATIC, the VirtualService's default subset v1", "pay.example.com", nil, "v1 pay.example.com"},
		{"STATIC, subset v2 by header", "pay.example.com", http.Header{"X-Pay": {"v2"}}, "v2 pay.example.com"},
		{"DNS: the endpoint's name, resolved", "local.example.com:" + dns.port(), nil, "dns local.example.com:" + dns.port()},
		{"NONE: the address called", "127.0.0.1:" + none.port(), nil, "none 127.0.0.1:" + none.port()},
		{"STATIC endpoint that is a replica's address", "order.nacos:" + rep.port(), nil, "replica order.nacos:" + rep.port()},
		// The shape of graylane nacos fix's entries: a client that keeps
		// calling the instance address Nacos gave it is counted as the
		// entry's host, not PassthroughCluster.
		{"an address of the entry, on its port: the replica", "127.0.0.1:" + rep.port(), nil, "replica 127.0.0.1:" + rep.port()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := proxyGet(t, l, tt.host, "/", tt.header)
			if code != http.StatusOK || body != tt.want {
				t.Errorf("got %d %q, want 200 %q", code, body, tt.want)
			}
		})
	}
	// Subset v1 twice more: every request of the default route is v1's.
	for range 2 {
		if _, body := proxyGet(t, l, "pay.example.com", "/", nil); body != "v1 pay.example.com" {
			t.Errorf("default route reached %q, want v1", body)
		}
	}
	// The default route mirrors to another entry's endpoint: its three
	// requests are copied there (fire and forget: waited for).
	waitUntil(t, "three copies at the mirror", func() bool { return shadow.count() == 3 })
	if got := []int{v1.count(), v2.count(), dns.count(), none.count(), rep.count()}; !cmp.Equal(got, []int{3, 1, 1, 1, 2}) {
		t.Errorf("requests per server v1, v2, dns, none, replica: %v, want [3 1 1 1 2]", got)
	}
	want := []string{
		"destination 200 - order.nacos order.nacos ext order = 2",
		"source 200 - direct.example.com direct.example.com ext unknown = 1",
		"source 200 - local.example.com local.example.com ext unknown = 1",
		"source 200 - order.nacos order.nacos ext order = 2",
		"source 200 - pay.example.com pay.example.com ext unknown = 4",
	}
	if diff := cmp.Diff(want, seSeries(t, rt.metrics)); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
}

// TestOutboundTrafficPolicy: a host no Service or ServiceEntry defines
// goes to its original destination under ALLOW_ANY (here a real server
// named localhost:PORT), counted as PassthroughCluster; under
// REGISTRY_ONLY the sidecar answers 502 itself and counts it as
// BlackHoleCluster, and the server gets nothing.
func TestOutboundTrafficPolicy(t *testing.T) {
	const svc = "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {selector: {app: b}, ports: [{port: 80}]}\n"
	tests := []struct {
		name     string
		policy   route.OutboundPolicy
		wantCode int
		wantHits int
		want     []string
	}{
		{"allow-any", route.AllowAny, http.StatusOK, 1, []string{"source 200 - unknown PassthroughCluster unknown unknown = 1"}},
		{"registry-only", route.RegistryOnly, http.StatusBadGateway, 0, []string{"source 502 - BlackHoleCluster BlackHoleCluster unknown unknown = 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newOutside(t, "outside")
			rt, l := serveRoutedWith(t, Options{Edge: dataplane.EdgeOptions{}, Outbound: tt.policy}, svc)
			code, body := proxyGet(t, l, "localhost:"+srv.port(), "/x", nil)
			if code != tt.wantCode {
				t.Errorf("answer %d %q, want %d", code, body, tt.wantCode)
			}
			if code == http.StatusOK && !strings.HasPrefix(body, "outside localhost:") {
				t.Errorf("body %q, want the outside server's", body)
			}
			if srv.count() != tt.wantHits {
				t.Errorf("the server got %d requests, want %d", srv.count(), tt.wantHits)
			}
			if diff := cmp.Diff(tt.want, seSeries(t, rt.metrics)); diff != "" {
				t.Errorf("series (-want +got):\n%s", diff)
			}
		})
	}
}

// TestServiceEntryAppliedToRunningRuntime: a ServiceEntry in the shape
// graylane nacos fix writes (host NAME.nacos, the instance IPs as
// addresses and STATIC endpoints, an HTTP port per instance port),
// applied to a running runtime through its admin API (POST /apply, what
// nacos fix --apply-service-entries --local sends), takes effect at once:
// a client that keeps calling the instance address Nacos gave it is
// counted under the entry's host instead of PassthroughCluster, and the
// entry's host reaches the same replica. DELETE
// /v1/serviceentries/{ns}/{name} (what nacos fix sends for a stale entry)
// takes it away at once: the host no longer resolves, the address is
// PassthroughCluster again; a second DELETE, and one of a Service's name,
// answer 404.
func TestServiceEntryAppliedToRunningRuntime(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app.yaml"), passthroughApp)
	r := start(t, []string{dir})
	v2 := orderV2(t, r)
	_, port, _ := net.SplitHostPort(v2.addr)
	if code, body := r.get(t, true, v2.addr); code != 200 || body != "order(v2)" {
		t.Fatalf("by the pod address before: %d %q", code, body)
	}
	entry := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: nacos-order-legacy, namespace: default}
spec:
  hosts: [order-legacy.nacos]
  addresses: [127.0.0.1]
  ports: [{number: %s, name: http-%s, protocol: HTTP}]
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`, port, port)
	res, err := adminapi.New(adminapi.Admin(r.rt.Addr())).Apply(context.Background(), "nacos-fix", []byte(entry))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ServiceEntry default/nacos-order-legacy"}, res.Created); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}
	for _, host := range []string{v2.addr, "order-legacy.nacos:" + port} {
		if code, body := r.get(t, true, host); code != 200 || body != "order(v2)" {
			t.Errorf("%s after the entry: %d %q, want 200 order(v2)", host, code, body)
		}
	}
	var got []string
	for _, s := range seSeries(t, r.rt.metrics) {
		if strings.Contains(s, "order-v2") {
			got = append(got, s)
		}
	}
	want := []string{
		"destination 200 - order-legacy.nacos order-legacy.nacos default order-v2 = 2",
		"destination 200 - unknown PassthroughCluster unknown order-v2 = 1",
		"source 200 - order-legacy.nacos order-legacy.nacos default order-v2 = 2",
		"source 200 - unknown PassthroughCluster unknown order-v2 = 1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
	deleteServiceEntry(t, r, port)
}

// deleteServiceEntry deletes the entry TestServiceEntryAppliedToRunningRuntime
// applied, through the admin API, and checks the routing no longer knows it.
func deleteServiceEntry(t *testing.T, r *running, port string) {
	t.Helper()
	ctx := context.Background()
	admin := adminapi.New(adminapi.Admin(r.rt.Addr()))
	del, err := admin.DeleteServiceEntry(ctx, "default", "nacos-order-legacy", "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(adminapi.DeleteResult{Deleted: "ServiceEntry default/nacos-order-legacy"}, del); diff != "" {
		t.Errorf("delete answer (-want +got):\n%s", diff)
	}
	ses, err := admin.ServiceEntries(ctx)
	if err != nil || len(ses) != 0 {
		t.Errorf("ServiceEntries after the delete: %d, %v; want none", len(ses), err)
	}
	// The host no longer resolves through the entry: ALLOW_ANY sends it
	// to its original destination, a name no resolver knows (503, as
	// Envoy's connection failure).
	if code, body := r.get(t, true, "order-legacy.nacos:"+port); code != http.StatusServiceUnavailable || strings.Contains(body, "order(v2)") {
		t.Errorf("order-legacy.nacos after the delete: %d %q, want 503 and not the replica", code, body)
	}
	v2 := orderV2(t, r)
	if code, body := r.get(t, true, v2.addr); code != 200 || body != "order(v2)" {
		t.Errorf("by the pod address after the delete: %d %q", code, body)
	}
	var got []string
	for _, s := range seSeries(t, r.rt.metrics) {
		if strings.Contains(s, "PassthroughCluster") && strings.Contains(s, "order-v2") {
			got = append(got, s)
		}
	}
	want := []string{
		"destination 200 - unknown PassthroughCluster unknown order-v2 = 2",
		"source 200 - unknown PassthroughCluster unknown order-v2 = 2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PassthroughCluster series after the delete (-want +got):\n%s", diff)
	}
	for _, name := range []string{"nacos-order-legacy", "order"} {
		_, err := admin.DeleteServiceEntry(ctx, "default", name, "")
		if !errors.Is(err, adminapi.ErrNotFound) {
			t.Errorf("DELETE default/%s: %v, want 404", name, err)
		}
	}
}

// TestServiceEntryDeletedWhileLanesFail: a DELETE of a ServiceEntry when
// the lanes no longer compile (a Lane naming a Service there is not, put
// in the store past Apply's check, as one restored from an earlier state
// could be) still takes the entry out of the routing - as LaneCommand
// does, the lanes' error is logged, not the delete's - and answers 200.
func TestServiceEntryDeletedWhileLanesFail(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app.yaml"), passthroughApp)
	r := start(t, []string{dir})
	_, port, _ := net.SplitHostPort(orderV2(t, r).addr)
	entry := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: nacos-order-legacy, namespace: default}
spec:
  hosts: [order-legacy.nacos]
  ports: [{number: %s, name: http-%s, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`, port, port)
	ctx := context.Background()
	admin := adminapi.New(adminapi.Admin(r.rt.Addr()))
	if _, err := admin.Apply(ctx, "nacos-fix", []byte(entry)); err != nil {
		t.Fatal(err)
	}
	if code, body := r.get(t, true, "order-legacy.nacos:"+port); code != 200 || body != "order(v2)" {
		t.Fatalf("order-legacy.nacos before the delete: %d %q, want 200 order(v2)", code, body)
	}
	bad, err := manifest.LoadBytes("lane.yaml", []byte(`apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: default}
spec:
  members:
  - {service: nope, workload: nope-v2}
`))
	if err != nil {
		t.Fatal(err)
	}
	r.rt.mu.Lock()
	r.rt.store.apply(bad.Objects)
	lanesErr := r.rt.recompileLanes()
	r.rt.mu.Unlock()
	if lanesErr == nil {
		t.Fatal("the lanes compile with a member of no Service: want them failing for this test")
	}

	del, err := admin.DeleteServiceEntry(ctx, "default", "nacos-order-legacy", "")
	if err != nil || del.Deleted != "ServiceEntry default/nacos-order-legacy" {
		t.Fatalf("DELETE while the lanes fail: %+v, %v; want it deleted", del, err)
	}
	if ses, err := admin.ServiceEntries(ctx); err != nil || len(ses) != 0 {
		t.Errorf("ServiceEntries after the delete: %d, %v; want none", len(ses), err)
	}
	if code, body := r.get(t, true, "order-legacy.nacos:"+port); code != http.StatusServiceUnavailable || strings.Contains(body, "order(v2)") {
		t.Errorf("order-legacy.nacos after the delete: %d %q, want 503 and not the replica", code, body)
	}
}

// TestServiceEntryDeleteOnlyAsRead: GET /v1/serviceentries gives each
// entry the store's resourceVersion, raised when the entry is created or
// changed (not by an unchanged apply), and DELETE
// /v1/serviceentries/{ns}/{name}?resourceVersion=N deletes it only at
// that version, as a Kubernetes delete precondition does: an entry
// applied again since - even for the same Nacos service, only its
// addresses changed - or deleted and created again, is kept with 409
// saying so. A resourceVersion that is no number is 400.
func TestServiceEntryDeleteOnlyAsRead(t *testing.T) {
	r := start(t, nil)
	ctx := context.Background()
	admin := adminapi.New(adminapi.Admin(r.rt.Addr()))
	entry := func(addr string) string {
		return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: nacos-pg
  namespace: default
  labels: {app.kubernetes.io/managed-by: graylane}
  annotations: {graylane.io/nacos-service: public/DEFAULT_GROUP/pg}
spec:
  hosts: [pg.nacos]
  ports: [{number: 5432, name: http-5432, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: ` + addr + `}]
`
	}
	current := func() string { // the entry's resourceVersion, "" when there is none
		t.Helper()
		ses, err := admin.ServiceEntries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ses) == 0 {
			return ""
		}
		if ses[0].ResourceVersion == "" {
			t.Fatalf("GET /v1/serviceentries: %s/%s without a resourceVersion", ses[0].Namespace, ses[0].Name)
		}
		return ses[0].ResourceVersion
	}
	applyEntry := func(addr string) func() {
		return func() {
			if _, err := admin.Apply(ctx, "entry.yaml", []byte(entry(addr))); err != nil {
				t.Fatal(err)
			}
		}
	}
	recreate := func() {
		if _, err := admin.DeleteServiceEntry(ctx, "default", "nacos-pg", ""); err != nil {
			t.Fatal(err)
		}
		applyEntry("192.0.2.7")()
	}
	tests := []struct {
		name    string
		between func() // what happens between fix's read and its delete
		version string // sent instead of the version read, when not ""
		status  int    // 0: deleted
		wantErr string // the start of the refusal's message
	}{
		{"a version that is no number", func() {}, "v1", http.StatusBadRequest, `resourceVersion "v1": want a number`},
		{"applied again for the same service, other addresses", applyEntry("192.0.2.8"), "", http.StatusConflict, ""},
		{"deleted and created again as it was", recreate, "", http.StatusConflict, ""},
		{"applied again unchanged", applyEntry("192.0.2.7"), "", 0, ""},
	}
	for _, tc := range tests {
		applyEntry("192.0.2.7")()
		read, version := current(), tc.version
		if version == "" {
			version = read
		}
		tc.between()
		before := current()
		if tc.status == http.StatusConflict {
			if before == read {
				t.Fatalf("%s: resourceVersion %s before and after the change", tc.name, before)
			}
			tc.wantErr = fmt.Sprintf("ServiceEntry default/nacos-pg: changed since it was read (resourceVersion %s, now %s)", read, before)
		}
		_, err := admin.DeleteServiceEntry(ctx, "default", "nacos-pg", version)
		after := current()
		var api *adminapi.APIError
		switch {
		case tc.status == 0 && (err != nil || after != ""):
			t.Errorf("%s: %v, resourceVersion %q left; want it deleted", tc.name, err, after)
		case tc.status != 0 && (!errors.As(err, &api) || api.Status != tc.status || !strings.HasPrefix(api.Message, tc.wantErr)):
			t.Errorf("%s: %v, want %d %q", tc.name, err, tc.status, tc.wantErr)
		case tc.status != 0 && after != before:
			t.Errorf("%s: resourceVersion %q after a refused delete, want it kept at %q", tc.name, after, before)
		}
	}
}

// TestServiceEntryVersionAfterRestart: a runtime started again on its
// state folder restores the ServiceEntry with a new resourceVersion, past
// every one of the run before (versions go on from the start time), so a
// version read before the restart never matches an entry after it: a
// delete with it is kept (409), one with the version read again deletes.
func TestServiceEntryVersionAfterRestart(t *testing.T) {
	state := t.TempDir()
	edit := func(o *Options) { o.StateDir = state }
	const entry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: nacos-pg, namespace: default}
spec:
  hosts: [pg.nacos]
  ports: [{number: 5432, name: http-5432, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 192.0.2.7}]
`
	version := func(r *running) uint64 {
		t.Helper()
		ses := r.rt.ServiceEntries()
		if len(ses) != 1 {
			t.Fatalf("%d ServiceEntries, want nacos-pg", len(ses))
		}
		v, err := strconv.ParseUint(ses[0].ResourceVersion, 10, 64)
		if err != nil {
			t.Fatalf("resourceVersion %q: %v", ses[0].ResourceVersion, err)
		}
		return v
	}
	r := startWith(t, edit, nil)
	if _, err := r.rt.Apply(mustLoadBytes(t, entry)); err != nil {
		t.Fatal(err)
	}
	before := version(r)
	r.rt.saveStateLocked() // as the rollout loop does within its next tick
	r.cancel()
	if err := <-r.errc; err != nil {
		t.Fatal(err)
	}
	r.errc <- nil // for the cleanup

	r = startWith(t, edit, nil)
	after := version(r)
	if after <= before {
		t.Fatalf("resourceVersion after the restart %d, want past %d", after, before)
	}
	_, err := r.rt.DeleteServiceEntry("default", "nacos-pg", strconv.FormatUint(before, 10))
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Errorf("delete with the version read before the restart: %v, want it refused", err)
	}
	if _, err := r.rt.DeleteServiceEntry("default", "nacos-pg", strconv.FormatUint(after, 10)); err != nil {
		t.Errorf("delete with the version read after the restart: %v", err)
	}
}

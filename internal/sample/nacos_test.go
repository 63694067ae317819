package sample

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosserver"
)

// waitLimit bounds a condition wait: a failure bound for a hung server, not
// a speed target (CI is a loaded 2-core machine under -race).
const waitLimit = 2 * time.Minute

// startNacos serves the project's Nacos server on loopback.
func startNacos(t *testing.T) (*nacosserver.Server, *nacosclient.Client) {
	t.Helper()
	s, err := nacosserver.Start(context.Background(), nacosserver.Options{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("nacos Close: %v", err)
		}
	})
	c, err := nacosclient.New(context.Background(), nacosclient.Options{Server: "http://" + s.HTTPAddr(), Protocol: nacosclient.ProtocolHTTP})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// nacosApp is a sample in the Nacos mode, loaded from env as `graylane
// sample` would be, plus the given variables.
func nacosApp(t *testing.T, s *nacosserver.Server, app, version string, env ...string) Options {
	t.Helper()
	m := map[string]string{"app": app, "version": version, "SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR": s.HTTPAddr()}
	for i := 0; i+1 < len(env); i += 2 {
		m[env[i]] = env[i+1]
	}
	o, err := Load(envFunc(m), nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Proxy = proxyFunc(envFunc(m)) // as a sample host runs a replica
	return o
}

func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func instances(t *testing.T, c *nacosclient.Client, service string) []nacosclient.Instance {
	t.Helper()
	ins, err := c.Instances(context.Background(), service, "")
	if err != nil && !errors.Is(err, nacosclient.ErrNotFound) {
		t.Fatal(err)
	}
	return ins
}

// TestNacosRegisterDeregister: the app registers itself at start (an
// ephemeral, healthy instance at its listen port with its version as
// metadata, under SPRING_APPLICATION_NAME) and deregisters when it stops.
func TestNacosRegisterDeregister(t *testing.T) {
	s, c := startNacos(t)
	o := nacosApp(t, s, "order", "v2", "SPRING_APPLICATION_NAME", "order-service", "POD_IP", "127.0.0.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, o, slog.New(slog.DiscardHandler)) }()
	want := []nacosclient.Instance{{Service: "order-service", Group: "DEFAULT_GROUP", Cluster: "DEFAULT", IP: "127.0.0.1", Port: port(t, ln.Addr().String()),
		Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, Metadata: map[string]string{"version": "v2", "preserved.register.source": "SPRING_CLOUD"}}}
	waitFor(t, "the registration", func() (bool, string) {
		got := instances(t, c, "order-service")
		return cmp.Equal(want, got), cmp.Diff(want, got)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// Deregistered before Serve returned: nothing to wait for.
	if got := instances(t, c, "order-service"); len(got) != 0 {
		t.Errorf("after stop: %+v, want no instance", got)
	}
}

// sidecar is a stand-in for a pod's sidecar (an HTTP proxy): it records
// the targets it is asked for, forwards calls to 127.0.0.1 (instances) and
// answers for any other host itself, as "mesh(HOST)".
type sidecar struct {
	mu      sync.Mutex
	targets []string
}

func (s *sidecar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.targets = append(s.targets, r.URL.Host)
	s.mu.Unlock()
	if !strings.HasPrefix(r.URL.Host, "127.0.0.1:") {
		_, _ = io.WriteString(w, "mesh("+r.URL.Host+")\n")
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), nil)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (s *sidecar) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

// chain starts payment-service v1 and v2 in the Nacos mode and an order
// app calling lb://payment-service/ with env, through a recording sidecar
// (NO_PROXY=127.0.0.1 set, as graylane up sets it). It returns order's URL.
func chain(t *testing.T, s *nacosserver.Server, env ...string) (string, *sidecar, map[string]int) {
	t.Helper()
	ports := map[string]int{}
	for _, v := range []string{"v1", "v2"} {
		u := start(t, nacosApp(t, s, "payment", v, "SPRING_APPLICATION_NAME", "payment-service"))
		ports[v] = port(t, strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/"))
	}
	sc := &sidecar{}
	proxy := httptest.NewServer(sc)
	t.Cleanup(proxy.Close)
	env = append([]string{"upstream_url", "lb://payment-service/", "HTTP_PROXY", proxy.URL, "NO_PROXY", "127.0.0.1,localhost"}, env...)
	return start(t, nacosApp(t, s, "order", "v1", env...)), sc, ports
}

// TestNacosLBByInstanceIP: an lb:// upstream resolves through Nacos to a
// healthy instance, called at its IP and port through the sidecar although
// NO_PROXY lists 127.0.0.1; both instances get calls.
func TestNacosLBByInstanceIP(t *testing.T) {
	s, _ := startNacos(t)
	order, sc, ports := chain(t, s)
	seen := map[string]bool{}
	waitFor(t, "both payment instances answering", func() (bool, string) {
		a := get(t, order, nil)
		seen[a.body] = true
		return seen["order(v1) -> payment(v1)\n"] && seen["order(v1) -> payment(v2)\n"], strconv.Itoa(a.status) + " " + a.body
	})
	for _, target := range sc.seen() {
		if target != "127.0.0.1:"+strconv.Itoa(ports["v1"]) && target != "127.0.0.1:"+strconv.Itoa(ports["v2"]) {
			t.Fatalf("the sidecar was asked for %s, want only the instances' addresses %v", target, ports)
		}
	}
	if len(sc.seen()) == 0 {
		t.Fatal("no call went through the sidecar")
	}
}

// TestNacosConfigURLWins: a client url in an imported Nacos configuration
// (each shape the sample reads) points the client at the Service instead
// of Nacos' instances; an environment variable wins over the configuration.
func TestNacosConfigURLWins(t *testing.T) {
	s, c := startNacos(t)
	tests := []struct {
		name, dataID, content string
		env                   []string
		want                  string
	}{
		{"openfeign client url", "graylane-mesh.yaml",
			"spring:\n  cloud:\n    openfeign:\n      client:\n        config:\n          payment-service:\n            url: http://gray-payment-service:8083\n",
			nil, "order(v1) -> mesh(gray-payment-service:8083)\n"},
		{"seed 000's SERVICE.url", "order.properties", "payment-service.url=gray-payment-service:8083\n",
			nil, "order(v1) -> mesh(gray-payment-service:8083)\n"},
		{"simple discovery instance", "simple.yaml",
			"spring.cloud.discovery.client.simple.instances.payment-service[0].uri: http://payment.shop:8083\n",
			nil, "order(v1) -> mesh(payment.shop:8083)\n"},
		{"the environment wins", "env.yaml", "payment-service:\n  url: http://gray-payment-service:8083\n",
			[]string{"PAYMENTSERVICE_URL", "http://from-env:9000"}, "order(v1) -> mesh(from-env:9000)\n"},
		{"the environment wins, legacy name", "env2.yaml", "spring.cloud.openfeign.client.config.payment-service.url: http://gray-payment-service:8083\n",
			[]string{"SPRING_CLOUD_OPENFEIGN_CLIENT_CONFIG_PAYMENT_SERVICE_URL", "http://from-env:9001"}, "order(v1) -> mesh(from-env:9001)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.PublishConfig(context.Background(), tc.dataID, "shop", tc.content, "", ""); err != nil {
				t.Fatal(err)
			}
			env := append([]string{"SPRING_CONFIG_IMPORT", "optional:nacos:absent.yaml,nacos:" + tc.dataID + "?group=shop"}, tc.env...)
			order, _, _ := chain(t, s, env...)
			if got := get(t, order, nil); got.body != tc.want {
				t.Errorf("answer %d %q, want %q", got.status, got.body, tc.want)
			}
		})
	}
}

// TestNacosConfigRefresh: a published configuration change applies without
// a restart (the import is listened to), and removing the url sends the
// client back to Nacos' instances.
func TestNacosConfigRefresh(t *testing.T) {
	s, c := startNacos(t)
	order, _, _ := chain(t, s, "SPRING_CONFIG_IMPORT", "optional:nacos:graylane-mesh.yaml")
	if got := get(t, order, nil); !strings.HasPrefix(got.body, "order(v1) -> payment(") {
		t.Fatalf("before the configuration: %d %q, want an instance's answer", got.status, got.body)
	}
	publish := func(content string) {
		if err := c.PublishConfig(context.Background(), "graylane-mesh.yaml", "DEFAULT_GROUP", content, "yaml", ""); err != nil {
			t.Fatal(err)
		}
	}
	publish("spring.cloud.openfeign.client.config.payment-service.url: http://gray-payment-service:8083\n")
	waitFor(t, "the client url to apply", func() (bool, string) {
		got := get(t, order, nil).body
		return got == "order(v1) -> mesh(gray-payment-service:8083)\n", got
	})
	publish("spring.cloud.openfeign.client.config.other-service.url: http://other:1\n")
	waitFor(t, "the client to go back to Nacos", func() (bool, string) {
		got := get(t, order, nil).body
		return strings.HasPrefix(got, "order(v1) -> payment("), got
	})
}

// TestNacosStartErrors: a required import that does not exist stops the
// app before it serves, naming the import; an lb:// upstream without Nacos
// is an input error.
func TestNacosStartErrors(t *testing.T) {
	s, _ := startNacos(t)
	o := nacosApp(t, s, "order", "v1", "SPRING_CONFIG_IMPORT", "nacos:missing.yaml")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = Serve(context.Background(), ln, o, nil)
	if err == nil || !strings.Contains(err.Error(), "nacos:missing.yaml?group=DEFAULT_GROUP") || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Serve = %v, want the missing import named", err)
	}
	if o, err = Load(envFunc(map[string]string{"upstream_url": "lb://payment-service/"}), nil); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR") {
		t.Errorf("Validate = %v, want lb:// refused without Nacos", err)
	}
}

// TestLoadNacos: the Nacos mode's settings from Spring Boot's variable
// names, canonical and legacy, with their defaults.
func TestLoadNacos(t *testing.T) {
	o, err := Load(envFunc(map[string]string{
		"app": "order",
		"SPRING_CLOUD_NACOS_DISCOVERY_SERVERADDR": "127.0.0.1:8848",
		"SPRING_CLOUD_NACOS_DISCOVERY_NAMESPACE":  "dev",
		"SPRING_CLOUD_NACOS_USERNAME":             "nacos",
		"SPRING_CLOUD_NACOS_PASSWORD":             "secret",
		"SPRING_CLOUD_NACOS_CONFIG_GROUP":         "shop",
		"POD_IP":                                  "10.0.0.7",
		"HTTP_PROXY":                              "http://127.0.0.1:15001",
		"SPRING_CONFIG_IMPORT":                    "optional:file:./x.yaml, optional:nacos:graylane-mesh.yaml?group=DEFAULT_GROUP,nacos:order.properties?refreshEnabled=false",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Nacos.Env = nil
	want := &NacosOptions{Server: "127.0.0.1:8848", Namespace: "dev", Group: "DEFAULT_GROUP", ConfigNamespace: "dev",
		Username: "nacos", Password: "secret", Service: "order", IP: "10.0.0.7", Sidecar: "http://127.0.0.1:15001",
		Imports: []ConfigImport{
			{DataID: "graylane-mesh.yaml", Group: "DEFAULT_GROUP", Optional: true, Refresh: true},
			{DataID: "order.properties", Group: "shop", Refresh: false},
		}}
	if diff := cmp.Diff(want, o.Nacos); diff != "" {
		t.Errorf("Nacos options (-want +got):\n%s", diff)
	}
	if o, err := Load(envFunc(map[string]string{"app": "order"}), nil); err != nil || o.Nacos != nil {
		t.Errorf("without a server address: %+v, %v; want the mode off", o.Nacos, err)
	}
	bad := []struct{ env map[string]string }{
		{map[string]string{"SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR": "nacos"}},
		{map[string]string{"SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR": "a:8848,b:8848"}},
		{map[string]string{"SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR": "a:8848", "SPRING_CONFIG_IMPORT": "nacos:"}},
		{map[string]string{"SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR": "a:8848", "SPRING_CONFIG_IMPORT": "nacos:x.yaml?refreshEnabled=maybe"}},
		{map[string]string{"SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR": "a:8848", "SPRING_CLOUD_NACOS_DISCOVERY_IP": "pod-7"}},
	}
	for _, tc := range bad {
		if _, err := Load(envFunc(tc.env), nil); err == nil {
			t.Errorf("Load(%v) = nil error, want an input error", tc.env)
		}
	}
}

// TestNacosRegistersAgain: an instance the server lost (removed by hand
// here) is registered again by the next beat, as the Nacos client's
// BeatReactor does on RESOURCE_NOT_FOUND.
func TestNacosRegistersAgain(t *testing.T) {
	s, c := startNacos(t)
	u := start(t, nacosApp(t, s, "order", "v1", "SPRING_APPLICATION_NAME", "order-service"))
	p := port(t, strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/"))
	registered := func() (bool, string) {
		ins := instances(t, c, "order-service")
		return len(ins) == 1 && ins[0].Port == p && ins[0].Healthy, fmt.Sprint(ins)
	}
	waitFor(t, "the registration", registered)
	if err := c.Deregister(context.Background(), nacosclient.Registration{Service: "order-service", IP: "127.0.0.1", Port: p, Ephemeral: true}); err != nil {
		t.Fatal(err)
	}
	if ok, got := registered(); ok {
		t.Fatalf("still registered after Deregister: %s", got)
	}
	waitFor(t, "the registration again", registered)
}

// TestOverride: which property points a client elsewhere, in Spring's
// order (the annotation's SERVICE.url, then OpenFeign's per-client url,
// then the simple discovery instance), the environment over the imports.
func TestOverride(t *testing.T) {
	feign := "spring.cloud.openfeign.client.config.order-service.url"
	tests := []struct {
		name    string
		props   map[string]string
		env     map[string]string
		want    string
		wantKey string
	}{
		{"none", map[string]string{"other-service.url": "http://x"}, nil, "", ""},
		{"feign", map[string]string{feign: "http://gray-order-service:8082"}, nil, "http://gray-order-service:8082", feign},
		{"relaxed name", map[string]string{"spring.cloud.openfeign.client.config.orderService.url": "http://a"}, nil, "http://a", feign},
		{"annotation url wins over feign config", map[string]string{feign: "http://a", "order-service.url": "http://b"}, nil, "http://b", "order-service.url"},
		{"empty annotation url: feign config", map[string]string{feign: "http://a", "order-service.url": ""}, nil, "http://a", feign},
		{"simple discovery", map[string]string{"spring.cloud.discovery.client.simple.instances.order-service[0].uri": "http://c"}, nil,
			"http://c", "spring.cloud.discovery.client.simple.instances.order-service[0].uri"},
		{"env canonical", map[string]string{feign: "http://a"}, map[string]string{"SPRING_CLOUD_OPENFEIGN_CLIENT_CONFIG_ORDERSERVICE_URL": "http://env"}, "http://env", feign},
		{"env legacy", nil, map[string]string{"ORDER_SERVICE_URL": "http://env"}, "http://env", "order-service.url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, key := override(tc.props, envFunc(tc.env), "order-service")
			if got != tc.want || key != tc.wantKey {
				t.Errorf("override = %q (%s), want %q (%s)", got, key, tc.want, tc.wantKey)
			}
		})
	}
}

// FuzzParseImports: any spring.config.import value parses or fails with
// an error, never a panic; what parses prints back to an entry that parses
// the same.
func FuzzParseImports(f *testing.F) {
	for _, s := range []string{"optional:nacos:graylane-mesh.yaml", "nacos:a.properties?group=G&refreshEnabled=false,file:x.yaml",
		"nacos:", "nacos:x?%zz", "optional:nacos:a?refreshEnabled=maybe", ",,nacos:a?group="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, err := parseImports(v, nacosclient.DefaultGroup)
		if err != nil {
			return
		}
		for _, ci := range got {
			if ci.DataID == "" || ci.Group == "" {
				t.Fatalf("parseImports(%q) = %+v: an import without data id or group", v, ci)
			}
			if strings.ContainsAny(ci.DataID, "?,") || strings.ContainsAny(ci.Group, ",&") {
				continue // String does not escape these
			}
			again, err := parseImports(ci.String(), nacosclient.DefaultGroup)
			if err != nil || len(again) != 1 || again[0].DataID != ci.DataID || again[0].Group != ci.Group || again[0].Optional != ci.Optional {
				t.Fatalf("%+v prints %q, which parses as %+v, %v", ci, ci.String(), again, err)
			}
		}
	})
}

// connCounter forwards TCP connections to target and counts those open.
type connCounter struct {
	ln   net.Listener
	open atomic.Int32
}

func countConns(t *testing.T, target string) *connCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cc := &connCounter{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			cc.open.Add(1)
			go func() {
				io.Copy(out, in) // until the client closes
				cc.open.Add(-1)
				out.Close()
				in.Close()
			}()
			go func() {
				io.Copy(in, out)
				in.Close()
			}()
		}
	}()
	return cc
}

// TestNacosCloseClosesConnections: a stopped app keeps no idle connection
// to Nacos (its HTTP client is the discovery's own).
func TestNacosCloseClosesConnections(t *testing.T) {
	s, _ := startNacos(t)
	cc := countConns(t, s.HTTPAddr())
	n := &NacosOptions{Server: cc.ln.Addr().String(), Group: nacosclient.DefaultGroup, Service: "order-service", IP: "127.0.0.1"}
	d, err := startDiscovery(n, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.register(8080, "v1"); err != nil {
		t.Fatal(err)
	}
	if cc.open.Load() == 0 {
		t.Fatal("no connection to Nacos after registering")
	}
	d.close(true)
	deadline := time.Now().Add(10 * time.Second)
	for cc.open.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections to Nacos still open after close", cc.open.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOverrideURL: an override joined with a call's path and query, the
// parsed override left as it was.
func TestOverrideURL(t *testing.T) {
	for _, tc := range []struct{ base, call, want string }{
		{"h:80", "lb://svc", "http://h:80/"},
		{"http://h/", "lb://svc/x/y?q=1&r=%2F", "http://h/x/y?q=1&r=%2F"},
		{"https://u:p@h:1/api", "lb://svc/a%2Fb?", "https://u:p@h:1/api/a%2Fb?"},
		{"http://h/a%2Fb/", "lb://svc/%E4%B8%AD?x", "http://h/a%2Fb/%E4%B8%AD?x"},
	} {
		base, err := overrideBase(tc.base)
		if err != nil {
			t.Fatal(err)
		}
		before := base.String()
		u, err := url.Parse(tc.call)
		if err != nil {
			t.Fatal(err)
		}
		if got := overrideURL(base, u).String(); got != tc.want {
			t.Errorf("%s + %s = %s, want %s", tc.base, tc.call, got, tc.want)
		}
		if base.String() != before {
			t.Errorf("%s: the base became %s", tc.base, base)
		}
	}
	for _, bad := range []string{"ftp://h", "http://", "http://h:80:x/%zz"} {
		if _, err := overrideBase(bad); err == nil {
			t.Errorf("overrideBase(%q): no error", bad)
		}
	}
}

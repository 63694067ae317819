package nacosclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosserver"
)

// grpcPorts are the gRPC ports of the servers start started, by their
// HTTP addresses as the tests name them: a server started on port 0 has
// gRPC on its port + 1000 unless that port was taken.
var grpcPorts = map[string]int{}

// start runs a real local Nacos server (internal/nacosserver) on loopback.
func start(t *testing.T, user, pw string) *nacosserver.Server {
	t.Helper()
	srv, err := nacosserver.Start(context.Background(), nacosserver.Options{Addr: "127.0.0.1:0", Username: user, Password: pw, TLS: serverTLS(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, p, _ := net.SplitHostPort(srv.GRPCAddr())
	port, _ := strconv.Atoi(p)
	for _, a := range []string{srv.HTTPAddr(), "http://" + srv.HTTPAddr() + "/nacos/"} {
		grpcPorts[a] = port
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func newClient(t *testing.T, o nacosclient.Options) *nacosclient.Client {
	t.Helper()
	if o.GRPCPort == 0 && o.Server != "" {
		o.GRPCPort = grpcPorts[o.Server]
	}
	c, err := nacosclient.New(context.Background(), withTLS(t, o))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if o.Protocol != "" && o.Protocol != nacosclient.ProtocolAuto && c.Protocol() != o.Protocol {
		t.Fatalf("protocol %s, want %s", c.Protocol(), o.Protocol)
	}
	return c
}

// protocols runs a test with each protocol: gRPC on the protocol's
// message definitions, and the v1 HTTP Open API.
func protocols(t *testing.T, f func(t *testing.T, protocol string)) {
	for _, p := range []string{nacosclient.ProtocolGRPC, nacosclient.ProtocolHTTP} {
		t.Run(p, func(t *testing.T) { f(t, p) })
	}
}

// protocolsAndTLS runs a test as protocols does, then over TLS (grpc+tls,
// https: the server in TLS mode, the client trusting its CA; see
// tlsCase). The test reaches the server through start, newClient,
// withTLS and testHTTPClient.
func protocolsAndTLS(t *testing.T, f func(t *testing.T, protocol string)) {
	protocols(t, f)
	for _, p := range []string{nacosclient.ProtocolGRPC, nacosclient.ProtocolHTTP} {
		name := map[string]string{nacosclient.ProtocolGRPC: "grpc+tls", nacosclient.ProtocolHTTP: "https"}[p]
		t.Run(name, func(t *testing.T) {
			useTLS(t)
			f(t, p)
		})
	}
}

func TestConfig(t *testing.T) { protocolsAndTLS(t, testConfig) }

func testConfig(t *testing.T, protocol string) {
	ctx := context.Background()
	srv := start(t, "", "")
	c := newClient(t, nacosclient.Options{Server: srv.HTTPAddr(), Namespace: "dev", Protocol: protocol})

	if _, err := c.GetConfig(ctx, "a.yaml", ""); !errors.Is(err, nacosclient.ErrNotFound) {
		t.Fatalf("GetConfig of a missing config: %v, want ErrNotFound", err)
	}
	if err := c.PublishConfig(ctx, "a.yaml", "", "x: 1\n", "yaml", ""); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetConfig(ctx, "a.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	want := nacosclient.Config{DataID: "a.yaml", Group: "DEFAULT_GROUP", Content: "x: 1\n", MD5: nacosclient.MD5("x: 1\n"), Type: "yaml"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("GetConfig (-want +got):\n%s", d)
	}

	// Compare-and-swap: the md5 read publishes; a stale one conflicts and
	// writes nothing.
	if err := c.PublishConfig(ctx, "a.yaml", "", "x: 2\n", "yaml", got.MD5); err != nil {
		t.Fatalf("CAS publish with the current md5: %v", err)
	}
	if err := c.PublishConfig(ctx, "a.yaml", "", "x: 3\n", "yaml", got.MD5); !errors.Is(err, nacosclient.ErrConflict) {
		t.Fatalf("CAS publish with a stale md5: %v, want ErrConflict", err)
	}
	if now, _ := c.GetConfig(ctx, "a.yaml", ""); now.Content != "x: 2\n" {
		t.Errorf("after a failed CAS the content is %q, want x: 2", now.Content)
	}

	// The namespace separates: public has no a.yaml.
	pub := newClient(t, nacosclient.Options{Server: "http://" + srv.HTTPAddr() + "/nacos/", Namespace: "public", Protocol: protocol})
	if _, err := pub.GetConfig(ctx, "a.yaml", ""); !errors.Is(err, nacosclient.ErrNotFound) {
		t.Errorf("a.yaml of namespace dev read from public: %v", err)
	}
	ns, err := pub.Namespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"public", "dev"}, ns); d != "" {
		t.Errorf("Namespaces (-want +got):\n%s", d)
	}
}

func register(t *testing.T, srv *nacosserver.Server, q url.Values) {
	t.Helper()
	call(t, srv, http.MethodPost, "/nacos/v1/ns/instance", q)
}

// call sends method path?q to the server (over TLS when it serves TLS)
// and fails the test unless it answers 200.
func call(t *testing.T, srv *nacosserver.Server, method, path string, q url.Values) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL()+path+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := testHTTPClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s %v: HTTP %d", method, path, q, resp.StatusCode)
	}
}

// TestServicesPages: a group of more services than two pages of a list
// (500 each) is listed whole, over both protocols.
func TestServicesPages(t *testing.T) {
	srv := start(t, "", "")
	var want []string
	for i := range 1001 {
		name := fmt.Sprintf("svc-%04d", i)
		register(t, srv, url.Values{"serviceName": {name}, "ip": {"10.0.0.1"}, "port": {"80"}, "ephemeral": {"false"}})
		want = append(want, name)
	}
	protocols(t, func(t *testing.T, protocol string) {
		c := newClient(t, nacosclient.Options{Server: srv.HTTPAddr(), Protocol: protocol})
		got, err := c.Services(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Services (-want +got):\n%s", d)
		}
	})
}

func TestNaming(t *testing.T) { protocolsAndTLS(t, testNaming) }

func testNaming(t *testing.T, protocol string) {
	ctx := context.Background()
	srv := start(t, "", "")
	for _, q := range []url.Values{
		{"serviceName": {"orders"}, "ip": {"10.0.0.2"}, "port": {"8080"}, "metadata": {`{"version":"v2"}`}, "ephemeral": {"false"}},
		{"serviceName": {"orders"}, "ip": {"10.0.0.1"}, "port": {"8080"}, "ephemeral": {"false"}, "healthy": {"false"}},
		{"serviceName": {"pay"}, "ip": {"10.0.0.3"}, "port": {"80"}, "ephemeral": {"false"}},
		{"serviceName": {"other"}, "groupName": {"G"}, "ip": {"10.0.0.4"}, "port": {"80"}, "ephemeral": {"false"}},
	} {
		register(t, srv, q)
	}
	c := newClient(t, nacosclient.Options{Server: srv.HTTPAddr(), Protocol: protocol})
	svcs, err := c.Services(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"orders", "pay"}, svcs); d != "" {
		t.Errorf("Services (-want +got):\n%s", d)
	}
	if svcs, _ := c.Services(ctx, "G"); !cmp.Equal(svcs, []string{"other"}) {
		t.Errorf("Services(G) = %v", svcs)
	}
	got, err := c.Instances(ctx, "orders", "")
	if err != nil {
		t.Fatal(err)
	}
	want := []nacosclient.Instance{
		{Service: "orders", Group: "DEFAULT_GROUP", Cluster: "DEFAULT", IP: "10.0.0.1", Port: 8080, Weight: 1, Healthy: false, Enabled: true, Metadata: map[string]string{}},
		{Service: "orders", Group: "DEFAULT_GROUP", Cluster: "DEFAULT", IP: "10.0.0.2", Port: 8080, Weight: 1, Healthy: true, Enabled: true, Metadata: map[string]string{"version": "v2"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Instances (-want +got):\n%s", d)
	}
}

func TestAuth(t *testing.T) { protocolsAndTLS(t, testAuth) }

func testAuth(t *testing.T, protocol string) {
	ctx := context.Background()
	srv := start(t, "nacos", "secret")
	if _, err := nacosclient.New(ctx, withTLS(t, nacosclient.Options{Server: srv.HTTPAddr(), Username: "nacos", Password: "wrong", Protocol: protocol, GRPCPort: grpcPorts[srv.HTTPAddr()]})); !errors.Is(err, nacosclient.ErrAuth) {
		t.Fatalf("New with a wrong password: %v, want ErrAuth", err)
	}
	anon := newClient(t, nacosclient.Options{Server: srv.HTTPAddr(), Protocol: protocol})
	if err := anon.PublishConfig(ctx, "a", "", "x", "", ""); err == nil || !strings.Contains(err.Error(), "403") && !errors.Is(err, nacosclient.ErrAuth) {
		t.Fatalf("publish without login: %v, want a refusal", err)
	}
	c := newClient(t, nacosclient.Options{Server: srv.HTTPAddr(), Username: "nacos", Password: "secret", Protocol: protocol})
	if err := c.PublishConfig(ctx, "a", "", "x", "", ""); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetConfig(ctx, "a", ""); err != nil || got.Content != "x" {
		t.Fatalf("GetConfig = %+v, %v", got, err)
	}
}

func TestOptions(t *testing.T) {
	env := map[string]string{"GRAYLANE_NACOS_SERVER": "nacos:8848", "GRAYLANE_NACOS_GROUP": "G", "GRAYLANE_NACOS_USERNAME": "u"}
	got, err := nacosclient.OptionsFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(nacosclient.Options{Server: "nacos:8848", Group: "G", Username: "u"}, got); d != "" {
		t.Errorf("OptionsFromEnv (-want +got):\n%s", d)
	}
	for _, bad := range []string{"ftp://x", "http://", "::"} {
		if _, err := nacosclient.New(context.Background(), nacosclient.Options{Server: bad}); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	if _, err := nacosclient.New(context.Background(), nacosclient.Options{GRPCPort: 70000}); err == nil || !strings.Contains(err.Error(), "gRPC port 70000") {
		t.Errorf("New with gRPC port 70000: %v", err)
	}
	if _, err := nacosclient.New(context.Background(), nacosclient.Options{Protocol: "udp"}); err == nil || !strings.Contains(err.Error(), `protocol "udp"`) {
		t.Errorf("New with protocol udp: %v", err)
	}
	// auto: something that is not Nacos' gRPC on the gRPC port (here an
	// HTTP server) means HTTP; asked for gRPC, it is an error.
	srv := start(t, "", "")
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	otherPort := other.Listener.Addr().(*net.TCPAddr).Port
	auto := newClient(t, nacosclient.Options{Server: srv.HTTPAddr(), GRPCPort: otherPort})
	if auto.Protocol() != nacosclient.ProtocolHTTP {
		t.Errorf("auto with an HTTP server on the gRPC port picked %s", auto.Protocol())
	}
	if _, err := auto.Services(context.Background(), ""); err != nil {
		t.Errorf("auto fell back to HTTP but: %v", err)
	}
	if _, err := nacosclient.New(context.Background(), nacosclient.Options{Server: srv.HTTPAddr(), GRPCPort: otherPort, Protocol: nacosclient.ProtocolGRPC}); err == nil {
		t.Errorf("grpc with an HTTP server on the gRPC port: no error")
	}
	// An unreachable server is an error naming it, not a hang; auto
	// finds no gRPC port and uses HTTP.
	c := newClient(t, nacosclient.Options{Server: "127.0.0.1:1"})
	if c.Protocol() != nacosclient.ProtocolHTTP {
		t.Errorf("auto picked %s with nothing on the gRPC port", c.Protocol())
	}
	if _, err := c.GetConfig(context.Background(), "a", ""); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("GetConfig from nothing: %v", err)
	}
}

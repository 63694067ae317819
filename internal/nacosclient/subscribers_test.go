package nacosclient_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	nacosutil "github.com/nacos-group/nacos-sdk-go/v2/util"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosserver"
)

// listAsReceiver is a 1.x client's instance list with a push receiver
// (udpPort): the server records clientIP:udpPort as a subscriber.
func listAsReceiver(t *testing.T, srv *nacosserver.Server, q url.Values) {
	t.Helper()
	call(t, srv, http.MethodGet, "/nacos/v1/ns/instance/list", q)
}

func TestSubscribers(t *testing.T) { protocols(t, testSubscribers) }

// testSubscribers: over either protocol Subscribers reads the v1 Open
// API, every page (1,001 receivers: two pages of Nacos' 1,000), and keeps
// only the service asked for (Nacos matches names as substrings).
func testSubscribers(t *testing.T, protocol string) {
	ctx := context.Background()
	srv := start(t, "", "")
	for i := range 1001 {
		listAsReceiver(t, srv, url.Values{"serviceName": {"orders"}, "clientIP": {"10.9.0.1"}, "udpPort": {strconv.Itoa(1000 + i)}})
	}
	listAsReceiver(t, srv, url.Values{"serviceName": {"orders-v2"}, "clientIP": {"10.9.0.2"}, "udpPort": {"7000"}, "app": {"batch"}})
	listAsReceiver(t, srv, url.Values{"serviceName": {"orders"}, "groupName": {"G"}, "clientIP": {"10.9.0.3"}, "udpPort": {"7000"}})
	c := newClient(t, nacosclient.Options{Server: srv.HTTPAddr(), Protocol: protocol})

	got, err := c.Subscribers(ctx, "orders", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1001 {
		t.Fatalf("Subscribers(orders): %d, want 1001", len(got))
	}
	want := nacosclient.Subscriber{Service: "orders", Group: "DEFAULT_GROUP", Address: "10.9.0.1:1000", IP: "10.9.0.1", Port: 1000, Agent: "Go-http-client/1.1"}
	if d := cmp.Diff(want, got[0]); d != "" {
		t.Errorf("first subscriber (-want +got):\n%s", d)
	}
	got, err = c.Subscribers(ctx, "orders-v2", "")
	want = nacosclient.Subscriber{Service: "orders-v2", Group: "DEFAULT_GROUP", Address: "10.9.0.2:7000", IP: "10.9.0.2", Port: 7000, Agent: "Go-http-client/1.1", App: "batch"}
	if err != nil || len(got) != 1 || !cmp.Equal(want, got[0]) {
		t.Errorf("Subscribers(orders-v2) = %+v, %v; want [%+v]", got, err, want)
	}
	got, err = c.Subscribers(ctx, "orders", "G")
	if err != nil || len(got) != 1 || got[0].IP != "10.9.0.3" {
		t.Errorf("Subscribers(orders, G) = %+v, %v; want 10.9.0.3's", got, err)
	}
}

// TestSubscribersUnsupported: a server without the endpoint (HTTP 404)
// is ErrUnsupported.
func TestSubscribersUnsupported(t *testing.T) {
	old := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(old.Close)
	c := newClient(t, nacosclient.Options{Server: old.URL, Protocol: nacosclient.ProtocolHTTP})
	if _, err := c.Subscribers(context.Background(), "orders", ""); !errors.Is(err, nacosclient.ErrUnsupported) {
		t.Errorf("Subscribers on a 404 server: %v, want ErrUnsupported", err)
	}
}

func TestSubscribersSDK(t *testing.T) { protocols(t, testSubscribersSDK) }

// testSubscribersSDK: the official Go client (nacos-sdk-go v2.3.2) that
// subscribes over gRPC is in Subscribers, with the address and version it
// reported and its app name, until it unsubscribes, and after a second
// Subscribe until it closes.
func testSubscribersSDK(t *testing.T, protocol string) {
	ctx := context.Background()
	srv := start(t, "", "")
	host, p, _ := net.SplitHostPort(srv.HTTPAddr())
	port, _ := strconv.ParseUint(p, 10, 64)
	sdk, err := clients.NewNamingClient(vo.NacosClientParam{
		ClientConfig: &constant.ClientConfig{TimeoutMs: 10000, NotLoadCacheAtStart: true, AppName: "checkout",
			CacheDir: t.TempDir(), LogDir: t.TempDir(), LogLevel: "error"},
		ServerConfigs: []constant.ServerConfig{{IpAddr: host, Port: port, GrpcPort: uint64(grpcPorts[srv.HTTPAddr()]), ContextPath: "/nacos", Scheme: "http"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sdk.CloseClient)
	c := newClient(t, nacosclient.Options{Server: srv.HTTPAddr(), Protocol: protocol})
	subscribers := func() []nacosclient.Subscriber {
		t.Helper()
		got, err := c.Subscribers(ctx, "orders", "shop")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	param := &vo.SubscribeParam{ServiceName: "orders", GroupName: "shop", SubscribeCallback: func([]model.Instance, error) {}}
	if err := sdk.Subscribe(param); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	ip := nacosutil.LocalIP()
	want := []nacosclient.Subscriber{{Service: "orders", Group: "shop", Address: ip, IP: ip, Agent: constant.CLIENT_VERSION, App: "checkout"}}
	if d := cmp.Diff(want, subscribers()); d != "" {
		t.Errorf("after Subscribe (-want +got):\n%s", d)
	}
	if err := sdk.Unsubscribe(param); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	if got := subscribers(); len(got) != 0 {
		t.Errorf("after Unsubscribe: %+v, want none", got)
	}
	if err := sdk.Subscribe(param); err != nil {
		t.Fatalf("Subscribe again: %v", err)
	}
	if got := subscribers(); len(got) != 1 {
		t.Fatalf("after a second Subscribe: %+v, want one", got)
	}
	sdk.CloseClient()
	// The server sees the connection close a little later: wait for it.
	deadline := time.Now().Add(2 * time.Minute)
	for len(subscribers()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the closed client is still a subscriber")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package nacosserver

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

// waitLimit bounds a condition wait; it is a failure bound for a hung
// server, not a speed target (CI runs on a loaded 2-core machine).
const waitLimit = 2 * time.Minute

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func hostPort(t *testing.T, addr string) (string, uint64) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(p, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}

// sdkParam is the official client's configuration for s.
func sdkParam(t *testing.T, s *Server, username, password string) vo.NacosClientParam {
	t.Helper()
	host, port := hostPort(t, s.HTTPAddr())
	_, grpcPort := hostPort(t, s.GRPCAddr())
	return vo.NacosClientParam{
		ClientConfig: &constant.ClientConfig{
			TimeoutMs: 10000, NotLoadCacheAtStart: true, UpdateCacheWhenEmpty: true,
			CacheDir: t.TempDir(), LogDir: t.TempDir(), LogLevel: "error",
			Username: username, Password: password,
		},
		ServerConfigs: []constant.ServerConfig{{IpAddr: host, Port: port, GrpcPort: grpcPort, ContextPath: "/nacos", Scheme: "http"}},
	}
}

func namingClient(t *testing.T, s *Server, username, password string) naming_client.INamingClient {
	t.Helper()
	c, err := clients.NewNamingClient(sdkParam(t, s, username, password))
	if err != nil {
		t.Fatalf("NewNamingClient: %v", err)
	}
	return c
}

func configClient(t *testing.T, s *Server, username, password string) config_client.IConfigClient {
	t.Helper()
	c, err := clients.NewConfigClient(sdkParam(t, s, username, password))
	if err != nil {
		t.Fatalf("NewConfigClient: %v", err)
	}
	t.Cleanup(c.CloseClient)
	return c
}

// waitFor polls cond until it holds; it fails the test after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receive waits for a value on ch; it fails the test after waitLimit.
func receive[T any](t *testing.T, what string, ch <-chan T, match func(T) bool) T {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		select {
		case v := <-ch:
			if match(v) {
				return v
			}
		case <-timer.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func endpoints(ins []model.Instance) []string {
	out := []string{}
	for _, in := range ins {
		out = append(out, in.Ip+":"+strconv.FormatUint(in.Port, 10))
	}
	slices.Sort(out)
	return out
}

// TestSDKNaming drives the official Go SDK's naming client (gRPC for
// ephemeral instances, HTTP for persistent ones): register, select,
// subscribe with pushes, and removal of a closed client's instances.
func TestSDKNaming(t *testing.T) {
	s := startServer(t, Options{})
	provider := namingClient(t, s, "", "")
	consumer := namingClient(t, s, "", "")
	t.Cleanup(consumer.CloseClient)

	register := func(c naming_client.INamingClient, ip string, ephemeral bool) {
		t.Helper()
		ok, err := c.RegisterInstance(vo.RegisterInstanceParam{
			Ip: ip, Port: 8080, ServiceName: "orders", GroupName: "shop", ClusterName: "c1",
			Weight: 1, Enable: true, Healthy: true, Ephemeral: ephemeral, Metadata: map[string]string{"version": "v1"},
		})
		if err != nil || !ok {
			t.Fatalf("RegisterInstance %s: %v, %v", ip, ok, err)
		}
	}
	register(provider, "10.0.0.1", true)

	got, err := consumer.SelectInstances(vo.SelectInstancesParam{ServiceName: "orders", GroupName: "shop", HealthyOnly: true})
	if err != nil {
		t.Fatalf("SelectInstances: %v", err)
	}
	if diff := cmp.Diff([]string{"10.0.0.1:8080"}, endpoints(got)); diff != "" {
		t.Errorf("SelectInstances (-want +got):\n%s", diff)
	}
	if got[0].Metadata["version"] != "v1" || got[0].ClusterName != "c1" || got[0].ServiceName != "shop@@orders" {
		t.Errorf("instance = %+v, want metadata version=v1, cluster c1, service shop@@orders", got[0])
	}

	pushes := make(chan []string, 16)
	if err := consumer.Subscribe(&vo.SubscribeParam{ServiceName: "orders", GroupName: "shop", SubscribeCallback: func(ins []model.Instance, err error) {
		pushes <- endpoints(ins)
	}}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	register(provider, "10.0.0.2", true)
	receive(t, "a push with both instances", pushes, func(eps []string) bool {
		return cmp.Equal(eps, []string{"10.0.0.1:8080", "10.0.0.2:8080"})
	})

	// A persistent instance goes over the v1 HTTP API and outlives the client.
	register(provider, "10.0.0.3", false)
	receive(t, "a push with the persistent instance", pushes, func(eps []string) bool { return len(eps) == 3 })

	provider.CloseClient()
	receive(t, "a push without the closed client's instances", pushes, func(eps []string) bool {
		return cmp.Equal(eps, []string{"10.0.0.3:8080"})
	})

	list, err := consumer.GetAllServicesInfo(vo.GetAllServiceInfoParam{GroupName: "shop", PageNo: 1, PageSize: 10})
	if err != nil {
		t.Fatalf("GetAllServicesInfo: %v", err)
	}
	if diff := cmp.Diff(model.ServiceList{Count: 1, Doms: []string{"orders"}}, list); diff != "" {
		t.Errorf("GetAllServicesInfo (-want +got):\n%s", diff)
	}
}

// TestSDKConfig drives the official Go SDK's config client over gRPC:
// publish, get, listen with a pushed change, compare-and-swap and delete.
func TestSDKConfig(t *testing.T) {
	s := startServer(t, Options{})
	writer := configClient(t, s, "", "")
	reader := configClient(t, s, "", "")
	param := vo.ConfigParam{DataId: "orders.properties", Group: "shop"}

	publish := func(content, casMd5 string) (bool, error) {
		p := param
		p.Content, p.CasMd5 = content, casMd5
		return writer.PublishConfig(p)
	}
	if ok, err := publish("discount=0", ""); err != nil || !ok {
		t.Fatalf("PublishConfig: %v, %v", ok, err)
	}
	if got, err := reader.GetConfig(param); err != nil || got != "discount=0" {
		t.Fatalf("GetConfig = %q, %v; want discount=0", got, err)
	}

	changes := make(chan string, 16)
	listen := param
	listen.OnChange = func(_, _, _, data string) { changes <- data }
	if err := reader.ListenConfig(listen); err != nil {
		t.Fatalf("ListenConfig: %v", err)
	}
	if ok, err := publish("discount=10", md5Hex("discount=0")); err != nil || !ok {
		t.Fatalf("PublishConfig with the current casMd5: %v, %v", ok, err)
	}
	receive(t, "the listener's change", changes, func(d string) bool { return d == "discount=10" })

	// A stale casMd5 is refused and the stored content stays.
	ok, err := publish("discount=99", md5Hex("discount=0"))
	if ok || err == nil || !strings.Contains(err.Error(), "Cas publish fail") {
		t.Errorf("PublishConfig with a stale casMd5 = %v, %v; want false and a Cas publish fail error", ok, err)
	}
	if got, err := reader.GetConfig(param); err != nil || got != "discount=10" {
		t.Errorf("GetConfig after the refused CAS = %q, %v; want discount=10", got, err)
	}

	if ok, err := writer.DeleteConfig(param); err != nil || !ok {
		t.Fatalf("DeleteConfig: %v, %v", ok, err)
	}
	if got, err := writer.GetConfig(param); err != nil || got != "" {
		t.Errorf("GetConfig after delete = %q, %v; want empty", got, err)
	}
}

// TestSDKAuth logs the official clients in with username and password, and
// shows a wrong password is refused.
func TestSDKAuth(t *testing.T) {
	s := startServer(t, Options{Username: "nacos", Password: "s3cret"})
	nc := namingClient(t, s, "nacos", "s3cret")
	t.Cleanup(nc.CloseClient)
	if ok, err := nc.RegisterInstance(vo.RegisterInstanceParam{Ip: "10.0.0.9", Port: 80, ServiceName: "pay", Weight: 1, Enable: true, Healthy: true, Ephemeral: true}); err != nil || !ok {
		t.Fatalf("RegisterInstance with credentials: %v, %v", ok, err)
	}
	cc := configClient(t, s, "nacos", "s3cret")
	if ok, err := cc.PublishConfig(vo.ConfigParam{DataId: "pay.yaml", Group: "DEFAULT_GROUP", Content: "a: 1"}); err != nil || !ok {
		t.Fatalf("PublishConfig with credentials: %v, %v", ok, err)
	}

	bad := configClient(t, s, "nacos", "wrong")
	if ok, err := bad.PublishConfig(vo.ConfigParam{DataId: "pay.yaml", Group: "DEFAULT_GROUP", Content: "a: 2"}); ok || err == nil {
		t.Errorf("PublishConfig with a wrong password = %v, %v; want refused", ok, err)
	}
}

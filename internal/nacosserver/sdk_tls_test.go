package nacosserver

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/graylane/graylane/internal/tlstest"
)

// TestSDKTLS drives the official Go SDK (nacos-sdk-go/v2 v2.3.2) with its
// TLSConfig against the server in mutual TLS mode with authentication:
// login and a persistent instance over HTTPS (the SDK's http_agent with
// the https scheme), an ephemeral instance, configuration and a pushed
// change over gRPC with TLS (grpc_client getTLSCredentials). The server's
// certificate and the SDK's client certificate come from a CA made for
// the test.
func TestSDKTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "nacos-ca")
	client := ca.Client("sdk")
	s := startServer(t, Options{Username: "nacos", Password: "s3cret", TLS: ca.ServerConfig(ca.Server("nacos", "127.0.0.1"), true)})
	param := func() vo.NacosClientParam {
		p := sdkParam(t, s, "nacos", "s3cret")
		p.ServerConfigs[0].Scheme = "https"
		// Appointed: these settings, not the nacos_remote_client_rpc_tls_*
		// environment (grpc_client getEnvTLSConfig).
		p.ClientConfig.TLSCfg = constant.TLSConfig{Appointed: true, Enable: true, CaFile: ca.File, CertFile: client.CertFile, KeyFile: client.KeyFile}
		return p
	}

	naming, err := clients.NewNamingClient(param())
	if err != nil {
		t.Fatalf("NewNamingClient: %v", err)
	}
	t.Cleanup(naming.CloseClient)
	for _, in := range []struct {
		ip        string
		ephemeral bool
	}{{"10.0.0.1", true}, {"10.0.0.2", false}} {
		ok, err := naming.RegisterInstance(vo.RegisterInstanceParam{Ip: in.ip, Port: 8080, ServiceName: "orders",
			Weight: 1, Enable: true, Healthy: true, Ephemeral: in.ephemeral})
		if err != nil || !ok {
			t.Fatalf("RegisterInstance %s (ephemeral %v) over TLS: %v, %v", in.ip, in.ephemeral, ok, err)
		}
	}
	var got []model.Instance
	waitFor(t, "both instances", func() bool {
		got, err = naming.SelectInstances(vo.SelectInstancesParam{ServiceName: "orders", HealthyOnly: true})
		return err == nil && len(got) == 2
	})
	if diff := cmp.Diff([]string{"10.0.0.1:8080", "10.0.0.2:8080"}, endpoints(got)); diff != "" {
		t.Errorf("SelectInstances over TLS (-want +got):\n%s", diff)
	}

	config, err := clients.NewConfigClient(param())
	if err != nil {
		t.Fatalf("NewConfigClient: %v", err)
	}
	t.Cleanup(config.CloseClient)
	cp := vo.ConfigParam{DataId: "orders.properties", Group: "shop", Content: "discount=0"}
	if ok, err := config.PublishConfig(cp); err != nil || !ok {
		t.Fatalf("PublishConfig over TLS: %v, %v", ok, err)
	}
	changes := make(chan string, 16)
	listen := vo.ConfigParam{DataId: cp.DataId, Group: cp.Group, OnChange: func(_, _, _, data string) { changes <- data }}
	if err := config.ListenConfig(listen); err != nil {
		t.Fatalf("ListenConfig over TLS: %v", err)
	}
	cp.Content = "discount=10"
	if ok, err := config.PublishConfig(cp); err != nil || !ok {
		t.Fatalf("PublishConfig over TLS: %v, %v", ok, err)
	}
	receive(t, "the pushed change over TLS", changes, func(d string) bool { return d == "discount=10" })
	if v, err := config.GetConfig(vo.ConfigParam{DataId: cp.DataId, Group: cp.Group}); err != nil || v != "discount=10" {
		t.Errorf("GetConfig over TLS = %q, %v; want discount=10", v, err)
	}
}

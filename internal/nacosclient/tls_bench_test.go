package nacosclient_test

import (
	"context"
	"strings"
	"testing"

	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosserver"
	"github.com/graylane/graylane/internal/tlstest"
)

// benchCases are the four ways to one local registry: gRPC and HTTP, in
// plain text and over TLS (a server in TLS mode with its own CA).
func benchCases(b *testing.B, f func(b *testing.B, o nacosclient.Options)) {
	ca := tlstest.NewCA(b, "bench-ca")
	for _, c := range []struct {
		name, protocol string
		tls            bool
	}{{"grpc", nacosclient.ProtocolGRPC, false}, {"grpc+tls", nacosclient.ProtocolGRPC, true}, {"http", nacosclient.ProtocolHTTP, false}, {"https", nacosclient.ProtocolHTTP, true}} {
		b.Run(c.name, func(b *testing.B) {
			opts := nacosserver.Options{Addr: "127.0.0.1:0"}
			if c.tls {
				opts.TLS = ca.ServerConfig(ca.Server("nacos", "127.0.0.1"), false)
			}
			srv, err := nacosserver.Start(context.Background(), opts)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { srv.Close() })
			o := nacosclient.Options{Server: srv.URL(), Protocol: c.protocol, GRPCPort: portOf(b, srv.GRPCAddr())}
			if c.tls {
				o.TLS.CAFile = ca.File
			}
			seed, err := nacosclient.New(context.Background(), o)
			if err != nil {
				b.Fatal(err)
			}
			defer seed.Close()
			if err := seed.PublishConfig(context.Background(), "orders.properties", "", strings.Repeat("a", 1024), "properties", ""); err != nil {
				b.Fatal(err)
			}
			f(b, o)
		})
	}
}

// BenchmarkGetConfig: reading a 1 KiB configuration on an open client.
func BenchmarkGetConfig(b *testing.B) {
	benchCases(b, func(b *testing.B, o nacosclient.Options) {
		c, err := nacosclient.New(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.GetConfig(context.Background(), "orders.properties", ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkConnect: what a command pays once - New (with gRPC, the
// connection, its setup and, over TLS, the probe and the handshakes), one
// read, Close.
func BenchmarkConnect(b *testing.B) {
	benchCases(b, func(b *testing.B, o nacosclient.Options) {
		b.ReportAllocs()
		for b.Loop() {
			c, err := nacosclient.New(context.Background(), o)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.GetConfig(context.Background(), "orders.properties", ""); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}

package nacosserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	pb "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
)

// benchServer serves one service with 10 instances and one 1 KiB
// configuration.
func benchServer(b *testing.B) *Server {
	b.Helper()
	s, err := Start(context.Background(), Options{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	k := serviceKey{defaultNamespace, defaultGroup, "orders"}
	for i := range 10 {
		s.naming.register(k, &instance{IP: "10.0.0." + strconv.Itoa(i+1), Port: 8080, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, Cluster: defaultCluster, Metadata: map[string]string{"version": "v1"}})
	}
	content := make([]byte, 1024)
	for i := range content {
		content[i] = 'a' + byte(i%26)
	}
	if err := s.configs.publish(configKey{group: defaultGroup, dataID: "orders.properties"}, string(content), "properties", ""); err != nil {
		b.Fatal(err)
	}
	return s
}

func benchHTTP(b *testing.B, path string, q url.Values) { benchHTTPOn(b, benchServer(b), path, q) }

func benchHTTPOn(b *testing.B, s *Server, path string, q url.Values) {
	u := "http://" + s.HTTPAddr() + path + "?" + q.Encode()
	client := &http.Client{}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkHTTPInstanceList: GET /nacos/v1/ns/instance/list of 10 instances.
func BenchmarkHTTPInstanceList(b *testing.B) {
	benchHTTP(b, "/nacos/v1/ns/instance/list", url.Values{"serviceName": {"orders"}, "healthyOnly": {"true"}})
}

// BenchmarkHTTPConfigGet: GET /nacos/v1/cs/configs of a 1 KiB configuration.
func BenchmarkHTTPConfigGet(b *testing.B) {
	benchHTTP(b, "/nacos/v1/cs/configs", url.Values{"dataId": {"orders.properties"}, "group": {"DEFAULT_GROUP"}})
}

func benchGRPC(b *testing.B, typ, want string, body any) {
	s := benchServer(b)
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	stream, err := pb.NewBiRequestStreamClient(conn).RequestBiStream(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	setup, _ := json.Marshal(map[string]any{"clientVersion": "bench"})
	if err := stream.Send(&pb.Payload{Metadata: &pb.Metadata{Type: "ConnectionSetupRequest"}, Body: &anypb.Any{Value: setup}}); err != nil {
		b.Fatal(err)
	}
	req := pb.NewRequestClient(conn)
	raw, _ := json.Marshal(body)
	p := &pb.Payload{Metadata: &pb.Metadata{Type: typ}, Body: &anypb.Any{Value: raw}}
	for { // the setup travels on the stream: wait until the connection is registered
		r, err := req.Request(context.Background(), p)
		if err != nil {
			b.Fatal(err)
		}
		if r.GetMetadata().GetType() == want {
			break
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := req.Request(context.Background(), p)
		if err != nil {
			b.Fatal(err)
		}
		if r.GetMetadata().GetType() != want {
			b.Fatalf("answer %s, want %s", r.GetMetadata().GetType(), want)
		}
	}
}

// BenchmarkGRPCServiceQuery: ServiceQueryRequest of 10 instances.
func BenchmarkGRPCServiceQuery(b *testing.B) {
	benchGRPC(b, "ServiceQueryRequest", "QueryServiceResponse", map[string]any{"serviceName": "orders", "healthyOnly": true})
}

// BenchmarkGRPCConfigQuery: ConfigQueryRequest of a 1 KiB configuration.
func BenchmarkGRPCConfigQuery(b *testing.B) {
	benchGRPC(b, "ConfigQueryRequest", "ConfigQueryResponse", map[string]any{"dataId": "orders.properties", "group": "DEFAULT_GROUP"})
}

// BenchmarkHTTPSubscribers lists the 1,000 subscribers of a service (one
// page of Nacos' default size): 999 push receivers and one gRPC
// connection's subscription, as a scan reads them once per service.
func BenchmarkHTTPSubscribers(b *testing.B) {
	s := benchServer(b)
	k := serviceKey{defaultNamespace, defaultGroup, "orders"}
	for i := range 999 {
		s.receivers.subscribe(k, subscriberJSON{AddrStr: "10.1." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250) + ":9001",
			IP: "10.1." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250), Port: 9001, NamespaceID: k.namespace, ServiceName: k.grouped()})
	}
	c := &rpcConn{id: "bench", ip: "10.2.0.1", version: "Nacos-Go-Client:v2.2.7", subs: map[serviceKey]subscription{k: {app: "unknown"}}}
	c.registered.Store(true)
	s.rpc.mu.Lock()
	s.rpc.conns[c.id] = c
	s.rpc.mu.Unlock()
	benchHTTPOn(b, s, "/nacos/v1/ns/service/subscribers", url.Values{"serviceName": {"orders"}})
}

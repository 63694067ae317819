package nacosserver

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	pb "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/google/go-cmp/cmp"
)

// rawClient speaks the gRPC protocol by hand, to reach what the SDK never
// sends.
type rawClient struct {
	t   *testing.T
	req pb.RequestClient
}

func (c *rawClient) call(typ string, body any, headers map[string]string) (string, map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	p, err := c.req.Request(context.Background(), &pb.Payload{Metadata: &pb.Metadata{Type: typ, Headers: headers}, Body: &anypb.Any{Value: b}})
	if err != nil {
		c.t.Fatalf("Request %s: %v", typ, err)
	}
	var out map[string]any
	if err := json.Unmarshal(p.GetBody().GetValue(), &out); err != nil {
		c.t.Fatalf("Request %s: answer body %q: %v", typ, p.GetBody().GetValue(), err)
	}
	return p.GetMetadata().GetType(), out
}

type reply struct {
	Type      string
	ErrorCode float64
	Message   any
}

func replyOf(typ string, body map[string]any) reply {
	return reply{typ, body["errorCode"].(float64), body["message"]}
}

// TestGRPCProtocol checks the answers GrpcRequestAcceptor gives to what the
// SDK never sends: requests before ConnectionSetup, unknown types, bodies
// that do not parse, bad instances, missing tokens.
func TestGRPCProtocol(t *testing.T) {
	s := startServer(t, Options{Username: "nacos", Password: "pw"})
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: t, req: pb.NewRequestClient(conn)}

	typ, body := c.call("ServerCheckRequest", map[string]any{}, nil)
	if typ != "ServerCheckResponse" || body["connectionId"] == "" {
		t.Fatalf("ServerCheck = %s %v", typ, body)
	}
	if got := replyOf(c.call("ServiceQueryRequest", map[string]any{"serviceName": "a"}, nil)); got != (reply{"ErrorResponse", 301, "Connection is unregistered."}) {
		t.Errorf("before ConnectionSetup: %+v", got)
	}

	stream, err := pb.NewBiRequestStreamClient(conn).RequestBiStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	setup, _ := json.Marshal(map[string]any{"clientVersion": "test", "labels": map[string]string{}})
	if err := stream.Send(&pb.Payload{Metadata: &pb.Metadata{Type: "ConnectionSetupRequest"}, Body: &anypb.Any{Value: setup}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the connection to register", func() bool {
		typ, _ := c.call("HealthCheckRequest", map[string]any{}, nil)
		return typ == "HealthCheckResponse"
	})

	login := func() string {
		tok, ok := s.auth.login("nacos", "pw")
		if !ok {
			t.Fatal("login failed")
		}
		return tok
	}
	token := map[string]string{"accessToken": login()}
	inst := func(port int, ephemeral bool) map[string]any {
		return map[string]any{"serviceName": "a", "type": "registerInstance", "instance": map[string]any{"ip": "10.0.0.1", "port": port, "weight": 1, "ephemeral": ephemeral}}
	}
	tests := []struct {
		name    string
		typ     string
		body    any
		headers map[string]string
		want    reply
	}{
		{"unknown type", "NoSuchRequest", map[string]any{}, token, reply{"ErrorResponse", 302, "RequestHandler Not Found"}},
		{"body not JSON", "ServiceQueryRequest", "not an object", token, reply{"ErrorResponse", 502, "json: cannot unmarshal string into Go value of type nacosserver.reqBase"}},
		{"no token", "ServiceQueryRequest", map[string]any{"serviceName": "a"}, nil, reply{"QueryServiceResponse", 403, userNotFound}},
		{"forged token", "ServiceQueryRequest", map[string]any{"serviceName": "a"}, map[string]string{"accessToken": "x"}, reply{"QueryServiceResponse", 403, "token invalid!"}},
		{"bad port", "InstanceRequest", inst(70000, true), token, reply{"InstanceResponse", 400, "Param 'port' is illegal, port should be in the range 0 to 65535: 70000"}},
		{"persistent over gRPC", "InstanceRequest", inst(80, false), token, reply{"InstanceResponse", 400, "Current Instance is not ephemeral, register persistent instances over HTTP."}},
		{"unknown instance request type", "InstanceRequest", map[string]any{"serviceName": "a", "type": "x", "instance": map[string]any{"ip": "10.0.0.1", "port": 80, "ephemeral": true}}, token, reply{"InstanceResponse", 400, "Unsupported request type x"}},
		{"config query of a missing config", "ConfigQueryRequest", map[string]any{"dataId": "d", "group": "g"}, token, reply{"ConfigQueryResponse", 300, "config data not exist"}},
		{"register", "InstanceRequest", inst(80, true), token, reply{"InstanceResponse", 0, nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, replyOf(c.call(tc.typ, tc.body, tc.headers))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if got := s.naming.query(serviceKey{defaultNamespace, defaultGroup, "a"}, "", false); len(got.hosts) != 1 {
		t.Errorf("hosts after the register = %d, want 1", len(got.hosts))
	}
	stream.CloseSend()
	conn.Close()
	waitFor(t, "the closed connection's instance to go", func() bool {
		return len(s.naming.query(serviceKey{defaultNamespace, defaultGroup, "a"}, "", false).hosts) == 0
	})
}

// TestClientDetection: an idle connection is probed with a
// ClientDetectionRequest; one that answers stays, one that does not is
// ejected with its instances.
func TestClientDetection(t *testing.T) {
	s := startServer(t, Options{keepAlive: 50 * time.Millisecond, detectTimeout: 50 * time.Millisecond})
	connect := func(ip string, answer bool) {
		conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		stream, err := pb.NewBiRequestStreamClient(conn).RequestBiStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		setup, _ := json.Marshal(map[string]any{"clientVersion": "test"})
		if err := stream.Send(&pb.Payload{Metadata: &pb.Metadata{Type: "ConnectionSetupRequest"}, Body: &anypb.Any{Value: setup}}); err != nil {
			t.Fatal(err)
		}
		c := &rawClient{t: t, req: pb.NewRequestClient(conn)}
		waitFor(t, "the connection to register", func() bool {
			typ, _ := c.call("InstanceRequest", map[string]any{"serviceName": "probe", "type": "registerInstance",
				"instance": map[string]any{"ip": ip, "port": 80, "weight": 1, "ephemeral": true}}, nil)
			return typ == "InstanceResponse"
		})
		go func() {
			for {
				p, err := stream.Recv()
				if err != nil {
					return
				}
				if answer && p.GetMetadata().GetType() == "ClientDetectionRequest" {
					var req struct {
						RequestID string `json:"requestId"`
					}
					json.Unmarshal(p.GetBody().GetValue(), &req) //nolint:errcheck // the server's own JSON
					b, _ := json.Marshal(map[string]any{"resultCode": 200, "requestId": req.RequestID})
					stream.Send(&pb.Payload{Metadata: &pb.Metadata{Type: "ClientDetectionResponse"}, Body: &anypb.Any{Value: b}}) //nolint:errcheck // checked by the outcome
				}
			}
		}()
	}
	connect("10.0.0.1", true)
	connect("10.0.0.2", false)
	hosts := func() []string {
		var out []string
		for _, h := range s.naming.query(serviceKey{defaultNamespace, defaultGroup, "probe"}, "", false).hosts {
			out = append(out, h.IP)
		}
		return out
	}
	waitFor(t, "the silent connection's instance to go", func() bool { return cmp.Equal(hosts(), []string{"10.0.0.1"}) })
	// The answering connection survives several more probe rounds.
	rounds := s.rpc.pushID.Load() + 6
	waitFor(t, "more probes", func() bool { return s.rpc.pushID.Load() >= rounds })
	if diff := cmp.Diff([]string{"10.0.0.1"}, hosts()); diff != "" {
		t.Errorf("hosts after more probes (-want +got):\n%s", diff)
	}
}

package nacosclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	pb "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
)

// Protocols of Options.Protocol.
const (
	// ProtocolAuto uses gRPC when the server's gRPC port (the HTTP port +
	// 1000) accepts a connection and answers Nacos' ServerCheckRequest
	// (over TLS for an https:// server), else HTTP.
	ProtocolAuto = "auto"
	// ProtocolGRPC is the Nacos 2.x/3.x gRPC protocol.
	ProtocolGRPC = "grpc"
	// ProtocolHTTP is the v1 HTTP Open API (Nacos 1.x and 2.x; Nacos 3.2
	// serves it only with its legacy adapter).
	ProtocolHTTP = "http"
)

// grpcPortOffset is where Nacos 2.x serves gRPC: the HTTP port + 1000.
const grpcPortOffset = 1000

// clientVersion is what the connection setup says the client is.
const clientVersion = "Graylane:nacosclient"

// grpcTransport speaks the Nacos 2.x gRPC protocol as the official Go
// client does (nacos-sdk-go/v2 common/remote/rpc grpc_client.go), on the
// protocol's own message definitions (nacos-sdk-go/v2 api/grpc, which
// internal/nacosserver serves too) rather than the SDK's clients, which
// bring Alibaba Cloud KMS, zap and a file logger along (12 MB of binary)
// and offer no way to read a configuration's md5 or to list instances
// without subscribing to them.
//
// A connection is one HTTP/2 connection: a ServerCheckRequest, then a
// BiRequestStream whose first message is the ConnectionSetupRequest that
// registers it (the server then answers requests on it), then unary
// Request calls. The server's ClientDetectionRequest on the stream is
// answered, so an idle connection is not ejected.
type grpcTransport struct {
	conn      *grpc.ClientConn
	req       pb.RequestClient
	stream    pb.BiRequestStream_RequestBiStreamClient
	cancel    context.CancelFunc
	recvDone  chan struct{}
	token     func(context.Context) (string, error)
	namespace string
	timeout   time.Duration
	ids       atomic.Int64
}

// useGRPC resolves Options.Protocol (checked by New): auto tries a TCP
// connection to the gRPC port, addr.
func useGRPC(ctx context.Context, protocol, addr string) (bool, error) {
	switch protocol {
	case ProtocolGRPC:
		return true, nil
	case ProtocolHTTP:
		return false, nil
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, ctx.Err() // nil: nothing listens, HTTP
	}
	conn.Close()
	return true, nil
}

// CheckProtocol refuses a protocol other than "", ProtocolAuto,
// ProtocolGRPC and ProtocolHTTP, without contacting any server.
func CheckProtocol(protocol string) error {
	switch protocol {
	case "", ProtocolAuto, ProtocolGRPC, ProtocolHTTP:
		return nil
	}
	return fmt.Errorf("nacos protocol %q: want %s, %s or %s", protocol, ProtocolAuto, ProtocolGRPC, ProtocolHTTP)
}

// grpcAddr is where the server's gRPC listens: grpcPort, else the HTTP
// port + 1000.
func grpcAddr(base *url.URL, grpcPort int) string {
	if grpcPort == 0 {
		grpcPort = httpPort(base) + grpcPortOffset
	}
	return net.JoinHostPort(base.Hostname(), strconv.Itoa(grpcPort))
}

func httpPort(base *url.URL) int {
	if p, err := strconv.Atoi(base.Port()); err == nil {
		return p
	}
	if base.Scheme == "https" {
		return 443
	}
	return 80
}

// respBase is what every answer carries (com.alibaba.nacos.api.remote.response.Response).
type respBase struct {
	ResultCode int    `json:"resultCode"`
	ErrorCode  int    `json:"errorCode"`
	Message    string `json:"message"`
}

// Error codes of the protocol this client branches on.
const (
	codeConfigNotFound = 300 // ConfigQueryResponse.CONFIG_NOT_FOUND
	codeUnregistered   = 301 // the connection's setup is not registered yet
	codeNoRight        = 403
)

// rpcError is an answer that is not a success.
type rpcError struct {
	typ string
	respBase
}

func (e *rpcError) Error() string {
	return fmt.Sprintf("%s: error %d: %s", e.typ, e.ErrorCode, e.Message)
}

func newGRPCTransport(ctx context.Context, c *Client, addr string) (*grpcTransport, error) {
	creds := insecure.NewCredentials()
	if c.tls != nil {
		// An https:// server: TLS on the gRPC port too, with the same
		// trust (nacos-sdk-go createNewConnection with TLSConfig.Enable).
		creds = credentials.NewTLS(c.tls)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("nacos gRPC at %s: %w", addr, err)
	}
	timeout := c.http.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	t := &grpcTransport{conn: conn, req: pb.NewRequestClient(conn), token: c.accessToken, namespace: c.namespace,
		timeout: timeout, recvDone: make(chan struct{})}
	if err := t.connect(ctx); err != nil {
		conn.Close()
		if c.tls != nil && ctx.Err() == nil {
			// A probe tells a refused certificate from a broken
			// connection, which is all gRPC may have seen (probeTLS).
			if perr := probeTLS(ctx, addr, c.tls, "h2"); perr != nil {
				err = perr
			}
		}
		return nil, fmt.Errorf("nacos gRPC at %s: %w", addr, explainTLS(err))
	}
	return t, nil
}

// connect checks the server and registers the connection
// (GrpcClient.connectToServer: ServerCheckRequest, then the bi-stream and
// its ConnectionSetupRequest).
func (t *grpcTransport) connect(ctx context.Context) error {
	var check struct {
		respBase
		ConnectionID string `json:"connectionId"`
	}
	if err := t.call(ctx, "ServerCheckRequest", map[string]any{"module": "internal"}, &check); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.Background())
	stream, err := pb.NewBiRequestStreamClient(t.conn).RequestBiStream(sctx)
	if err != nil {
		cancel()
		return err
	}
	t.stream, t.cancel = stream, cancel
	setup := map[string]any{
		"module": "internal", "clientVersion": clientVersion, "tenant": t.namespace,
		"labels": map[string]string{"source": "sdk", "module": "config"}, "clientAbilities": map[string]any{},
	}
	if err := stream.Send(t.payload("ConnectionSetupRequest", setup, nil)); err != nil {
		cancel()
		return err
	}
	go t.answerPushes()
	return nil
}

// answerPushes answers what the server sends on the stream: a
// ClientDetectionRequest (the server's keep-alive probe) with its
// response; this client subscribes to nothing, so other pushes are only
// acknowledged.
func (t *grpcTransport) answerPushes() {
	defer close(t.recvDone)
	for {
		p, err := t.stream.Recv()
		if err != nil {
			return
		}
		typ := p.GetMetadata().GetType()
		var req struct {
			RequestID string `json:"requestId"`
		}
		if json.Unmarshal(p.GetBody().GetValue(), &req) != nil || !strings.HasSuffix(typ, "Request") {
			continue
		}
		resp := strings.TrimSuffix(typ, "Request") + "Response"
		if t.stream.Send(t.payload(resp, map[string]any{"requestId": req.RequestID, "resultCode": 200}, nil)) != nil {
			return
		}
	}
}

func (t *grpcTransport) payload(typ string, body map[string]any, headers map[string]string) *pb.Payload {
	b, _ := json.Marshal(body) // maps of plain values always marshal
	return &pb.Payload{Metadata: &pb.Metadata{Type: typ, Headers: headers}, Body: &anypb.Any{Value: b}}
}

// call sends one request and decodes its answer into out (which embeds
// respBase). An answer that is not a success is an *rpcError; a
// connection whose setup the server has not registered yet is asked again
// (the official client sleeps 100 ms after the setup instead).
func (t *grpcTransport) call(ctx context.Context, typ string, body map[string]any, out any) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	headers := map[string]string{}
	if token, err := t.token(ctx); err != nil {
		return err
	} else if token != "" {
		headers["accessToken"] = token
	}
	body["requestId"] = strconv.FormatInt(t.ids.Add(1), 10)
	p := t.payload(typ, body, headers)
	// The server registers a connection after its setup, asynchronously:
	// the first call usually meets 301 and is sent again soon after.
	for wait := time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		resp, err := t.req.Request(ctx, p)
		if err != nil {
			return err
		}
		var base respBase
		raw := resp.GetBody().GetValue()
		if err := json.Unmarshal(raw, &base); err != nil {
			return fmt.Errorf("%s: an answer that is not JSON: %w", typ, err)
		}
		if base.ErrorCode == codeUnregistered {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: the server never registered the connection: %w", typ, ctx.Err())
			case <-t.recvDone:
				return fmt.Errorf("%s: the connection's stream to the server ended", typ)
			case <-time.After(wait):
				continue
			}
		}
		if base.ResultCode != 200 {
			e := &rpcError{typ: resp.GetMetadata().GetType(), respBase: base}
			if base.ErrorCode == codeNoRight {
				return fmt.Errorf("%w: %v", ErrAuth, e)
			}
			return e
		}
		if out == nil {
			return nil
		}
		return json.Unmarshal(raw, out)
	}
}

func (t *grpcTransport) close() {
	if t.cancel != nil {
		t.cancel()
		<-t.recvDone
	}
	t.conn.Close()
}

// getConfig is ConfigQueryRequest (ConfigQueryRequestHandler); errorCode
// 300 is a configuration that does not exist.
func (t *grpcTransport) getConfig(ctx context.Context, c *Client, dataID, group string) (Config, error) {
	var ans struct {
		respBase
		Content     string `json:"content"`
		Md5         string `json:"md5"`
		ContentType string `json:"contentType"`
	}
	err := t.call(ctx, "ConfigQueryRequest", map[string]any{"module": "config", "dataId": dataID, "group": group, "tenant": t.namespace, "tag": ""}, &ans)
	var re *rpcError
	if errors.As(err, &re) && re.ErrorCode == codeConfigNotFound {
		return Config{}, fmt.Errorf("config %s (group %s%s): %w", dataID, group, c.inNamespace(), ErrNotFound)
	}
	if err != nil {
		return Config{}, fmt.Errorf("read config %s (group %s): %w", dataID, group, err)
	}
	md5 := ans.Md5
	if md5 == "" {
		md5 = MD5(ans.Content)
	}
	return Config{DataID: dataID, Group: group, Content: ans.Content, MD5: md5, Type: ans.ContentType}, nil
}

// publishConfig is ConfigPublishRequest with casMd5
// (ConfigPublishRequestHandler: a mismatch answers "Cas publish fail,
// server md5 may have changed.").
func (t *grpcTransport) publishConfig(ctx context.Context, dataID, group, content, typ, casMD5 string) error {
	add := map[string]string{}
	if typ != "" {
		add["type"] = typ
	}
	err := t.call(ctx, "ConfigPublishRequest", map[string]any{
		"module": "config", "dataId": dataID, "group": group, "tenant": t.namespace,
		"content": content, "casMd5": casMD5, "additionMap": add,
	}, nil)
	var re *rpcError
	if errors.As(err, &re) && casMD5 != "" && strings.Contains(re.Message, "Cas publish fail") {
		return fmt.Errorf("publish config %s (group %s): %w", dataID, group, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("publish config %s (group %s): %w", dataID, group, err)
	}
	return nil
}

// namingNamespace is the namespace of naming requests, "public" for the
// public one (as the official client sends it).
func (t *grpcTransport) namingNamespace() string {
	if t.namespace == "" {
		return publicNamespace
	}
	return t.namespace
}

// services is ServiceListRequest (ServiceListRequestHandler), every page.
func (t *grpcTransport) services(ctx context.Context, group string) ([]string, error) {
	return allPages(func(page int) ([]string, int, error) {
		var ans struct {
			respBase
			Count        int      `json:"count"`
			ServiceNames []string `json:"serviceNames"`
		}
		err := t.call(ctx, "ServiceListRequest", map[string]any{
			"module": "naming", "namespace": t.namingNamespace(), "serviceName": "", "groupName": group,
			"pageNo": page, "pageSize": servicesPage, "selector": "",
		}, &ans)
		if err != nil {
			return nil, 0, fmt.Errorf("list services (group %s): %w", group, err)
		}
		return ans.ServiceNames, ans.Count, nil
	})
}

// instances is ServiceQueryRequest (ServiceQueryRequestHandler) with
// healthyOnly false: every instance, without subscribing.
func (t *grpcTransport) instances(ctx context.Context, service, group string) ([]Instance, error) {
	var ans struct {
		respBase
		ServiceInfo struct {
			Hosts []hostJSON `json:"hosts"`
		} `json:"serviceInfo"`
	}
	err := t.call(ctx, "ServiceQueryRequest", map[string]any{
		"module": "naming", "namespace": t.namingNamespace(), "serviceName": service, "groupName": group,
		"cluster": "", "healthyOnly": false, "udpPort": 0,
	}, &ans)
	if err != nil {
		return nil, fmt.Errorf("list instances of %s (group %s): %w", service, group, err)
	}
	return instancesOf(service, group, ans.ServiceInfo.Hosts), nil
}

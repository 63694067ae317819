package nacosclient

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client/naming_cache"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client/naming_grpc"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/common/http_agent"
	"github.com/nacos-group/nacos-sdk-go/v2/common/nacos_server"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

// Protocols of Options.Protocol.
const (
	// ProtocolAuto uses gRPC when the server's gRPC port (the HTTP port +
	// 1000) accepts a connection, else HTTP.
	ProtocolAuto = "auto"
	// ProtocolGRPC is the Nacos 2.x/3.x protocol, through the official Go
	// client (github.com/nacos-group/nacos-sdk-go/v2).
	ProtocolGRPC = "grpc"
	// ProtocolHTTP is the v1 HTTP Open API (Nacos 1.x and 2.x; Nacos 3.2
	// serves it only with its legacy adapter).
	ProtocolHTTP = "http"
)

// grpcPortOffset is where Nacos 2.x serves gRPC: the HTTP port + 1000.
const grpcPortOffset = 1000

// grpcTransport is the official Go client's gRPC side: its config client
// (query and compare-and-swap publish) and its naming gRPC proxy, used
// directly so that listing instances queries them (ServiceQueryRequest)
// instead of subscribing to them as the SDK's naming client would.
type grpcTransport struct {
	config  config_client.IConfigClient
	naming  *naming_grpc.NamingGrpcProxy
	dir     string // the SDK's log and cache folder
	cancel  context.CancelFunc
	timeout time.Duration
}

// useGRPC resolves Options.Protocol: auto tries a TCP connection to the
// gRPC port.
func useGRPC(ctx context.Context, protocol string, base *url.URL) (bool, error) {
	switch protocol {
	case ProtocolGRPC:
		return true, nil
	case ProtocolHTTP:
		return false, nil
	case "", ProtocolAuto:
	default:
		return false, fmt.Errorf("nacos protocol %q: want %s, %s or %s", protocol, ProtocolAuto, ProtocolGRPC, ProtocolHTTP)
	}
	host, port := base.Hostname(), httpPort(base)
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port+grpcPortOffset)))
	if err != nil {
		return false, nil
	}
	conn.Close()
	return true, nil
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

func newGRPCTransport(ctx context.Context, c *Client) (*grpcTransport, error) {
	dir, err := os.MkdirTemp("", "graylane-nacos-sdk-")
	if err != nil {
		return nil, fmt.Errorf("nacos client: %w", err)
	}
	timeout := c.http.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	cc := constant.ClientConfig{
		NamespaceId:         c.namespace,
		TimeoutMs:           uint64(timeout.Milliseconds()),
		NotLoadCacheAtStart: true,
		// A snapshot or failover file must never stand in for the
		// server's answer: a compare-and-swap needs the stored content.
		DisableUseSnapShot: true,
		CacheDir:           dir,
		LogDir:             dir,
		LogLevel:           "error",
		Username:           c.user,
		Password:           c.pw,
	}
	sc := constant.ServerConfig{
		Scheme: c.base.Scheme, IpAddr: c.base.Hostname(), Port: uint64(httpPort(c.base)),
		GrpcPort: uint64(httpPort(c.base) + grpcPortOffset), ContextPath: c.base.Path,
	}
	t := &grpcTransport{dir: dir, timeout: timeout}
	ctx, t.cancel = context.WithCancel(context.WithoutCancel(ctx))
	fail := func(err error) (*grpcTransport, error) {
		t.close()
		return nil, fmt.Errorf("nacos client for %s (gRPC on port %d): %w", c.Server(), sc.GrpcPort, err)
	}
	t.config, err = clients.NewConfigClient(vo.NacosClientParam{ClientConfig: &cc, ServerConfigs: []constant.ServerConfig{sc}})
	if err != nil {
		return fail(err)
	}
	srv, err := nacos_server.NewNacosServer(ctx, []constant.ServerConfig{sc}, cc, &http_agent.HttpAgent{}, cc.TimeoutMs, "", nil)
	if err != nil {
		return fail(err)
	}
	holder := naming_cache.NewServiceInfoHolder(c.namespace, dir, false, true)
	if t.naming, err = naming_grpc.NewNamingGrpcProxy(ctx, cc, srv, holder); err != nil {
		return fail(err)
	}
	return t, nil
}

func (t *grpcTransport) close() {
	if t.config != nil {
		t.config.CloseClient()
	}
	if t.naming != nil {
		t.naming.CloseClient()
	}
	if t.cancel != nil {
		t.cancel()
	}
	os.RemoveAll(t.dir)
}

// getConfig is ConfigQueryRequest through the SDK. The SDK answers a
// configuration that does not exist (code 300) with empty content, and
// Nacos stores no empty configuration, so empty content is ErrNotFound.
func (t *grpcTransport) getConfig(c *Client, dataID, group string) (Config, error) {
	content, err := t.config.GetConfig(vo.ConfigParam{DataId: dataID, Group: group})
	if err != nil {
		return Config{}, fmt.Errorf("read config %s (group %s): %w", dataID, group, grpcError(err))
	}
	if content == "" {
		return Config{}, fmt.Errorf("config %s (group %s%s): %w", dataID, group, c.inNamespace(), ErrNotFound)
	}
	return Config{DataID: dataID, Group: group, Content: content, MD5: MD5(content)}, nil
}

// publishConfig is ConfigPublishRequest (with casMd5) through the SDK.
func (t *grpcTransport) publishConfig(dataID, group, content, typ, casMD5 string) error {
	ok, err := t.config.PublishConfig(vo.ConfigParam{DataId: dataID, Group: group, Content: content, Type: typ, CasMd5: casMD5})
	if err != nil && casMD5 != "" && strings.Contains(err.Error(), "Cas publish fail") {
		return fmt.Errorf("publish config %s (group %s): %w", dataID, group, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("publish config %s (group %s): %w", dataID, group, grpcError(err))
	}
	if !ok {
		return fmt.Errorf("publish config %s (group %s): the server did not store it", dataID, group)
	}
	return nil
}

// services is ServiceListRequest, every page.
func (t *grpcTransport) services(c *Client, group string) ([]string, error) {
	const pageSize = 500
	var out []string
	ns := c.namespace
	if ns == "" {
		ns = publicNamespace
	}
	for page := uint32(1); ; page++ {
		l, err := t.naming.GetServiceList(page, pageSize, group, ns, nil)
		if err != nil {
			return nil, fmt.Errorf("list services (group %s): %w", group, grpcError(err))
		}
		out = append(out, l.Doms...)
		if len(l.Doms) < pageSize || int64(len(out)) >= l.Count {
			sort.Strings(out)
			return out, nil
		}
	}
}

// instances is ServiceQueryRequest with healthyOnly false: every instance,
// without subscribing.
func (t *grpcTransport) instances(service, group string) ([]Instance, error) {
	s, err := t.naming.QueryInstancesOfService(service, group, "", 0, false)
	if err != nil {
		return nil, fmt.Errorf("list instances of %s (group %s): %w", service, group, grpcError(err))
	}
	out := make([]Instance, 0, len(s.Hosts))
	for _, h := range s.Hosts {
		md := h.Metadata
		if md == nil {
			md = map[string]string{}
		}
		out = append(out, Instance{Service: service, Group: group, Cluster: h.ClusterName, IP: h.Ip, Port: int(h.Port),
			Weight: h.Weight, Healthy: h.Healthy, Enabled: h.Enable, Ephemeral: h.Ephemeral, Metadata: md})
	}
	sortInstances(out)
	return out, nil
}

// grpcError turns the SDK's authentication failures into ErrAuth.
func grpcError(err error) error {
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "403") || strings.Contains(msg, "token invalid") || strings.Contains(msg, "token expired") || strings.Contains(msg, "user not found") {
		return fmt.Errorf("%w: %v", ErrAuth, err)
	}
	return err
}

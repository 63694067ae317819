package nacosserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/types/known/anypb"
)

// Connection keep-alive, from NacosRuntimeConnectionEjector: a connection
// idle for keepAlive is probed with a ClientDetectionRequest; one that stays
// silent for detectTimeout more is ejected (its instances removed). The SDK
// sends a HealthCheckRequest every 5 s, so live SDK clients are never probed.
const (
	keepAlive     = 20 * time.Second
	detectTimeout = 3 * time.Second
)

type connKey struct{}

// rpcConn is one client connection: the HTTP/2 transport that carries the
// unary Request calls and the BiRequestStream (one per SDK client, as in
// Nacos' GrpcConnection).
type rpcConn struct {
	id string

	registered atomic.Bool  // a ConnectionSetupRequest arrived
	lastActive atomic.Int64 // unix millis of the last request or stream message
	probing    atomic.Int64 // unix millis a ClientDetectionRequest went out, 0 if none
	out        chan *pb.Payload
	done       chan struct{}
	doneOnce   sync.Once

	mu     sync.Mutex
	labels map[string]string
	// version and ip are the client's version and IP as its
	// ConnectionSetupRequest said them (ConnectionMeta's clientVersion,
	// and clientIp from the payload's metadata; the remote IP without one).
	version, ip string
	subs        map[serviceKey]subscription
	listens     map[configKey]configPush // listened configuration -> names as the client sent them
}

// subscription is a connection's subscription to a service: the clusters
// it asked for and its app name.
type subscription struct{ clusters, app string }

type configPush struct{ dataID, group, tenant string }

func (c *rpcConn) touch() { c.lastActive.Store(time.Now().UnixMilli()); c.probing.Store(0) }

func (c *rpcConn) close() { c.doneOnce.Do(func() { close(c.done) }) }

func (c *rpcConn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// enqueue queues a push; a full queue drops it (the SDK also polls: its
// service updater and config listen loop catch up).
func (c *rpcConn) enqueue(p *pb.Payload) bool {
	select {
	case c.out <- p:
		return true
	default:
		return false
	}
}

// rpcServer serves the Request and BiRequestStream services and is the
// transport's stats.Handler (connection ids and disconnects).
type rpcServer struct {
	pb.UnimplementedRequestServer
	pb.UnimplementedBiRequestStreamServer
	s        *Server
	handlers map[string]handler
	pushID   atomic.Int64

	mu    sync.Mutex
	conns map[string]*rpcConn
}

func newRPCServer(s *Server) *rpcServer {
	rs := &rpcServer{s: s, conns: map[string]*rpcConn{}}
	rs.handlers = rs.handlerTable()
	return rs
}

func (rs *rpcServer) register(g *grpc.Server) {
	pb.RegisterRequestServer(g, rs)
	pb.RegisterBiRequestStreamServer(g, rs)
}

// TagConn names the connection as Nacos' AddressTransportFilter does for
// CONTEXT_KEY_CONN_ID: "<millis>_<remote ip>_<remote port>".
func (rs *rpcServer) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	ip, port := "", 0
	if a, ok := info.RemoteAddr.(*net.TCPAddr); ok {
		ip, port = a.IP.String(), a.Port
	}
	c := &rpcConn{
		id:  fmt.Sprintf("%d_%s_%d", time.Now().UnixMilli(), ip, port),
		out: make(chan *pb.Payload, defaultPushBacklog), done: make(chan struct{}),
		subs: map[serviceKey]subscription{}, listens: map[configKey]configPush{}, ip: ip,
	}
	c.touch()
	rs.mu.Lock()
	rs.conns[c.id] = c
	rs.mu.Unlock()
	return context.WithValue(ctx, connKey{}, c)
}

// HandleConn drops a closed connection (ConnectionManager.unregister →
// ClientDisconnectEvent: its ephemeral instances and subscriptions go).
func (rs *rpcServer) HandleConn(ctx context.Context, st stats.ConnStats) {
	if _, ok := st.(*stats.ConnEnd); !ok {
		return
	}
	if c, ok := ctx.Value(connKey{}).(*rpcConn); ok {
		rs.drop(c)
	}
}

func (rs *rpcServer) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (rs *rpcServer) HandleRPC(context.Context, stats.RPCStats)                       {}

// drop unregisters a connection: later requests on it answer 301 and its
// instances go.
func (rs *rpcServer) drop(c *rpcConn) {
	c.registered.Store(false)
	c.close()
	rs.mu.Lock()
	_, ok := rs.conns[c.id]
	delete(rs.conns, c.id)
	rs.mu.Unlock()
	if ok {
		rs.s.log.Info("nacos grpc connection closed", "conn", c.id)
		rs.s.naming.dropOwner(c.id)
	}
}

// RequestBiStream serves the BiRequestStream (GrpcBiStreamRequestAcceptor):
// the client's first message is a ConnectionSetupRequest, which registers
// the connection; later messages are its answers to pushes. The server
// sends pushes (NotifySubscriberRequest, ConfigChangeNotifyRequest,
// ClientDetectionRequest) on it. When the stream ends the connection is
// unregistered.
func (rs *rpcServer) RequestBiStream(stream pb.BiRequestStream_RequestBiStreamServer) error {
	c, ok := stream.Context().Value(connKey{}).(*rpcConn)
	if !ok {
		return fmt.Errorf("nacos: stream without a connection")
	}
	defer rs.drop(c)
	go func() {
		defer c.close()
		for {
			p, err := stream.Recv()
			if err != nil {
				return
			}
			c.touch()
			if p.GetMetadata().GetType() == "ConnectionSetupRequest" {
				var req struct {
					ClientVersion string            `json:"clientVersion"`
					Tenant        string            `json:"tenant"`
					Labels        map[string]string `json:"labels"`
				}
				if err := json.Unmarshal(p.GetBody().GetValue(), &req); err != nil {
					return
				}
				c.mu.Lock()
				c.labels, c.version = req.Labels, req.ClientVersion
				if ip := p.GetMetadata().GetClientIp(); ip != "" {
					c.ip = ip
				}
				c.mu.Unlock()
				if !c.closed() {
					c.registered.Store(true)
				}
				rs.s.log.Info("nacos grpc connection registered", "conn", c.id, "client", req.ClientVersion)
			}
		}
	}()
	for {
		select {
		case <-c.done:
			return nil
		case <-stream.Context().Done():
			return nil
		case p := <-c.out:
			if err := stream.Send(p); err != nil {
				return nil
			}
		}
	}
}

// ejectIdle probes idle connections and ejects silent ones
// (NacosRuntimeConnectionEjector.doEject, every 3 s).
func (rs *rpcServer) ejectIdle(ctx context.Context) {
	idleAfter, answerWithin := rs.s.opts.keepAlive, rs.s.opts.detectTimeout
	t := time.NewTicker(answerWithin)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now().UnixMilli()
		rs.mu.Lock()
		var idle []*rpcConn
		for _, c := range rs.conns {
			if c.registered.Load() && now-c.lastActive.Load() > idleAfter.Milliseconds() {
				idle = append(idle, c)
			}
		}
		rs.mu.Unlock()
		for _, c := range idle {
			switch sent := c.probing.Load(); {
			case sent == 0:
				c.probing.Store(now)
				c.enqueue(rs.pushPayload("ClientDetectionRequest", map[string]any{"module": "internal"}))
			case now-sent > answerWithin.Milliseconds():
				rs.s.log.Info("nacos grpc connection ejected: no answer to ClientDetectionRequest", "conn", c.id)
				rs.drop(c)
			}
		}
	}
}

// pushPayload builds a server request with a fresh requestId.
func (rs *rpcServer) pushPayload(typ string, body map[string]any) *pb.Payload {
	body["requestId"] = strconv.FormatInt(rs.pushID.Add(1), 10)
	b, _ := json.Marshal(body) // maps of plain values always marshal
	return &pb.Payload{Metadata: &pb.Metadata{Type: typ, Headers: map[string]string{}}, Body: &anypb.Any{Value: b}}
}

// pushService sends a NotifySubscriberRequest to every connection
// subscribed to k (PushExecuteTask: instances of the subscriber's clusters,
// healthy or not).
func (rs *rpcServer) pushService(k serviceKey) {
	rs.mu.Lock()
	type target struct {
		c        *rpcConn
		clusters string
	}
	var targets []target
	for _, c := range rs.conns {
		c.mu.Lock()
		if sub, ok := c.subs[k]; ok {
			targets = append(targets, target{c, sub.clusters})
		}
		c.mu.Unlock()
	}
	rs.mu.Unlock()
	for _, t := range targets {
		info := serviceInfo(k, t.clusters, rs.s.naming.query(k, t.clusters, false), false)
		p := rs.pushPayload("NotifySubscriberRequest", map[string]any{
			"module": "naming", "namespace": k.namespace, "serviceName": k.name, "groupName": k.group, "serviceInfo": info,
		})
		if !t.c.enqueue(p) {
			rs.s.log.Warn("nacos push dropped: queue full", "conn", t.c.id, "service", k.grouped())
		}
	}
}

// pushConfigChange sends a ConfigChangeNotifyRequest to every connection
// listening to k (RpcConfigChangeNotifier.configDataChanged).
func (rs *rpcServer) pushConfigChange(k configKey) {
	rs.mu.Lock()
	type target struct {
		c    *rpcConn
		name configPush
	}
	var targets []target
	for _, c := range rs.conns {
		c.mu.Lock()
		if n, ok := c.listens[k]; ok {
			targets = append(targets, target{c, n})
		}
		c.mu.Unlock()
	}
	rs.mu.Unlock()
	for _, t := range targets {
		p := rs.pushPayload("ConfigChangeNotifyRequest", map[string]any{
			"module": "config", "dataId": t.name.dataID, "group": t.name.group, "tenant": t.name.tenant,
		})
		if !t.c.enqueue(p) {
			rs.s.log.Warn("nacos push dropped: queue full", "conn", t.c.id, "dataId", k.dataID)
		}
	}
}

// counts is the number of registered connections and of their subscriptions.
func (rs *rpcServer) counts() (conns, subs int) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, c := range rs.conns {
		if !c.registered.Load() {
			continue
		}
		conns++
		c.mu.Lock()
		subs += len(c.subs)
		c.mu.Unlock()
	}
	return conns, subs
}

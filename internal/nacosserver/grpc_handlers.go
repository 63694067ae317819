package nacosserver

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	pb "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"google.golang.org/protobuf/types/known/anypb"
)

// Error codes of the gRPC protocol (NacosException).
const (
	codeInvalidParam  = 400
	codeNoRight       = 403
	codeServerError   = 500
	codeBadGateway    = 502
	codeUnRegister    = 301
	codeNoHandler     = 302
	codeConfigMissing = 300 // ConfigQueryResponse.CONFIG_NOT_FOUND
)

// respBase is the api's Response: what every gRPC answer carries.
type respBase struct {
	ResultCode int     `json:"resultCode"`
	ErrorCode  int     `json:"errorCode"`
	Success    bool    `json:"success"`
	Message    *string `json:"message"`
	RequestID  string  `json:"requestId,omitempty"` // set by payload
}

func ok() respBase { return respBase{ResultCode: 200, Success: true} }

func fail(code int, msg string) respBase {
	return respBase{ResultCode: codeServerError, ErrorCode: code, Message: &msg}
}

// reqBase holds the fields every request body has.
type reqBase struct {
	RequestID string `json:"requestId"`
}

// handler answers one request type: its response type name and a function
// from the JSON body to the response (without requestId).
type handler struct {
	respType string
	internal bool // no access token needed (internal module requests)
	serve    func(c *rpcConn, body []byte, headers map[string]string) (any, error)
}

// handlerTable maps request types to handlers, as Nacos' RequestHandlerRegistry
// does; HealthCheckRequest answers as HealthCheckRequestHandler (an empty
// success), the others as the methods below say.
func (rs *rpcServer) handlerTable() map[string]handler {
	return map[string]handler{
		"HealthCheckRequest":       {respType: "HealthCheckResponse", internal: true, serve: func(*rpcConn, []byte, map[string]string) (any, error) { return ok(), nil }},
		"InstanceRequest":          {respType: "InstanceResponse", serve: rs.instance},
		"BatchInstanceRequest":     {respType: "BatchInstanceResponse", serve: rs.batchInstance},
		"SubscribeServiceRequest":  {respType: "SubscribeServiceResponse", serve: rs.subscribe},
		"ServiceQueryRequest":      {respType: "QueryServiceResponse", serve: rs.serviceQuery},
		"ServiceListRequest":       {respType: "ServiceListResponse", serve: rs.serviceList},
		"ConfigQueryRequest":       {respType: "ConfigQueryResponse", serve: rs.configQuery},
		"ConfigPublishRequest":     {respType: "ConfigPublishResponse", serve: rs.configPublish},
		"ConfigRemoveRequest":      {respType: "ConfigRemoveResponse", serve: rs.configRemove},
		"ConfigBatchListenRequest": {respType: "ConfigChangeBatchListenResponse", serve: rs.configBatchListen},
	}
}

// payload renders a response with the request's id (RequestHandler sets
// it on every answer): it is spliced in front of the other fields.
func payload(typ string, v any, requestID string) *pb.Payload {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(fail(codeServerError, err.Error()))
		typ = "ErrorResponse"
	}
	if requestID != "" && len(b) > 2 && b[0] == '{' {
		id, _ := json.Marshal(requestID)
		b = append(append(append([]byte(`{"requestId":`), id...), ','), b[1:]...)
	}
	return &pb.Payload{Metadata: &pb.Metadata{Type: typ}, Body: &anypb.Any{Value: b}}
}

// Request serves the unary Request service, following GrpcRequestAcceptor.request:
// ServerCheckRequest answers the connection id; an unknown type answers
// ErrorResponse 302 "RequestHandler Not Found"; a connection without a
// ConnectionSetupRequest answers ErrorResponse 301 "Connection is
// unregistered." (the SDK reconnects); a body that does not parse answers
// ErrorResponse 502; with auth on, a missing or bad accessToken header
// (without one: username and password headers) answers the handler's own
// response type with errorCode 403 (RemoteRequestAuthFilter).
func (rs *rpcServer) Request(ctx context.Context, p *pb.Payload) (*pb.Payload, error) {
	typ := p.GetMetadata().GetType()
	c, _ := ctx.Value(connKey{}).(*rpcConn)
	if typ == "ServerCheckRequest" {
		id := ""
		if c != nil {
			id = c.id
		}
		return payload("ServerCheckResponse", struct {
			respBase
			ConnectionID string `json:"connectionId"`
		}{ok(), id}, ""), nil
	}
	h, found := rs.handlers[typ]
	if !found {
		return payload("ErrorResponse", fail(codeNoHandler, "RequestHandler Not Found"), ""), nil
	}
	if c == nil || !c.registered.Load() {
		return payload("ErrorResponse", fail(codeUnRegister, "Connection is unregistered."), ""), nil
	}
	c.touch()
	body := p.GetBody().GetValue()
	var base reqBase
	if err := json.Unmarshal(body, &base); err != nil {
		return payload("ErrorResponse", fail(codeBadGateway, err.Error()), ""), nil
	}
	if !h.internal {
		hd := p.GetMetadata().GetHeaders()
		if msg := rs.s.auth.check(hd["accessToken"], hd["username"], hd["password"]); msg != "" {
			return payload(h.respType, fail(codeNoRight, msg), base.RequestID), nil
		}
	}
	resp, err := h.serve(c, body, p.GetMetadata().GetHeaders())
	if err != nil {
		resp = fail(codeInvalidParam, err.Error())
	}
	return payload(h.respType, resp, base.RequestID), nil
}

// namingReq is the api's NamingRequest.
type namingReq struct {
	Namespace   string `json:"namespace"`
	ServiceName string `json:"serviceName"`
	GroupName   string `json:"groupName"`
}

func (n namingReq) key() (serviceKey, error) {
	if n.ServiceName == "" {
		return serviceKey{}, fmt.Errorf("Param 'serviceName' is required.")
	}
	group, name, err := splitGroupedName(n.ServiceName, n.GroupName)
	if err != nil {
		return serviceKey{}, err
	}
	ns := n.Namespace
	if ns == "" {
		ns = defaultNamespace
	}
	if len(name) > maxNameLen || len(group) > maxNameLen || len(ns) > maxNameLen {
		return serviceKey{}, fmt.Errorf("serviceName, groupName or namespace is longer than %d characters", maxNameLen)
	}
	return serviceKey{namespace: ns, group: group, name: name}, nil
}

// instanceJSON is the api's Instance as clients send it.
type instanceJSON struct {
	IP          string            `json:"ip"`
	Port        int               `json:"port"`
	Weight      float64           `json:"weight"`
	Healthy     bool              `json:"healthy"`
	Enabled     bool              `json:"enabled"`
	Ephemeral   bool              `json:"ephemeral"`
	ClusterName string            `json:"clusterName"`
	Metadata    map[string]string `json:"metadata"`
}

// toInstance checks an instance as NamingUtils.checkInstanceIsLegal and
// checkInstanceIsEphemeral do (gRPC registers ephemeral instances only).
func (j instanceJSON) toInstance(owner string) (*instance, error) {
	switch {
	case j.IP == "":
		return nil, fmt.Errorf("Param 'ip' is required.")
	case j.Port < 0 || j.Port > 65535:
		return nil, fmt.Errorf("Param 'port' is illegal, port should be in the range 0 to 65535: %d", j.Port)
	case j.Weight < 0 || j.Weight > 10000:
		return nil, fmt.Errorf("instance format invalid: The weights range from 0.0 to 10000.0: %v", j.Weight)
	case !j.Ephemeral:
		return nil, fmt.Errorf("Current Instance is not ephemeral, register persistent instances over HTTP.")
	}
	cluster := j.ClusterName
	if cluster == "" {
		cluster = defaultCluster
	}
	meta := j.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	return &instance{IP: j.IP, Port: j.Port, Weight: j.Weight, Healthy: j.Healthy, Enabled: j.Enabled,
		Ephemeral: true, Cluster: cluster, Metadata: meta, owner: owner}, nil
}

// instance serves InstanceRequest (InstanceRequestHandler): type
// registerInstance or deregisterInstance; the instance belongs to the
// connection and goes when it closes.
func (rs *rpcServer) instance(c *rpcConn, body []byte, _ map[string]string) (any, error) {
	var req struct {
		namingReq
		Type     string       `json:"type"`
		Instance instanceJSON `json:"instance"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	k, err := req.key()
	if err != nil {
		return nil, err
	}
	in, err := req.Instance.toInstance(c.id)
	if err != nil {
		return nil, err
	}
	switch req.Type {
	case "registerInstance":
		rs.s.naming.register(k, in)
		rs.dropIfClosed(c)
	case "deregisterInstance":
		rs.s.naming.deregister(k, in.IP, in.Port, in.Cluster)
	default:
		return nil, fmt.Errorf("Unsupported request type %s", req.Type)
	}
	return struct {
		respBase
		Type string `json:"type"`
	}{ok(), req.Type}, nil
}

// dropIfClosed removes what a request registered on a connection that
// closed while it ran (drop closes before it removes the owner's instances,
// so either drop or this sees them).
func (rs *rpcServer) dropIfClosed(c *rpcConn) {
	if c.closed() {
		rs.s.naming.dropOwner(c.id)
	}
}

// batchInstance serves BatchInstanceRequest (BatchInstanceRequestHandler):
// type batchRegisterInstance replaces the connection's instances of the
// service with the batch.
func (rs *rpcServer) batchInstance(c *rpcConn, body []byte, _ map[string]string) (any, error) {
	var req struct {
		namingReq
		Type      string         `json:"type"`
		Instances []instanceJSON `json:"instances"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if req.Type != "batchRegisterInstance" {
		return nil, fmt.Errorf("Unsupported request type %s", req.Type)
	}
	k, err := req.key()
	if err != nil {
		return nil, err
	}
	ins := make([]*instance, 0, len(req.Instances))
	for _, j := range req.Instances {
		in, err := j.toInstance(c.id)
		if err != nil {
			return nil, err
		}
		ins = append(ins, in)
	}
	rs.s.naming.replaceOwned(k, c.id, ins)
	rs.dropIfClosed(c)
	return struct {
		respBase
		Type string `json:"type"`
	}{ok(), req.Type}, nil
}

// subscribe serves SubscribeServiceRequest (SubscribeServiceRequestHandler):
// it answers the service's instances of the clusters and, with subscribe
// true, pushes NotifySubscriberRequest on every later change. The
// connection is a subscriber of the service until it unsubscribes or
// closes; its app is the request's "app" header ("unknown" without one).
func (rs *rpcServer) subscribe(c *rpcConn, body []byte, headers map[string]string) (any, error) {
	var req struct {
		namingReq
		Subscribe bool   `json:"subscribe"`
		Clusters  string `json:"clusters"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	k, err := req.key()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if req.Subscribe {
		app, found := headers["app"]
		if !found {
			app = "unknown"
		}
		c.subs[k] = subscription{clusters: req.Clusters, app: app}
	} else {
		delete(c.subs, k)
	}
	c.mu.Unlock()
	info := serviceInfo(k, req.Clusters, rs.s.naming.query(k, req.Clusters, false), false)
	r := ok()
	msg := "success"
	r.Message = &msg
	return struct {
		respBase
		ServiceInfo serviceInfoJSON `json:"serviceInfo"`
	}{r, info}, nil
}

// serviceQuery serves ServiceQueryRequest (ServiceQueryRequestHandler).
func (rs *rpcServer) serviceQuery(_ *rpcConn, body []byte, _ map[string]string) (any, error) {
	var req struct {
		namingReq
		Cluster     string `json:"cluster"`
		HealthyOnly bool   `json:"healthyOnly"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	k, err := req.key()
	if err != nil {
		return nil, err
	}
	info := serviceInfo(k, req.Cluster, rs.s.naming.query(k, req.Cluster, req.HealthyOnly), false)
	return struct {
		respBase
		ServiceInfo serviceInfoJSON `json:"serviceInfo"`
	}{ok(), info}, nil
}

// serviceList serves ServiceListRequest (ServiceListRequestHandler).
func (rs *rpcServer) serviceList(_ *rpcConn, body []byte, _ map[string]string) (any, error) {
	var req struct {
		namingReq
		PageNo   int `json:"pageNo"`
		PageSize int `json:"pageSize"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	ns, group := req.Namespace, req.GroupName
	if ns == "" {
		ns = defaultNamespace
	}
	if group == "" {
		group = defaultGroup
	}
	names, count := rs.s.naming.serviceNames(ns, group, req.PageNo, req.PageSize)
	return struct {
		respBase
		Count        int      `json:"count"`
		ServiceNames []string `json:"serviceNames"`
	}{ok(), count, names}, nil
}

// configReq is the api's ConfigRequest.
type configReq struct {
	DataID string `json:"dataId"`
	Group  string `json:"group"`
	Tenant string `json:"tenant"`
}

// configQuery serves ConfigQueryRequest (ConfigQueryRequestHandler): a
// missing configuration answers errorCode 300 "config data not exist".
func (rs *rpcServer) configQuery(_ *rpcConn, body []byte, _ map[string]string) (any, error) {
	var req configReq
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	k, err := checkConfigKey(req.DataID, req.Group, req.Tenant)
	if err != nil {
		return nil, err
	}
	it, found := rs.s.configs.get(k)
	if !found {
		return fail(codeConfigMissing, "config data not exist"), nil
	}
	return struct {
		respBase
		Content          string `json:"content"`
		EncryptedDataKey string `json:"encryptedDataKey"`
		ContentType      string `json:"contentType"`
		Md5              string `json:"md5"`
		LastModified     int64  `json:"lastModified"`
		IsBeta           bool   `json:"isBeta"`
	}{ok(), it.content, "", it.typ, it.md5, it.lastModified, false}, nil
}

// configPublish serves ConfigPublishRequest (ConfigPublishRequestHandler):
// casMd5 set makes it a compare-and-swap; a mismatch answers errorCode 500
// "Cas publish fail, server md5 may have changed.".
func (rs *rpcServer) configPublish(_ *rpcConn, body []byte, _ map[string]string) (any, error) {
	var req struct {
		configReq
		Content     string            `json:"content"`
		CasMd5      string            `json:"casMd5"`
		AdditionMap map[string]string `json:"additionMap"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	k, err := checkConfigKey(req.DataID, req.Group, req.Tenant)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Content) == "" {
		return nil, fmt.Errorf("content is blank : %s", req.Content)
	}
	if len(req.Content) > rs.s.opts.MaxContent {
		return nil, fmt.Errorf("invalid content, over %d", rs.s.opts.MaxContent)
	}
	if err := rs.s.configs.publish(k, req.Content, req.AdditionMap["type"], req.CasMd5); err != nil {
		return fail(codeServerError, err.Error()), nil
	}
	return ok(), nil
}

// configRemove serves ConfigRemoveRequest (ConfigRemoveRequestHandler).
func (rs *rpcServer) configRemove(_ *rpcConn, body []byte, _ map[string]string) (any, error) {
	var req configReq
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	k, err := checkConfigKey(req.DataID, req.Group, req.Tenant)
	if err != nil {
		return nil, err
	}
	rs.s.configs.remove(k)
	return ok(), nil
}

// configBatchListen serves ConfigBatchListenRequest
// (ConfigChangeBatchListenRequestHandler): with listen true it registers
// the connection for ConfigChangeNotifyRequest pushes and answers the
// configurations whose md5 already differs; with listen false it stops.
func (rs *rpcServer) configBatchListen(c *rpcConn, body []byte, _ map[string]string) (any, error) {
	var req struct {
		Listen   bool `json:"listen"`
		Contexts []struct {
			configReq
			Md5 string `json:"md5"`
		} `json:"configListenContexts"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if len(req.Contexts) > maxListen {
		return nil, fmt.Errorf("more than %d configurations in one listen request", maxListen)
	}
	changed := []configReq{}
	for _, lc := range req.Contexts {
		k, err := checkConfigKey(lc.DataID, lc.Group, lc.Tenant)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if req.Listen {
			c.listens[k] = configPush{dataID: lc.DataID, group: lc.Group, tenant: lc.Tenant}
		} else {
			delete(c.listens, k)
		}
		c.mu.Unlock()
		if req.Listen && rs.s.configs.md5Of(k) != lc.Md5 {
			changed = append(changed, lc.configReq)
		}
	}
	return struct {
		respBase
		ChangedConfigs []configReq `json:"changedConfigs"`
	}{ok(), changed}, nil
}

package nacosserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// This server's bounds on naming parameters (Nacos bounds them by its
// database columns).
const (
	maxNameLen     = 512
	maxMetadataLen = 64 * 1024
)

// serviceParams reads namespaceId, groupName and serviceName (required;
// "group@@name" allowed), as InstanceController / ServiceController do.
func serviceParams(r *http.Request) (serviceKey, error) {
	name := r.Form.Get("serviceName")
	if name == "" {
		return serviceKey{}, fmt.Errorf("Param 'serviceName' is required.")
	}
	group, name, err := splitGroupedName(name, r.Form.Get("groupName"))
	if err != nil {
		return serviceKey{}, err
	}
	ns := r.Form.Get("namespaceId")
	if ns == "" {
		ns = defaultNamespace
	}
	if len(name) > maxNameLen || len(group) > maxNameLen || len(ns) > maxNameLen {
		return serviceKey{}, fmt.Errorf("Param 'serviceName', 'groupName' or 'namespaceId' is longer than %d characters", maxNameLen)
	}
	return serviceKey{namespace: ns, group: group, name: name}, nil
}

func parseMetadata(s string) (map[string]string, error) {
	meta := map[string]string{}
	if s == "" {
		return meta, nil
	}
	if len(s) > maxMetadataLen {
		return nil, fmt.Errorf("Param 'metadata' is longer than %d bytes", maxMetadataLen)
	}
	// UtilsAndCommons.parseMetadata: JSON object, or k=v,k=v.
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		var raw map[string]any
		if err := json.Unmarshal([]byte(s), &raw); err != nil {
			return nil, fmt.Errorf("Param 'metadata' is illegal: %v", err)
		}
		for k, v := range raw {
			if str, ok := v.(string); ok {
				meta[k] = str
			} else {
				b, _ := json.Marshal(v)
				meta[k] = string(b)
			}
		}
		return meta, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("metadata format incorrect:%s", s)
		}
		meta[k] = v
	}
	return meta, nil
}

func boolParam(r *http.Request, name string, def bool) bool {
	v := r.Form.Get(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def // Boolean.parseBoolean: anything but "true" is false
	}
	return b
}

// instanceParams reads an instance from ip, port, clusterName (or cluster),
// weight, healthy, enabled, ephemeral and metadata
// (InstanceController.parseInstance / HttpRequestInstanceBuilder).
func instanceParams(r *http.Request) (*instance, error) {
	ip := r.Form.Get("ip")
	if ip == "" {
		return nil, fmt.Errorf("Param 'ip' is required.")
	}
	portText := r.Form.Get("port")
	if portText == "" {
		return nil, fmt.Errorf("Param 'port' is required.")
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("Param 'port' is illegal, port should be in the range 0 to 65535: %s", portText)
	}
	cluster := r.Form.Get("clusterName")
	if cluster == "" {
		cluster = r.Form.Get("cluster")
	}
	if cluster == "" {
		cluster = defaultCluster
	}
	weight := 1.0
	if w := r.Form.Get("weight"); w != "" {
		if weight, err = strconv.ParseFloat(w, 64); err != nil || weight < 0 || weight > 10000 {
			return nil, fmt.Errorf("instance format invalid: The weights range from 0.0 to 10000.0: %s", w)
		}
	}
	meta, err := parseMetadata(r.Form.Get("metadata"))
	if err != nil {
		return nil, err
	}
	return &instance{
		IP: ip, Port: port, Weight: weight, Cluster: cluster, Metadata: meta,
		Healthy:   boolParam(r, "healthy", true),
		Enabled:   boolParam(r, "enabled", boolParam(r, "enable", true)),
		Ephemeral: boolParam(r, "ephemeral", true),
	}, nil
}

// instanceRequest reads the service and the instance a request names;
// on bad input it answers 400 and reports false.
func instanceRequest(w http.ResponseWriter, r *http.Request) (serviceKey, *instance, bool) {
	k, err := serviceParams(r)
	if err == nil {
		var in *instance
		if in, err = instanceParams(r); err == nil {
			return k, in, true
		}
	}
	plainError(w, http.StatusBadRequest, err.Error())
	return k, nil, false
}

// handleRegister serves POST /nacos/v1/ns/instance (InstanceController.register): "ok".
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	k, in, ok := instanceRequest(w, r)
	if !ok {
		return
	}
	s.naming.register(k, in)
	w.Write([]byte("ok")) //nolint:errcheck // the client went away
}

// handleDeregister serves DELETE /nacos/v1/ns/instance
// (InstanceController.deregister): "ok", also when the instance is gone.
func (s *Server) handleDeregister(w http.ResponseWriter, r *http.Request) {
	k, in, ok := instanceRequest(w, r)
	if !ok {
		return
	}
	s.naming.deregister(k, in.IP, in.Port, in.Cluster)
	w.Write([]byte("ok")) //nolint:errcheck // the client went away
}

// handleUpdateInstance serves PUT /nacos/v1/ns/instance (InstanceController.update).
func (s *Server) handleUpdateInstance(w http.ResponseWriter, r *http.Request) {
	k, in, ok := instanceRequest(w, r)
	if !ok {
		return
	}
	if err := s.naming.update(k, in); err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Write([]byte("ok")) //nolint:errcheck // the client went away
}

// hostJSON is one instance of an instance list (the api's Instance JSON).
type hostJSON struct {
	InstanceID                string            `json:"instanceId"`
	IP                        string            `json:"ip"`
	Port                      int               `json:"port"`
	Weight                    float64           `json:"weight"`
	Healthy                   bool              `json:"healthy"`
	Enabled                   bool              `json:"enabled"`
	Ephemeral                 bool              `json:"ephemeral"`
	ClusterName               string            `json:"clusterName"`
	ServiceName               string            `json:"serviceName"`
	Metadata                  map[string]string `json:"metadata"`
	InstanceHeartBeatInterval int64             `json:"instanceHeartBeatInterval"`
	InstanceHeartBeatTimeOut  int64             `json:"instanceHeartBeatTimeOut"`
	IPDeleteTimeout           int64             `json:"ipDeleteTimeout"`
	InstanceIDGenerator       string            `json:"instanceIdGenerator"`
}

// serviceInfoJSON is the api's ServiceInfo: the v1 instance list and the
// gRPC query, subscribe and push bodies.
type serviceInfoJSON struct {
	Name                     string     `json:"name"`
	GroupName                string     `json:"groupName"`
	Clusters                 string     `json:"clusters"`
	CacheMillis              int64      `json:"cacheMillis"`
	Hosts                    []hostJSON `json:"hosts"`
	LastRefTime              int64      `json:"lastRefTime"`
	Checksum                 string     `json:"checksum"`
	AllIPs                   bool       `json:"allIPs"`
	ReachProtectionThreshold bool       `json:"reachProtectionThreshold"`
	Valid                    bool       `json:"valid"`
}

// serviceInfo renders a query. The v1 HTTP list names the service
// "group@@name" (InstanceController.list → ServiceInfo of the grouped name);
// gRPC bodies carry the bare name and the group apart.
func serviceInfo(k serviceKey, clusters string, res queryResult, grouped bool) serviceInfoJSON {
	info := serviceInfoJSON{
		Name: k.name, GroupName: k.group, Clusters: clusters, CacheMillis: 10000,
		Hosts: make([]hostJSON, 0, len(res.hosts)), LastRefTime: res.lastRefTime,
		ReachProtectionThreshold: res.reachProtectionThreshold, Valid: true,
	}
	if grouped {
		info.Name = k.grouped()
	}
	for _, h := range res.hosts {
		info.Hosts = append(info.Hosts, hostJSON{
			InstanceID: h.id, IP: h.IP, Port: h.Port, Weight: h.Weight, Healthy: h.Healthy,
			Enabled: h.Enabled, Ephemeral: h.Ephemeral, ClusterName: h.Cluster, ServiceName: k.grouped(),
			Metadata:                  h.Metadata,
			InstanceHeartBeatInterval: h.metaMillis(metaBeatInterval, beatInterval),
			InstanceHeartBeatTimeOut:  h.metaMillis(metaBeatTimeout, beatTimeout),
			IPDeleteTimeout:           h.metaMillis(metaDeleteTimeout, ipDeleteTimeout),
			InstanceIDGenerator:       "simple",
		})
	}
	return info
}

// handleList serves GET /nacos/v1/ns/instance/list (InstanceController.list):
// clusters (comma-separated) and healthyOnly filter; a missing service
// answers an empty host list. With udpPort > 0 the caller becomes a
// subscriber of the service (pushReceiver).
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	k, err := serviceParams(r)
	if err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	clusters := r.Form.Get("clusters")
	s.pushReceiver(r, k, clusters)
	res := s.naming.query(k, clusters, boolParam(r, "healthyOnly", false))
	writeJSON(w, serviceInfo(k, clusters, res, true))
}

// handleGetInstance serves GET /nacos/v1/ns/instance (InstanceController.detail).
func (s *Server) handleGetInstance(w http.ResponseWriter, r *http.Request) {
	k, in, ok := instanceRequest(w, r)
	if !ok {
		return
	}
	res := s.naming.query(k, in.Cluster, boolParam(r, "healthyOnly", false))
	for _, h := range res.hosts {
		if h.IP == in.IP && h.Port == in.Port {
			writeJSON(w, map[string]any{
				"service": k.grouped(), "ip": h.IP, "port": h.Port, "clusterName": h.Cluster,
				"weight": h.Weight, "healthy": h.Healthy, "instanceId": h.id, "metadata": h.Metadata,
			})
			return
		}
	}
	if len(res.hosts) == 0 {
		plainError(w, http.StatusNotFound, fmt.Sprintf("no ips found for cluster %s in service %s", in.Cluster, k.grouped()))
		return
	}
	plainError(w, http.StatusNotFound, "no matched ip found!")
}

// beatJSON is the client's beat parameter (the api's BeatInfo / RsInfo).
type beatJSON struct {
	IP          string            `json:"ip"`
	Port        int               `json:"port"`
	Weight      float64           `json:"weight"`
	Cluster     string            `json:"cluster"`
	ServiceName string            `json:"serviceName"`
	Metadata    map[string]string `json:"metadata"`
}

// handleBeat serves PUT /nacos/v1/ns/instance/beat (InstanceController.beat →
// InstanceOperatorClientImpl.handleBeat):
// {"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}. An
// unknown instance is registered again from the beat parameter when there
// is one; without it the answer is code 20404
// (NamingResponseCode.RESOURCE_NOT_FOUND), which makes clients register again.
func (s *Server) handleBeat(w http.ResponseWriter, r *http.Request) {
	k, err := serviceParams(r)
	if err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	var b beatJSON
	if raw := r.Form.Get("beat"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &b); err != nil {
			plainError(w, http.StatusBadRequest, "Param 'beat' is illegal: "+err.Error())
			return
		}
	}
	ip, port, cluster := b.IP, b.Port, b.Cluster
	if ip == "" {
		ip = r.Form.Get("ip")
	}
	if port == 0 {
		port, _ = strconv.Atoi(r.Form.Get("port"))
	}
	if cluster == "" {
		cluster = r.Form.Get("clusterName")
	}
	if cluster == "" {
		cluster = defaultCluster
	}
	code := 10200
	if !s.naming.beat(k, ip, port, cluster) {
		if b.IP == "" {
			code = 20404
		} else {
			weight := b.Weight
			if weight <= 0 {
				weight = 1
			}
			meta := b.Metadata
			if meta == nil {
				meta = map[string]string{}
			}
			s.naming.register(k, &instance{IP: ip, Port: port, Cluster: cluster, Weight: weight, Healthy: true, Enabled: true, Ephemeral: true, Metadata: meta})
		}
	}
	writeJSON(w, map[string]any{"clientBeatInterval": beatInterval, "code": code, "lightBeatEnabled": true})
}

func thresholdParam(r *http.Request) (float64, error) {
	v := r.Form.Get("protectThreshold")
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return 0, fmt.Errorf("Param 'protectThreshold' is illegal, it should be between 0 and 1: %s", v)
	}
	return f, nil
}

// handleCreateService serves POST /nacos/v1/ns/service (ServiceController.create).
func (s *Server) handleCreateService(w http.ResponseWriter, r *http.Request) {
	s.serviceSettings(w, r, s.naming.createService)
}

// handleUpdateService serves PUT /nacos/v1/ns/service (ServiceController.update).
func (s *Server) handleUpdateService(w http.ResponseWriter, r *http.Request) {
	s.serviceSettings(w, r, s.naming.updateService)
}

func (s *Server) serviceSettings(w http.ResponseWriter, r *http.Request, apply func(serviceKey, float64, map[string]string) error) {
	k, err := serviceParams(r)
	if err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	threshold, err := thresholdParam(r)
	if err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	meta, err := parseMetadata(r.Form.Get("metadata"))
	if err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := apply(k, threshold, meta); err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Write([]byte("ok")) //nolint:errcheck // the client went away
}

// handleDeleteService serves DELETE /nacos/v1/ns/service (ServiceController.remove).
func (s *Server) handleDeleteService(w http.ResponseWriter, r *http.Request) {
	k, err := serviceParams(r)
	if err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.naming.deleteService(k); err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Write([]byte("ok")) //nolint:errcheck // the client went away
}

// handleGetService serves GET /nacos/v1/ns/service (ServiceController.detail).
func (s *Server) handleGetService(w http.ResponseWriter, r *http.Request) {
	k, err := serviceParams(r)
	if err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	d, ok := s.naming.detail(k)
	if !ok {
		plainError(w, http.StatusBadRequest, fmt.Sprintf("service %s is not found!", k.grouped()))
		return
	}
	clusters := make([]map[string]any, 0, len(d.clusters))
	for _, c := range d.clusters {
		clusters = append(clusters, map[string]any{"name": c, "healthChecker": map[string]string{"type": "NONE"}, "metadata": map[string]string{}})
	}
	writeJSON(w, map[string]any{
		"namespaceId": k.namespace, "groupName": k.group, "name": k.name,
		"protectThreshold": d.protectThreshold, "metadata": d.metadata,
		"selector": map[string]string{"type": "none"}, "clusters": clusters,
	})
}

// handleServiceList serves GET /nacos/v1/ns/service/list
// (ServiceController.list): pageNo and pageSize required, {"count","doms"}.
func (s *Server) handleServiceList(w http.ResponseWriter, r *http.Request) {
	var page [2]int
	for i, name := range []string{"pageNo", "pageSize"} {
		v := r.Form.Get(name)
		if v == "" {
			plainError(w, http.StatusBadRequest, "Param '"+name+"' is required.")
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			plainError(w, http.StatusBadRequest, fmt.Sprintf("Param '%s' is illegal, it should be a positive integer: %s", name, v))
			return
		}
		page[i] = n
	}
	pageNo, pageSize := page[0], page[1]
	ns := r.Form.Get("namespaceId")
	if ns == "" {
		ns = defaultNamespace
	}
	group := r.Form.Get("groupName")
	if group == "" {
		group = defaultGroup
	}
	names, count := s.naming.serviceNames(ns, group, pageNo, pageSize)
	writeJSON(w, map[string]any{"count": count, "doms": names})
}

// handleNamespaces serves GET /nacos/v1/console/namespaces
// (NamespaceController.getNamespaces): the namespaces in use, public first.
func (s *Server) handleNamespaces(w http.ResponseWriter, r *http.Request) {
	var data []map[string]any
	seen := map[string]bool{}
	add := func(id string) {
		if id == "" {
			id = defaultNamespace
		}
		if seen[id] {
			return
		}
		seen[id] = true
		show, nsID, typ := id, id, 2
		if id == defaultNamespace {
			show, nsID, typ = defaultNamespace, "", 0
		}
		data = append(data, map[string]any{"namespace": nsID, "namespaceShowName": show, "namespaceDesc": nil, "quota": 200, "configCount": s.configs.count(nsID), "type": typ})
	}
	add(defaultNamespace)
	for _, ns := range s.naming.namespaces() {
		add(ns)
	}
	for _, t := range s.configs.tenants() {
		add(t)
	}
	writeJSON(w, map[string]any{"code": 200, "message": nil, "data": data})
}

// handleMetrics serves GET /nacos/v1/ns/operator/metrics
// (OperatorController.metrics): {"status":"UP", counts}. The npm client's
// getServerStatus reads status.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	services, instances := s.naming.counts()
	conns, subs := s.rpc.counts()
	receivers, receiverSubs := s.receivers.counts()
	writeJSON(w, map[string]any{
		"status": "UP", "serviceCount": services, "instanceCount": instances,
		"subscribeCount": subs + receiverSubs, "clientCount": conns + receivers, "connectionBasedClientCount": conns,
	})
}

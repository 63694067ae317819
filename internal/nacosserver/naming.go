package nacosserver

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Naming defaults, from Nacos' Constants and the api's PreservedMetadataKeys.
const (
	defaultNamespace  = "public"
	defaultGroup      = "DEFAULT_GROUP"
	defaultCluster    = "DEFAULT"
	groupSeparator    = "@@"
	beatInterval      = 5000  // ms, Constants.DEFAULT_HEART_BEAT_INTERVAL
	beatTimeout       = 15000 // ms, Constants.DEFAULT_HEART_BEAT_TIMEOUT
	ipDeleteTimeout   = 30000 // ms, Constants.DEFAULT_IP_DELETE_TIMEOUT
	metaBeatTimeout   = "preserved.heart.beat.timeout"
	metaDeleteTimeout = "preserved.ip.delete.timeout"
	metaBeatInterval  = "preserved.heart.beat.interval"
)

type serviceKey struct{ namespace, group, name string }

func (k serviceKey) grouped() string { return k.group + groupSeparator + k.name }

// instance is one registered endpoint of a service.
type instance struct {
	IP        string
	Port      int
	Weight    float64
	Healthy   bool
	Enabled   bool
	Ephemeral bool
	Cluster   string
	Metadata  map[string]string
	// owner is the gRPC connection that registered an ephemeral instance
	// ("" for HTTP registrations, which live on beats instead).
	owner    string
	lastBeat time.Time
}

func (i *instance) key() string { return i.IP + "#" + strconv.Itoa(i.Port) + "#" + i.Cluster }

// instanceID follows InstanceIdGenerator's simple form: ip#port#cluster#group@@service.
func (i *instance) instanceID(k serviceKey) string { return i.key() + "#" + k.grouped() }

func (i *instance) metaMillis(key string, def int64) int64 {
	if v, err := strconv.ParseInt(i.Metadata[key], 10, 64); err == nil && v > 0 {
		return v
	}
	return def
}

type service struct {
	key              serviceKey
	protectThreshold float64
	metadata         map[string]string
	instances        map[string]*instance
	lastRefTime      int64
}

// pushFunc tells the gRPC layer a service changed; it is called without the
// registry's lock held.
type pushFunc func(k serviceKey)

// registry holds services and instances of every namespace.
type registry struct {
	push pushFunc
	now  func() time.Time

	mu       sync.Mutex
	services map[serviceKey]*service
	lastRef  int64
}

func newRegistry(push pushFunc) *registry {
	return &registry{push: push, now: time.Now, services: map[serviceKey]*service{}}
}

// refTime is a strictly increasing millisecond stamp: the SDK ignores a push
// whose lastRefTime is not newer than its cache (ServiceInfoHolder.ProcessService).
func (r *registry) refTime() int64 {
	t := r.now().UnixMilli()
	if t <= r.lastRef {
		t = r.lastRef + 1
	}
	r.lastRef = t
	return t
}

func (r *registry) serviceLocked(k serviceKey, create bool) *service {
	svc := r.services[k]
	if svc == nil && create {
		svc = &service{key: k, metadata: map[string]string{}, instances: map[string]*instance{}, lastRefTime: r.refTime()}
		r.services[k] = svc
	}
	return svc
}

func (r *registry) changed(svc *service) { svc.lastRefTime = r.refTime() }

// register adds or replaces an instance (InstanceOperatorClientImpl.registerInstance /
// EphemeralClientOperationServiceImpl.registerInstance).
func (r *registry) register(k serviceKey, in *instance) {
	r.mu.Lock()
	svc := r.serviceLocked(k, true)
	in.lastBeat = r.now()
	svc.instances[in.key()] = in
	r.changed(svc)
	r.mu.Unlock()
	r.push(k)
}

// deregister removes an instance; it reports whether one was there.
func (r *registry) deregister(k serviceKey, ip string, port int, cluster string) bool {
	r.mu.Lock()
	svc := r.serviceLocked(k, false)
	if svc == nil {
		r.mu.Unlock()
		return false
	}
	key := (&instance{IP: ip, Port: port, Cluster: cluster}).key()
	_, ok := svc.instances[key]
	if ok {
		delete(svc.instances, key)
		r.changed(svc)
	}
	r.mu.Unlock()
	if ok {
		r.push(k)
	}
	return ok
}

// update changes an existing instance's weight, health flag, enabled flag
// and metadata; errServiceNotFound / errInstanceNotFound otherwise.
func (r *registry) update(k serviceKey, in *instance) error {
	r.mu.Lock()
	svc := r.serviceLocked(k, false)
	if svc == nil {
		r.mu.Unlock()
		return fmt.Errorf("service not found, namespace: %s, service: %s", k.namespace, k.grouped())
	}
	old := svc.instances[in.key()]
	if old == nil {
		r.mu.Unlock()
		return fmt.Errorf("instance not exist: %s:%d in cluster %s of service %s", in.IP, in.Port, in.Cluster, k.grouped())
	}
	old.Weight, old.Enabled, old.Metadata = in.Weight, in.Enabled, in.Metadata
	r.changed(svc)
	r.mu.Unlock()
	r.push(k)
	return nil
}

// beat refreshes an HTTP-registered instance; it reports whether it exists.
func (r *registry) beat(k serviceKey, ip string, port int, cluster string) bool {
	r.mu.Lock()
	svc := r.serviceLocked(k, false)
	var in *instance
	if svc != nil {
		in = svc.instances[(&instance{IP: ip, Port: port, Cluster: cluster}).key()]
	}
	if in == nil {
		r.mu.Unlock()
		return false
	}
	in.lastBeat = r.now()
	wasUnhealthy := !in.Healthy
	in.Healthy = true
	if wasUnhealthy {
		r.changed(svc)
	}
	r.mu.Unlock()
	if wasUnhealthy {
		r.push(k)
	}
	return true
}

// expire is the beat check of ClientBeatCheckTaskV2 / ExpiredClientCleaner
// for instances registered over HTTP, run every BeatCheckInterval: no beat
// for preserved.heart.beat.timeout (15 s) makes an instance unhealthy, none
// for preserved.ip.delete.timeout (30 s) removes it. Persistent instances
// are never expired. gRPC instances live with their connection instead.
func (r *registry) expire() {
	r.mu.Lock()
	now := r.now()
	var changed []serviceKey
	for k, svc := range r.services {
		dirty := false
		for key, in := range svc.instances {
			if !in.Ephemeral || in.owner != "" {
				continue
			}
			idle := now.Sub(in.lastBeat).Milliseconds()
			switch {
			case idle > in.metaMillis(metaDeleteTimeout, ipDeleteTimeout):
				delete(svc.instances, key)
				dirty = true
			case idle > in.metaMillis(metaBeatTimeout, beatTimeout) && in.Healthy:
				in.Healthy = false
				dirty = true
			}
		}
		if dirty {
			r.changed(svc)
			changed = append(changed, k)
		}
	}
	r.mu.Unlock()
	for _, k := range changed {
		r.push(k)
	}
}

// dropOwner removes every instance a closed gRPC connection registered
// (ConnectionBasedClientManager.clientDisconnected → ClientEvent.ClientDisconnectEvent).
func (r *registry) dropOwner(conn string) {
	r.mu.Lock()
	var changed []serviceKey
	for k, svc := range r.services {
		dirty := false
		for key, in := range svc.instances {
			if in.owner == conn {
				delete(svc.instances, key)
				dirty = true
			}
		}
		if dirty {
			r.changed(svc)
			changed = append(changed, k)
		}
	}
	r.mu.Unlock()
	for _, k := range changed {
		r.push(k)
	}
}

// createService creates an empty service (ServiceController.create); it
// fails when the service exists.
func (r *registry) createService(k serviceKey, threshold float64, meta map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.services[k] != nil {
		return fmt.Errorf("specified service already exists, serviceName : %s", k.grouped())
	}
	svc := r.serviceLocked(k, true)
	svc.protectThreshold, svc.metadata = threshold, meta
	return nil
}

// updateService changes a service's protect threshold and metadata.
func (r *registry) updateService(k serviceKey, threshold float64, meta map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	svc := r.services[k]
	if svc == nil {
		return fmt.Errorf("service %s not found", k.grouped())
	}
	svc.protectThreshold, svc.metadata = threshold, meta
	r.changed(svc)
	return nil
}

// deleteService removes a service without instances (ServiceOperatorV2Impl.delete).
func (r *registry) deleteService(k serviceKey) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	svc := r.services[k]
	if svc == nil {
		return fmt.Errorf("service %s not found", k.grouped())
	}
	if len(svc.instances) > 0 {
		return fmt.Errorf("Service %s is not empty, can't be delete. Please unregister instance first", k.grouped())
	}
	delete(r.services, k)
	return nil
}

// serviceDetail is the view of one service's settings and clusters.
type serviceDetail struct {
	key              serviceKey
	protectThreshold float64
	metadata         map[string]string
	clusters         []string
}

func (r *registry) detail(k serviceKey) (serviceDetail, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	svc := r.services[k]
	if svc == nil {
		return serviceDetail{}, false
	}
	d := serviceDetail{key: k, protectThreshold: svc.protectThreshold, metadata: maps.Clone(svc.metadata)}
	seen := map[string]bool{}
	for _, in := range svc.instances {
		if !seen[in.Cluster] {
			seen[in.Cluster] = true
			d.clusters = append(d.clusters, in.Cluster)
		}
	}
	slices.Sort(d.clusters)
	return d, true
}

// serviceNames lists a group's services of a namespace, sorted, one page
// (ServiceUtil.pageServiceName: pageNo counts from 1); count is the total.
func (r *registry) serviceNames(namespace, group string, pageNo, pageSize int) (names []string, count int) {
	r.mu.Lock()
	all := []string{}
	for k := range r.services {
		if k.namespace == namespace && k.group == group {
			all = append(all, k.name)
		}
	}
	r.mu.Unlock()
	slices.Sort(all)
	if pageNo < 1 {
		pageNo = 1
	}
	start := (pageNo - 1) * pageSize
	if pageSize <= 0 || start >= len(all) {
		return []string{}, len(all)
	}
	return all[start:min(start+pageSize, len(all))], len(all)
}

// namespaces lists the namespaces that hold a service, plus public.
func (r *registry) namespaces() []string {
	r.mu.Lock()
	set := map[string]bool{defaultNamespace: true}
	for k := range r.services {
		set[k.namespace] = true
	}
	r.mu.Unlock()
	return slices.Sorted(maps.Keys(set))
}

// instanceView is an instance as queries return it.
type instanceView struct {
	instance
	id string
}

// query is a service's instances in the given clusters (comma-separated,
// all when empty), following ServiceUtil.selectInstancesWithHealthyProtection:
// healthyOnly drops unhealthy instances unless the healthy share is at or
// under the service's protectThreshold (> 0), in which case every instance
// is returned and reachProtectionThreshold is set. Disabled instances are
// dropped from healthyOnly answers (ServiceUtil.selectHealthyInstances).
type queryResult struct {
	hosts                    []instanceView
	lastRefTime              int64
	reachProtectionThreshold bool
	found                    bool
}

func (r *registry) query(k serviceKey, clusters string, healthyOnly bool) queryResult {
	var want map[string]bool
	if clusters != "" {
		want = map[string]bool{}
		for _, c := range strings.Split(clusters, ",") {
			want[strings.TrimSpace(c)] = true
		}
	}
	r.mu.Lock()
	svc := r.services[k]
	if svc == nil {
		r.mu.Unlock()
		return queryResult{hosts: []instanceView{}}
	}
	res := queryResult{lastRefTime: svc.lastRefTime, found: true, hosts: []instanceView{}}
	threshold := svc.protectThreshold
	var all []instanceView
	for _, in := range svc.instances {
		if want != nil && !want[in.Cluster] {
			continue
		}
		v := instanceView{instance: *in, id: in.instanceID(k)}
		v.Metadata = maps.Clone(in.Metadata)
		all = append(all, v)
	}
	r.mu.Unlock()
	slices.SortFunc(all, func(a, b instanceView) int { return strings.Compare(a.key(), b.key()) })
	if !healthyOnly {
		res.hosts = append(res.hosts, all...)
		return res
	}
	healthy := 0
	for _, v := range all {
		if v.Healthy {
			healthy++
		}
	}
	if len(all) > 0 && threshold > 0 && float64(healthy)/float64(len(all)) <= threshold {
		res.reachProtectionThreshold = true
		for _, v := range all {
			v.Healthy = true
			res.hosts = append(res.hosts, v)
		}
		return res
	}
	for _, v := range all {
		if v.Healthy && v.Enabled {
			res.hosts = append(res.hosts, v)
		}
	}
	return res
}

// splitGroupedName splits "group@@name" (NamingUtils.getGroupName /
// getServiceName); a name without @@ takes the given group.
func splitGroupedName(serviceName, group string) (string, string, error) {
	if i := strings.Index(serviceName, groupSeparator); i >= 0 {
		g, n := serviceName[:i], serviceName[i+len(groupSeparator):]
		if g == "" || n == "" || strings.Contains(n, groupSeparator) {
			return "", "", fmt.Errorf("Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName'")
		}
		return g, n, nil
	}
	if group == "" {
		group = defaultGroup
	}
	return group, serviceName, nil
}

// replaceOwned sets a connection's instances of a service to ins
// (EphemeralClientOperationServiceImpl.batchRegisterInstance).
func (r *registry) replaceOwned(k serviceKey, owner string, ins []*instance) {
	r.mu.Lock()
	svc := r.serviceLocked(k, true)
	for key, in := range svc.instances {
		if in.owner == owner {
			delete(svc.instances, key)
		}
	}
	now := r.now()
	for _, in := range ins {
		in.lastBeat = now
		svc.instances[in.key()] = in
	}
	r.changed(svc)
	r.mu.Unlock()
	r.push(k)
}

// counts is the number of services and instances of every namespace.
func (r *registry) counts() (services, instances int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, svc := range r.services {
		services++
		instances += len(svc.instances)
	}
	return services, instances
}

package nacosserver

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultClientExpired is how long a v1 push receiver (a client that
// lists instances with udpPort > 0) stays a subscriber after its last
// list: nacos.naming.client.expired.time (ClientConfig, default 180 s),
// after which an IpPortBasedClient without instances expires
// (ExpiredClientCleaner, IpPortBasedClient.isExpire).
const DefaultClientExpired = 180 * time.Second

// subscriberJSON is Nacos' naming pojo Subscriber, as
// GET /nacos/v1/ns/service/subscribers lists it.
type subscriberJSON struct {
	AddrStr     string `json:"addrStr"`
	Agent       string `json:"agent"`
	App         string `json:"app"`
	IP          string `json:"ip"`
	Port        int    `json:"port"`
	NamespaceID string `json:"namespaceId"`
	ServiceName string `json:"serviceName"` // group@@name
	Cluster     string `json:"cluster"`
}

// pushClient is a 1.x client that asked for pushes: Nacos 2.x keeps it as
// an IpPortBasedClient "IP:UDPPORT#true" holding one subscription per
// service it listed (InstanceOperatorClientImpl.listInstance), alive while
// it keeps listing.
type pushClient struct {
	seen time.Time
	subs map[serviceKey]subscriberJSON
}

// pushReceivers are the v1 push receivers, by address (IP:UDPPORT).
type pushReceivers struct {
	now func() time.Time
	ttl time.Duration

	mu      sync.Mutex
	clients map[string]*pushClient
}

func newPushReceivers(ttl time.Duration) *pushReceivers {
	return &pushReceivers{now: time.Now, ttl: ttl, clients: map[string]*pushClient{}}
}

// subscribe records (or refreshes) a push receiver's subscription to k.
func (p *pushReceivers) subscribe(k serviceKey, sub subscriberJSON) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[sub.AddrStr]
	if c == nil {
		c = &pushClient{subs: map[serviceKey]subscriberJSON{}}
		p.clients[sub.AddrStr] = c
	}
	c.seen = p.now()
	c.subs[k] = sub
}

// expire drops the receivers that have not listed for ttl.
func (p *pushReceivers) expire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for addr, c := range p.clients {
		if now.Sub(c.seen) > p.ttl {
			delete(p.clients, addr)
		}
	}
}

// counts is the number of push receivers and of their subscriptions
// (they are clients and subscriptions in Nacos' metrics).
func (p *pushReceivers) counts() (clients, subs int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		subs += len(c.subs)
	}
	return len(p.clients), subs
}

func (p *pushReceivers) each(f func(serviceKey, subscriberJSON)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		for k, sub := range c.subs {
			f(k, sub)
		}
	}
}

// subscriberOf is a gRPC connection's subscriber of k, as
// SubscribeServiceRequestHandler makes it: the client's IP as addrStr and
// ip, its version as agent, port 0.
func (c *rpcConn) subscriberOf(k serviceKey, s subscription) subscriberJSON {
	return subscriberJSON{AddrStr: c.ip, Agent: c.version, App: s.app, IP: c.ip, NamespaceID: k.namespace,
		ServiceName: k.grouped(), Cluster: s.clusters}
}

// subscribers lists the subscribers of the services of namespace whose
// name contains name and whose group contains group, as
// NamingSubscriberServiceV2Impl.getFuzzySubscribers matches them (which is
// what ServiceController.subscribers answers on one server, aggregated or
// not): gRPC connections that subscribed and push receivers that listed.
// Equal subscribers (Subscriber.equals: all but port and cluster) are one;
// the list is sorted by service, IP and address.
func (s *Server) subscribers(namespace, group, name string) []subscriberJSON {
	match := func(k serviceKey) bool {
		return k.namespace == namespace && strings.Contains(k.name, name) && strings.Contains(k.group, group)
	}
	type identity struct{ addr, agent, app, ip, ns, svc string }
	seen := map[identity]bool{}
	out := []subscriberJSON{}
	add := func(k serviceKey, sub subscriberJSON) {
		id := identity{sub.AddrStr, sub.Agent, sub.App, sub.IP, sub.NamespaceID, sub.ServiceName}
		if match(k) && !seen[id] {
			seen[id] = true
			out = append(out, sub)
		}
	}
	s.rpc.mu.Lock()
	for _, c := range s.rpc.conns {
		if !c.registered.Load() {
			continue
		}
		c.mu.Lock()
		for k, sub := range c.subs {
			add(k, c.subscriberOf(k, sub))
		}
		c.mu.Unlock()
	}
	s.rpc.mu.Unlock()
	s.receivers.each(add)
	slices.SortFunc(out, func(a, b subscriberJSON) int {
		return cmp.Or(cmp.Compare(a.ServiceName, b.ServiceName), cmp.Compare(a.IP, b.IP), cmp.Compare(a.AddrStr, b.AddrStr),
			cmp.Compare(a.Agent, b.Agent), cmp.Compare(a.App, b.App))
	})
	return out
}

// handleSubscribers serves GET /nacos/v1/ns/service/subscribers
// (github.com/alibaba/nacos naming/.../controllers/ServiceController.subscribers,
// Nacos 2.x): serviceName required ("group@@name",
// or the name with groupName, default DEFAULT_GROUP), namespaceId
// (default public), pageNo (default 1) and pageSize (default 1000), read
// as NumberUtils.toInt does (0 when not a number); aggregation is accepted
// and changes nothing on one server. Answers {"subscribers": [...], "count": N},
// count being the total before paging.
func (s *Server) handleSubscribers(w http.ResponseWriter, r *http.Request) {
	k, err := serviceParams(r)
	if err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	toInt := func(name string, def int) int {
		v := r.Form.Get(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0
		}
		return n
	}
	pageNo, pageSize := toInt("pageNo", 1), toInt("pageSize", 1000)
	all := s.subscribers(k.namespace, k.group, k.name)
	start := max((pageNo-1)*pageSize, 0)
	end := min(start+pageSize, len(all))
	page := []subscriberJSON{}
	if start < end {
		page = all[start:end]
	}
	writeJSON(w, map[string]any{"subscribers": page, "count": len(all)})
}

// pushReceiver records a v1 instance list that asks for pushes
// (InstanceController.list → InstanceOperatorClientImpl.listInstance: a
// Subscriber "clientIP:udpPort" when udpPort > 0; agent is the
// Client-Version header, else User-Agent, as WebUtils.getUserAgent reads
// it). This server sends no UDP pushes: 1.x clients poll the list too.
func (s *Server) pushReceiver(r *http.Request, k serviceKey, clusters string) {
	port, err := strconv.Atoi(r.Form.Get("udpPort"))
	if err != nil || port <= 0 || port > 65535 {
		return
	}
	ip := r.Form.Get("clientIP")
	agent := r.Header.Get("Client-Version")
	if agent == "" {
		agent = r.Header.Get("User-Agent")
	}
	s.receivers.subscribe(k, subscriberJSON{
		AddrStr: ip + ":" + strconv.Itoa(port), Agent: agent, App: r.Form.Get("app"), IP: ip, Port: port,
		NamespaceID: k.namespace, ServiceName: k.grouped(), Cluster: clusters,
	})
}

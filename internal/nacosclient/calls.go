package nacosclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Config is one configuration as read.
type Config struct {
	DataID, Group string
	Content       string
	// MD5 is the md5 of Content: pass it to PublishConfig to publish only
	// if nobody changed the configuration since.
	MD5 string
	// Type is the type the server keeps ("yaml", "properties", "text"...),
	// when it says.
	Type string
}

// GetConfig reads a configuration (GET /nacos/v1/cs/configs); group ""
// is the client's group. A configuration that does not exist is
// ErrNotFound.
func (c *Client) GetConfig(ctx context.Context, dataID, group string) (Config, error) {
	group = c.groupOr(group)
	if c.grpc != nil {
		return c.grpc.getConfig(ctx, c, dataID, group)
	}
	q := url.Values{"dataId": {dataID}, "group": {group}}
	if c.namespace != "" {
		q.Set("tenant", c.namespace)
	}
	body, status, hdr, err := c.call(ctx, http.MethodGet, "/v1/cs/configs", q, nil, nil)
	if err != nil {
		return Config{}, fmt.Errorf("read config %s (group %s): %w", dataID, group, err)
	}
	switch status {
	case http.StatusOK:
	case http.StatusNotFound:
		return Config{}, fmt.Errorf("config %s (group %s%s): %w", dataID, group, c.inNamespace(), ErrNotFound)
	default:
		return Config{}, fmt.Errorf("read config %s (group %s): HTTP %d: %s", dataID, group, status, firstLine(body))
	}
	content := string(body)
	return Config{DataID: dataID, Group: group, Content: content, MD5: MD5(content), Type: hdr.Get("Config-Type")}, nil
}

// PublishConfig stores a configuration (POST /nacos/v1/cs/configs); typ is
// its type ("yaml", "properties"; "" leaves the server's default). With
// casMD5 "" it creates or overwrites. With casMD5 set it is a
// compare-and-swap (the casMd5 header, ConfigController.publishConfig):
// when another md5 is stored the answer is ErrConflict and nothing is
// written. As in Nacos (insertOrUpdateCas), a configuration that does not
// exist is created whatever casMD5 says: creation is not protected, so a
// caller that must not lose a concurrent creation reads again after it.
func (c *Client) PublishConfig(ctx context.Context, dataID, group, content, typ, casMD5 string) error {
	group = c.groupOr(group)
	if c.grpc != nil {
		return c.grpc.publishConfig(ctx, dataID, group, content, typ, casMD5)
	}
	form := url.Values{"dataId": {dataID}, "group": {group}, "content": {content}}
	if typ != "" {
		form.Set("type", typ)
	}
	if c.namespace != "" {
		form.Set("tenant", c.namespace)
	}
	var h http.Header
	if casMD5 != "" {
		h = http.Header{"casMd5": {casMD5}}
	}
	body, status, _, err := c.call(ctx, http.MethodPost, "/v1/cs/configs", nil, form, h)
	if err != nil {
		return fmt.Errorf("publish config %s (group %s): %w", dataID, group, err)
	}
	ans := strings.TrimSpace(string(body))
	if status == http.StatusOK && ans == "true" {
		return nil
	}
	if casMD5 != "" && strings.Contains(ans, "Cas publish fail") {
		return fmt.Errorf("publish config %s (group %s): %w", dataID, group, ErrConflict)
	}
	return fmt.Errorf("publish config %s (group %s): HTTP %d: %s", dataID, group, status, firstLine(body))
}

// Instance is one instance of a service as Nacos lists it.
type Instance struct {
	Service   string            `json:"service"`
	Group     string            `json:"group"`
	Cluster   string            `json:"cluster"`
	IP        string            `json:"ip"`
	Port      int               `json:"port"`
	Weight    float64           `json:"weight"`
	Healthy   bool              `json:"healthy"`
	Enabled   bool              `json:"enabled"`
	Ephemeral bool              `json:"ephemeral"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// Services lists every service of a group (GET /nacos/v1/ns/service/list,
// all pages); group "" is the client's group.
func (c *Client) Services(ctx context.Context, group string) ([]string, error) {
	group = c.groupOr(group)
	if c.grpc != nil {
		return c.grpc.services(ctx, group)
	}
	return allPages(func(page int) ([]string, int, error) {
		q := url.Values{"pageNo": {itoa(page)}, "pageSize": {itoa(servicesPage)}, "groupName": {group}}
		if c.namespace != "" {
			q.Set("namespaceId", c.namespace)
		}
		body, status, _, err := c.call(ctx, http.MethodGet, "/v1/ns/service/list", q, nil, nil)
		if err != nil {
			return nil, 0, fmt.Errorf("list services (group %s): %w", group, err)
		}
		if status != http.StatusOK {
			return nil, 0, fmt.Errorf("list services (group %s): HTTP %d: %s", group, status, firstLine(body))
		}
		var ans struct {
			Count int      `json:"count"`
			Doms  []string `json:"doms"`
		}
		if err := json.Unmarshal(body, &ans); err != nil {
			return nil, 0, fmt.Errorf("list services (group %s): %w", group, err)
		}
		return ans.Doms, ans.Count, nil
	})
}

// servicesPage is the page size of a service list, over HTTP and gRPC.
const servicesPage = 500

// allPages is every service name of pages 1, 2, ... of a list, sorted:
// fetch gives a page and the total the server counts; a short page, or
// the names reaching the total, ends the list.
func allPages(fetch func(page int) (names []string, total int, err error)) ([]string, error) {
	var out []string
	for page := 1; ; page++ {
		names, total, err := fetch(page)
		if err != nil {
			return nil, err
		}
		out = append(out, names...)
		if len(names) < servicesPage || len(out) >= total {
			sort.Strings(out)
			return out, nil
		}
	}
}

// Instances lists every instance of a service, healthy or not
// (GET /nacos/v1/ns/instance/list); group "" is the client's group.
func (c *Client) Instances(ctx context.Context, service, group string) ([]Instance, error) {
	group = c.groupOr(group)
	if c.grpc != nil {
		return c.grpc.instances(ctx, service, group)
	}
	q := url.Values{"serviceName": {service}, "groupName": {group}, "healthyOnly": {"false"}}
	if c.namespace != "" {
		q.Set("namespaceId", c.namespace)
	}
	body, status, _, err := c.call(ctx, http.MethodGet, "/v1/ns/instance/list", q, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("list instances of %s (group %s): %w", service, group, err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("list instances of %s (group %s): HTTP %d: %s", service, group, status, firstLine(body))
	}
	var ans struct {
		Hosts []hostJSON `json:"hosts"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, fmt.Errorf("list instances of %s (group %s): %w", service, group, err)
	}
	return instancesOf(service, group, ans.Hosts), nil
}

// hostJSON is an instance as Nacos lists it (the v1 instance list's hosts
// and the gRPC ServiceInfo's, the same Instance class).
type hostJSON struct {
	IP          string            `json:"ip"`
	Port        int               `json:"port"`
	Weight      float64           `json:"weight"`
	Healthy     bool              `json:"healthy"`
	Enabled     bool              `json:"enabled"`
	Ephemeral   bool              `json:"ephemeral"`
	ClusterName string            `json:"clusterName"`
	Metadata    map[string]string `json:"metadata"`
}

// instancesOf converts listed hosts into Instances, sorted by address.
func instancesOf(service, group string, hosts []hostJSON) []Instance {
	out := make([]Instance, 0, len(hosts))
	for _, h := range hosts {
		md := h.Metadata
		if md == nil {
			md = map[string]string{}
		}
		out = append(out, Instance{Service: service, Group: group, Cluster: h.ClusterName, IP: h.IP, Port: h.Port,
			Weight: h.Weight, Healthy: h.Healthy, Enabled: h.Enabled, Ephemeral: h.Ephemeral, Metadata: md})
	}
	sortInstances(out)
	return out
}

func sortInstances(out []Instance) {
	sort.Slice(out, func(i, j int) bool {
		if out[i].IP != out[j].IP {
			return out[i].IP < out[j].IP
		}
		return out[i].Port < out[j].Port
	})
}

// Namespaces lists the ids of the server's namespaces, "public" for the
// public one (GET /nacos/v1/console/namespaces; over HTTP whatever the
// protocol, as the SDK has no such call).
func (c *Client) Namespaces(ctx context.Context) ([]string, error) {
	body, status, _, err := c.call(ctx, http.MethodGet, "/v1/console/namespaces", nil, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("list namespaces: HTTP %d: %s", status, firstLine(body))
	}
	var ans struct {
		Data []struct {
			Namespace string `json:"namespace"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	out := make([]string, 0, len(ans.Data))
	for _, d := range ans.Data {
		id := d.Namespace
		if id == "" {
			id = publicNamespace
		}
		out = append(out, id)
	}
	return out, nil
}

func (c *Client) groupOr(g string) string {
	if g == "" {
		return c.group
	}
	return g
}

func (c *Client) inNamespace() string {
	if c.namespace == "" {
		return ""
	}
	return ", namespace " + c.namespace
}

// ErrUnsupported: the server does not serve the call (HTTP 404: a Nacos
// without that Open API endpoint, such as 3.x without its legacy adapter).
var ErrUnsupported = errors.New("the server does not serve this call")

// Subscriber is a client subscribed to a service, as Nacos lists it (its
// naming pojo Subscriber).
type Subscriber struct {
	Service string `json:"service"`
	Group   string `json:"group"`
	// Address is Nacos' addrStr: the client's IP for a 2.x gRPC client,
	// IP:UDPPORT for a 1.x client's push receiver.
	Address string `json:"address"`
	IP      string `json:"ip"`
	Port    int    `json:"port,omitempty"`
	// Agent is the client's version ("Nacos-Java-Client:v2.3.0"), App the
	// app name it reported ("unknown" or "" when it reported none).
	Agent   string `json:"agent,omitempty"`
	App     string `json:"app,omitempty"`
	Cluster string `json:"cluster,omitempty"`
}

// subscribersPage is the page size Subscribers asks for (Nacos' default).
const subscribersPage = 1000

// Subscribers lists the clients subscribed to a service (GET
// /nacos/v1/ns/service/subscribers, ServiceController.subscribers, every
// page); group "" is the client's group. The Open API is HTTP only, so
// this call goes over HTTP whatever the protocol (the gRPC protocol has no
// such request). Nacos matches the name and group as substrings
// (NamingSubscriberServiceV2Impl.getFuzzySubscribers): only the
// subscribers of exactly this service are returned, sorted by IP and
// address. A server that answers 404 is ErrUnsupported.
func (c *Client) Subscribers(ctx context.Context, service, group string) ([]Subscriber, error) {
	group = c.groupOr(group)
	grouped := group + "@@" + service
	var out []Subscriber
	seen := 0
	for page := 1; ; page++ {
		q := url.Values{"serviceName": {service}, "groupName": {group}, "pageNo": {itoa(page)}, "pageSize": {itoa(subscribersPage)}}
		if c.namespace != "" {
			q.Set("namespaceId", c.namespace)
		}
		body, status, _, err := c.call(ctx, http.MethodGet, "/v1/ns/service/subscribers", q, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("list subscribers of %s (group %s): %w", service, group, err)
		}
		switch status {
		case http.StatusOK:
		case http.StatusNotFound:
			return nil, fmt.Errorf("list subscribers of %s (group %s): %w (HTTP 404)", service, group, ErrUnsupported)
		default:
			return nil, fmt.Errorf("list subscribers of %s (group %s): HTTP %d: %s", service, group, status, firstLine(body))
		}
		var ans struct {
			Count       int `json:"count"`
			Subscribers []struct {
				AddrStr     string `json:"addrStr"`
				Agent       string `json:"agent"`
				App         string `json:"app"`
				IP          string `json:"ip"`
				Port        int    `json:"port"`
				NamespaceID string `json:"namespaceId"`
				ServiceName string `json:"serviceName"`
				Cluster     string `json:"cluster"`
			} `json:"subscribers"`
		}
		if err := json.Unmarshal(body, &ans); err != nil {
			return nil, fmt.Errorf("list subscribers of %s (group %s): %w", service, group, err)
		}
		for _, s := range ans.Subscribers {
			// 1.x clients of the default group may name the service bare.
			if s.ServiceName != grouped && (group != DefaultGroup || s.ServiceName != service) {
				continue
			}
			out = append(out, Subscriber{Service: service, Group: group, Address: s.AddrStr, IP: s.IP, Port: s.Port,
				Agent: s.Agent, App: s.App, Cluster: s.Cluster})
		}
		seen += len(ans.Subscribers)
		if len(ans.Subscribers) == 0 || seen >= ans.Count {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].IP != out[j].IP {
			return out[i].IP < out[j].IP
		}
		return out[i].Address < out[j].Address
	})
	return out, nil
}

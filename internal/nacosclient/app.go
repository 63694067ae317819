package nacosclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// What an application does with Nacos over the v1 HTTP API, as the Nacos
// 1.x Java client does it (NamingProxy.registerService / deregisterService
// / sendBeat, ClientWorker's long polling): register itself, keep the
// registration alive by beats, and listen to configurations. The built-in
// sample app's Nacos mode uses these.

// Registration is the instance an application registers.
type Registration struct {
	Service, Group string // Group "": the client's group
	Cluster        string // "": DEFAULT
	IP             string
	Port           int
	Weight         float64 // 0: 1
	// Ephemeral instances live on beats: the server marks one unhealthy
	// after 15 s without a beat and deletes it after 30 s.
	Ephemeral bool
	Metadata  map[string]string
}

func (c *Client) registrationForm(r Registration) url.Values {
	cluster, weight := r.Cluster, r.Weight
	if cluster == "" {
		cluster = "DEFAULT"
	}
	if weight == 0 {
		weight = 1
	}
	f := url.Values{
		"serviceName": {r.Service}, "groupName": {c.groupOr(r.Group)}, "ip": {r.IP}, "port": {itoa(r.Port)},
		"clusterName": {cluster}, "weight": {strconv.FormatFloat(weight, 'f', -1, 64)}, "enable": {"true"},
		"healthy": {"true"}, "ephemeral": {strconv.FormatBool(r.Ephemeral)},
	}
	if len(r.Metadata) > 0 {
		meta, _ := json.Marshal(r.Metadata) // a map of strings always encodes
		f.Set("metadata", string(meta))
	}
	if c.namespace != "" {
		f.Set("namespaceId", c.namespace)
	}
	return f
}

// Register registers an instance (POST /nacos/v1/ns/instance).
func (c *Client) Register(ctx context.Context, r Registration) error {
	return c.instanceCall(ctx, http.MethodPost, "register", r)
}

// Deregister removes an instance (DELETE /nacos/v1/ns/instance); an
// instance that is gone already is no error.
func (c *Client) Deregister(ctx context.Context, r Registration) error {
	return c.instanceCall(ctx, http.MethodDelete, "deregister", r)
}

func (c *Client) instanceCall(ctx context.Context, method, what string, r Registration) error {
	form := c.registrationForm(r)
	var q url.Values
	if method == http.MethodDelete {
		q, form = form, nil // Nacos reads a DELETE's parameters from the query
	}
	body, status, _, err := c.call(ctx, method, "/v1/ns/instance", q, form, nil)
	if err != nil {
		return fmt.Errorf("%s %s %s:%d: %w", what, r.Service, r.IP, r.Port, err)
	}
	if status != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("%s %s %s:%d: HTTP %d: %s", what, r.Service, r.IP, r.Port, status, firstLine(body))
	}
	return nil
}

// ErrNotRegistered: a beat for an instance the server does not have
// (code 20404, NamingResponseCode.RESOURCE_NOT_FOUND); register again.
var ErrNotRegistered = fmt.Errorf("the instance is not registered")

// Beat keeps an ephemeral instance alive (PUT /nacos/v1/ns/instance/beat,
// without the beat body: the light beat of Nacos 1.4). It returns the
// interval the server asks for until the next beat.
func (c *Client) Beat(ctx context.Context, r Registration) (time.Duration, error) {
	f := c.registrationForm(r)
	q := url.Values{"serviceName": f["serviceName"], "groupName": f["groupName"], "ip": f["ip"], "port": f["port"], "clusterName": f["clusterName"]}
	if c.namespace != "" {
		q.Set("namespaceId", c.namespace)
	}
	body, status, _, err := c.call(ctx, http.MethodPut, "/v1/ns/instance/beat", q, nil, nil)
	if err != nil {
		return 0, fmt.Errorf("beat %s %s:%d: %w", r.Service, r.IP, r.Port, err)
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("beat %s %s:%d: HTTP %d: %s", r.Service, r.IP, r.Port, status, firstLine(body))
	}
	var ans struct {
		Interval int64 `json:"clientBeatInterval"`
		Code     int   `json:"code"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return 0, fmt.Errorf("beat %s %s:%d: %w", r.Service, r.IP, r.Port, err)
	}
	if ans.Code == 20404 {
		return 0, fmt.Errorf("beat %s %s:%d: %w", r.Service, r.IP, r.Port, ErrNotRegistered)
	}
	interval := time.Duration(ans.Interval) * time.Millisecond
	if interval <= 0 {
		interval = 5 * time.Second
	}
	return interval, nil
}

// Watched is a configuration a listener knows, with the md5 of the content
// it has ("" when it has none).
type Watched struct{ DataID, Group, MD5 string }

// Listen long-polls for changes of the watched configurations (POST
// /nacos/v1/cs/configs/listener, ClientWorker.checkUpdateConfigStr): the
// server answers as soon as one differs from its md5, or after about
// timeout with none. It returns the ones that changed (read them with
// GetConfig). The client's HTTP client must not time out before timeout.
func (c *Client) Listen(ctx context.Context, watched []Watched, timeout time.Duration) ([]Watched, error) {
	var probe strings.Builder
	for _, w := range watched {
		probe.WriteString(w.DataID + "\x02" + c.groupOr(w.Group) + "\x02" + w.MD5)
		if c.namespace != "" {
			probe.WriteString("\x02" + c.namespace)
		}
		probe.WriteString("\x01")
	}
	h := http.Header{"Long-Pulling-Timeout": {strconv.FormatInt(timeout.Milliseconds(), 10)}}
	body, status, _, err := c.call(ctx, http.MethodPost, "/v1/cs/configs/listener", nil, url.Values{"Listening-Configs": {probe.String()}}, h)
	if err != nil {
		return nil, fmt.Errorf("listen to configs: %w", err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("listen to configs: HTTP %d: %s", status, firstLine(body))
	}
	text, err := url.QueryUnescape(strings.TrimSpace(string(body)))
	if err != nil {
		return nil, fmt.Errorf("listen to configs: %w", err)
	}
	var out []Watched
	for _, line := range strings.Split(text, "\x01") {
		if f := strings.Split(line, "\x02"); len(f) >= 2 && f[0] != "" {
			out = append(out, Watched{DataID: f[0], Group: f[1]})
		}
	}
	return out, nil
}

package sample

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/springprops"
)

// NacosOptions configures the sample's Nacos discovery mode, in which it
// behaves as a Spring Cloud Alibaba app: it registers itself in Nacos,
// resolves its lb:// upstreams through Nacos to an instance's IP and port,
// and reads the Nacos configurations it imports, listening for changes.
// [Load] fills it from the environment, with Spring Boot's variable names.
type NacosOptions struct {
	// Server is the Nacos server, host:port
	// (SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR), reached over its v1 HTTP
	// API (which Nacos 1.x and 2.x serve).
	Server string
	// Namespace is the namespace id the app registers in
	// (SPRING_CLOUD_NACOS_DISCOVERY_NAMESPACE; "": public).
	Namespace string
	// Group is the group the app registers in and looks its upstreams up
	// in (SPRING_CLOUD_NACOS_DISCOVERY_GROUP; default DEFAULT_GROUP).
	Group string
	// ConfigNamespace is the namespace of the imported configurations
	// (SPRING_CLOUD_NACOS_CONFIG_NAMESPACE; default: Namespace).
	ConfigNamespace string
	// Username and Password log in when Username is set
	// (SPRING_CLOUD_NACOS_USERNAME, SPRING_CLOUD_NACOS_PASSWORD).
	Username, Password string
	// Service is the name registered (SPRING_APPLICATION_NAME; default:
	// the app name).
	Service string
	// IP is the address registered (SPRING_CLOUD_NACOS_DISCOVERY_IP, else
	// POD_IP, else 127.0.0.1); the port registered is the listen port.
	IP string
	// Imports are the Nacos configurations read at start and listened to
	// (the nacos: entries of SPRING_CONFIG_IMPORT), in order: a later one
	// wins over an earlier one.
	Imports []ConfigImport
	// Sidecar is the HTTP proxy calls to instances go through
	// (HTTP_PROXY): a sidecar intercepts every outbound connection, so
	// NO_PROXY does not apply to them. Empty: direct.
	Sidecar string
	// Env looks up the environment variables that override configuration
	// properties (Spring's relaxed binding); nil: none.
	Env func(string) (string, bool) `json:"-"`
}

// ConfigImport is one nacos: entry of spring.config.import.
type ConfigImport struct {
	DataID, Group string
	// Optional: "optional:nacos:..."; the app starts without it when it
	// does not exist.
	Optional bool
	// Refresh: listen to changes (refreshEnabled, default true).
	Refresh bool
}

func (ci ConfigImport) String() string {
	s := "nacos:" + ci.DataID + "?group=" + ci.Group
	if ci.Optional {
		s = "optional:" + s
	}
	return s
}

// envProperty reads a Spring property from the environment as Spring Boot's
// SystemEnvironmentPropertyMapper does: the canonical variable name ('-'
// removed: SPRING_CLOUD_NACOS_DISCOVERY_SERVERADDR), then the legacy one
// ('-' as '_': SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR). An empty value
// counts as unset.
func envProperty(lookup func(string) (string, bool), key string) (string, string, bool) {
	if lookup == nil {
		return "", "", false
	}
	for _, name := range springprops.EnvNames(key) {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v), name, true
		}
	}
	return "", "", false
}

// loadNacos reads the Nacos discovery mode from the environment; nil when
// SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR is not set. app is the default
// service name.
func loadNacos(lookup func(string) (string, bool), app string) (*NacosOptions, error) {
	server, name, ok := envProperty(lookup, "spring.cloud.nacos.discovery.server-addr")
	if !ok {
		return nil, nil
	}
	if err := checkServerAddr(server); err != nil {
		return nil, fmt.Errorf("invalid %s %q: %w", name, server, err)
	}
	get := func(key, def string) string {
		if v, _, ok := envProperty(lookup, key); ok {
			return v
		}
		return def
	}
	n := &NacosOptions{
		Server:    server,
		Namespace: get("spring.cloud.nacos.discovery.namespace", ""),
		Group:     get("spring.cloud.nacos.discovery.group", nacosclient.DefaultGroup),
		Username:  get("spring.cloud.nacos.username", ""),
		Password:  get("spring.cloud.nacos.password", ""),
		Service:   get("spring.application.name", app),
		Env:       lookup,
	}
	n.ConfigNamespace = get("spring.cloud.nacos.config.namespace", n.Namespace)
	n.IP = get("spring.cloud.nacos.discovery.ip", "")
	if n.IP == "" {
		if v, ok := lookup("POD_IP"); ok && v != "" {
			n.IP = v
		} else {
			n.IP = "127.0.0.1"
		}
	}
	if net.ParseIP(n.IP) == nil {
		return nil, fmt.Errorf("invalid Nacos instance IP %q (SPRING_CLOUD_NACOS_DISCOVERY_IP or POD_IP): not an IP address", n.IP)
	}
	for _, k := range []string{"HTTP_PROXY", "http_proxy"} {
		if v, ok := lookup(k); ok && v != "" {
			n.Sidecar = v
			break
		}
	}
	if imports, name, ok := envProperty(lookup, "spring.config.import"); ok {
		var err error
		n.Imports, err = parseImports(imports, get("spring.cloud.nacos.config.group", nacosclient.DefaultGroup))
		if err != nil {
			return nil, fmt.Errorf("invalid %s %q: %w", name, imports, err)
		}
	}
	return n, nil
}

func checkServerAddr(s string) error {
	if strings.Contains(s, ",") {
		return errors.New("one server host:port (a cluster list is not supported)")
	}
	host, port, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(s, "http://"), "https://"))
	if err != nil || host == "" {
		return errors.New("must be host:port")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return errors.New("the port must be 1..65535")
	}
	return nil
}

// parseImports reads the nacos: entries of spring.config.import, the syntax
// of Spring Cloud Alibaba's NacosConfigDataLocationResolver:
// [optional:]nacos:DATAID[?group=G][&refreshEnabled=false]; entries of
// other kinds (file:, classpath:, configserver:) are not the sample's and
// are skipped.
func parseImports(v, defaultGroup string) ([]ConfigImport, error) {
	var out []ConfigImport
	for _, entry := range splitList(v) {
		loc, optional := strings.CutPrefix(entry, "optional:")
		rest, ok := strings.CutPrefix(loc, "nacos:")
		if !ok {
			continue
		}
		dataID, query, _ := strings.Cut(rest, "?")
		if dataID == "" {
			return nil, fmt.Errorf("%q: no data id after nacos:", entry)
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", entry, err)
		}
		ci := ConfigImport{DataID: dataID, Group: defaultGroup, Optional: optional, Refresh: true}
		if g := q.Get("group"); g != "" {
			ci.Group = g
		}
		if r := q.Get("refreshEnabled"); r != "" {
			if ci.Refresh, err = strconv.ParseBool(r); err != nil {
				return nil, fmt.Errorf("%q: refreshEnabled=%s: want true or false", entry, r)
			}
		}
		out = append(out, ci)
	}
	return out, nil
}

// A lbUpstream is an upstream named lb://SERVICE/path, Spring Cloud's load
// balancer scheme: the service is resolved per call.
func lbService(u *url.URL) string {
	if u.Scheme == "lb" {
		return u.Host
	}
	return ""
}

// Properties that point a client of service S somewhere else than Nacos,
// in the order they are looked up: the property seed 000's FeignClient
// reads (@FeignClient(url = "${order-service.url:}"): an annotation url
// wins), Spring Cloud OpenFeign's per-client url (read when the
// annotation has none: FeignClientFactoryBean.getTarget), and the simple
// discovery client's first instance (Spring Cloud Commons'
// SimpleDiscoveryProperties, which the load balancer of RestTemplate /
// WebClient callers reads).
func overrideKeys(service string) []string {
	return []string{
		service + ".url",
		springprops.FeignURLKey(service),
		springprops.SimpleURIKey(service),
	}
}

// override is where the configuration points a client of service, "" when
// nowhere: the environment first (either variable form), then props.
func override(props map[string]string, env func(string) (string, bool), service string) (value, key string) {
	for _, k := range overrideKeys(service) {
		if v, _, ok := envProperty(env, k); ok {
			return v, k
		}
		if v, ok := springprops.Lookup(props, nil, k); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v), k
		}
	}
	return "", ""
}

// overrideBase parses an override, a client's url; one without a scheme
// gets http:// (Feign's FeignClientFactoryBean).
func overrideBase(base string) (*url.URL, error) {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("must be an http:// or https:// URL with a host")
	}
	return u, nil
}

// overrideURL joins an override (from overrideBase) with the upstream's
// path and query, as Feign does with a client's url and a method's path.
// base is copied, not changed.
func overrideURL(base, u *url.URL) *url.URL {
	path, raw := u.Path, u.EscapedPath()
	if path == "" {
		path, raw = "/", "/"
	}
	t := *base
	t.Path, t.RawPath = base.Path+path, base.EscapedPath()+raw
	t.RawQuery, t.ForceQuery = u.RawQuery, u.ForceQuery
	return &t
}

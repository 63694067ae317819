package sample

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/common/logger"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/graylane/graylane/internal/springprops"
)

// discovery is the Nacos side of the sample in its Nacos discovery mode,
// on the official Go client (nacos-sdk-go/v2), as a Spring Cloud Alibaba
// app uses the Java one: its registration, the lookups of its lb://
// upstreams, and the configurations it imports, listened to.
type discovery struct {
	opts     *NacosOptions
	log      *slog.Logger
	naming   naming_client.INamingClient
	config   config_client.IConfigClient
	dir      *sdkDir
	services []string // the services of the lb:// upstreams
	// contents are the imports' current documents, by index of
	// opts.Imports; props of a document that did not parse are kept from
	// its last good version, as a failed refresh keeps the old values.
	mu    sync.Mutex
	props []map[string]string
	// overrides: service -> where the configuration points its clients.
	overrides  atomic.Pointer[map[string]string]
	registered *vo.RegisterInstanceParam
}

// startDiscovery connects to Nacos and reads the imported configurations
// (listening to those that refresh). It does not register yet: see
// register. A non-optional import that does not exist, or that cannot be
// read, fails the start, as Spring Boot fails when a config import is
// missing.
func startDiscovery(n *NacosOptions, services []string, log *slog.Logger) (*discovery, error) {
	d := &discovery{opts: n, log: log, services: services, props: make([]map[string]string, len(n.Imports))}
	d.overrides.Store(&map[string]string{})
	dir, err := acquireSDKDir()
	if err != nil {
		return nil, err
	}
	d.dir = dir
	ok := false
	defer func() {
		if !ok {
			d.close(false)
		}
	}()
	if d.naming, err = clients.NewNamingClient(d.sdkParam(n.Namespace, "naming")); err != nil {
		return nil, fmt.Errorf("nacos %s: naming client: %w", n.Server, err)
	}
	if len(n.Imports) > 0 {
		if d.config, err = clients.NewConfigClient(d.sdkParam(n.ConfigNamespace, "config")); err != nil {
			return nil, fmt.Errorf("nacos %s: config client: %w", n.Server, err)
		}
	}
	for i, ci := range n.Imports {
		if err := d.importConfig(i, ci); err != nil {
			return nil, err
		}
	}
	d.refresh()
	ok = true
	return d, nil
}

// importConfig reads one import and listens to it when it refreshes.
func (d *discovery) importConfig(i int, ci ConfigImport) error {
	content, err := d.config.GetConfig(vo.ConfigParam{DataId: ci.DataID, Group: ci.Group})
	switch {
	case err != nil && !ci.Optional:
		return fmt.Errorf("config import %s: %w", ci, err)
	case err != nil:
		d.log.Warn("nacos: optional config import not read", "import", ci.String(), "err", err)
	case content == "" && !ci.Optional:
		// The SDK answers a configuration that does not exist with "".
		return fmt.Errorf("config import %s: the configuration does not exist in Nacos (namespace %q); write optional:nacos:... to start without it",
			ci, d.opts.ConfigNamespace)
	}
	d.setContent(i, ci, content)
	if !ci.Refresh {
		return nil
	}
	err = d.config.ListenConfig(vo.ConfigParam{DataId: ci.DataID, Group: ci.Group, OnChange: func(_, _, _, data string) {
		d.setContent(i, ci, data)
		d.refresh()
	}})
	if err != nil {
		return fmt.Errorf("config import %s: listen: %w", ci, err)
	}
	return nil
}

// setContent parses an import's document; "" is no properties (the
// configuration does not exist, or was deleted).
func (d *discovery) setContent(i int, ci ConfigImport, content string) {
	props := map[string]string{}
	if content != "" {
		format := springprops.FormatOf(ci.DataID)
		if format == "" {
			format = springprops.Properties // Spring Cloud Alibaba's default file-extension
		}
		var err error
		if props, err = springprops.Parse([]byte(content), format); err != nil {
			d.log.Warn("nacos: config import does not parse; its previous values stay", "import", ci.String(), "err", err)
			return
		}
	}
	d.mu.Lock()
	d.props[i] = props
	d.mu.Unlock()
}

// refresh recomputes where the configuration points each upstream service,
// from the imports merged in order (a later one wins, as in Spring Boot)
// under the environment, and logs what changed.
func (d *discovery) refresh() {
	d.mu.Lock()
	merged := map[string]string{}
	for _, p := range d.props {
		maps.Copy(merged, p)
	}
	d.mu.Unlock()
	next := map[string]string{}
	for _, s := range d.services {
		if v, key := override(merged, d.opts.Env, s); v != "" {
			if _, err := overrideURL(v, "/"); err != nil {
				d.log.Warn("nacos: ignoring a client url", "service", s, "property", key, "value", v, "err", err)
				continue
			}
			next[s] = v
		}
	}
	prev := d.overrides.Swap(&next)
	for _, s := range d.services {
		if was, now := (*prev)[s], next[s]; was != now {
			where := "instances from Nacos"
			if now != "" {
				where = now
			}
			d.log.Info("nacos: upstream client refreshed", "service", s, "calls", where)
		}
	}
}

// resolve is where a call to lb://service + u's path goes: the configured
// url when the configuration points the client there (sidecar false: the
// ordinary proxy rules apply), else a healthy enabled instance from Nacos
// by the client's weighted random choice, called at its IP and port
// (sidecar true: through the sidecar, whatever NO_PROXY says).
func (d *discovery) resolve(service string, u *url.URL) (target *url.URL, sidecar bool, err error) {
	if base := (*d.overrides.Load())[service]; base != "" {
		target, err = overrideURL(base, u.RequestURI())
		return target, false, err
	}
	in, err := d.naming.SelectOneHealthyInstance(vo.SelectOneHealthInstanceParam{ServiceName: service, GroupName: d.opts.Group})
	if err != nil {
		return nil, false, fmt.Errorf("no healthy instance of %s in Nacos (group %s): %w", service, d.opts.Group, err)
	}
	t := *u
	t.Scheme, t.Host = "http", net.JoinHostPort(in.Ip, strconv.FormatUint(in.Port, 10))
	return &t, true, nil
}

// register registers the app, an ephemeral instance the client keeps alive
// over its gRPC connection, as Spring Cloud Alibaba's NacosServiceRegistry
// does once the web server listens.
func (d *discovery) register(port int, version string) error {
	p := vo.RegisterInstanceParam{
		Ip: d.opts.IP, Port: uint64(port), ServiceName: d.opts.Service, GroupName: d.opts.Group, ClusterName: "DEFAULT",
		Weight: 1, Enable: true, Healthy: true, Ephemeral: true,
		Metadata: map[string]string{"version": version, "preserved.register.source": "SPRING_CLOUD"},
	}
	if ok, err := d.naming.RegisterInstance(p); err != nil || !ok {
		return fmt.Errorf("nacos %s: register %s %s:%d: %v", d.opts.Server, d.opts.Service, d.opts.IP, port, errOr(err, "refused"))
	}
	d.registered = &p
	return nil
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}

// close deregisters (when asked: a graceful stop; a killed app leaves it to
// the server, which drops an ephemeral instance whose connection closed),
// stops listening, closes the clients and removes the client's files.
func (d *discovery) close(deregister bool) {
	if d.naming != nil {
		if p := d.registered; p != nil && deregister {
			_, err := d.naming.DeregisterInstance(vo.DeregisterInstanceParam{Ip: p.Ip, Port: p.Port, Cluster: p.ClusterName,
				ServiceName: p.ServiceName, GroupName: p.GroupName, Ephemeral: true})
			if err != nil {
				d.log.Warn("nacos: deregister", "service", p.ServiceName, "err", err)
			}
		}
		d.naming.CloseClient()
	}
	if d.config != nil {
		for _, ci := range d.opts.Imports {
			_ = d.config.CancelListenConfig(vo.ConfigParam{DataId: ci.DataID, Group: ci.Group})
		}
		d.config.CloseClient()
	}
	if d.dir != nil {
		d.dir.release()
	}
}

// closeIf is close on a discovery that may be nil (no Nacos mode).
func (d *discovery) closeIf(deregister bool) {
	if d != nil {
		d.close(deregister)
	}
}

// sdkParam is the official client's configuration: its cache and log
// files in the process's temporary folder for the SDK.
func (d *discovery) sdkParam(namespace, kind string) vo.NacosClientParam {
	hostport := strings.TrimPrefix(strings.TrimPrefix(d.opts.Server, "http://"), "https://")
	host, portText, _ := net.SplitHostPort(hostport) // checked by loadNacos
	port, _ := strconv.ParseUint(portText, 10, 64)
	return vo.NacosClientParam{
		ClientConfig: &constant.ClientConfig{
			NamespaceId: namespace, AppName: d.opts.Service, TimeoutMs: 5000,
			NotLoadCacheAtStart: true, UpdateCacheWhenEmpty: true, DisableUseSnapShot: true,
			CacheDir: filepath.Join(d.dir.cache, kind), LogDir: d.dir.log, LogLevel: "warn",
			Username: d.opts.Username, Password: d.opts.Password,
		},
		// GrpcPort 0: the port + 1000, as Nacos 2.x clients assume.
		ServerConfigs: []constant.ServerConfig{{IpAddr: host, Port: port, ContextPath: "/nacos", Scheme: "http"}},
	}
}

// The SDK writes cache and log files; its logger is one per process (each
// new client re-points it). So the clients of a process share one
// temporary folder - the log there, a cache folder per client - removed
// when the last client closes; the logger is then silenced so that it does
// not create the folder again.
var sdkFiles struct {
	mu    sync.Mutex
	base  string
	users int
	seq   int
}

type sdkDir struct {
	log, cache string
	once       sync.Once
}

func acquireSDKDir() (*sdkDir, error) {
	sdkFiles.mu.Lock()
	defer sdkFiles.mu.Unlock()
	if sdkFiles.base == "" {
		base, err := os.MkdirTemp("", "graylane-nacos-sdk-")
		if err != nil {
			return nil, fmt.Errorf("nacos client files: %w", err)
		}
		sdkFiles.base = base
	}
	sdkFiles.users++
	sdkFiles.seq++
	return &sdkDir{log: filepath.Join(sdkFiles.base, "log"), cache: filepath.Join(sdkFiles.base, "cache-"+strconv.Itoa(sdkFiles.seq))}, nil
}

func (s *sdkDir) release() {
	s.once.Do(func() {
		sdkFiles.mu.Lock()
		defer sdkFiles.mu.Unlock()
		_ = os.RemoveAll(s.cache)
		if sdkFiles.users--; sdkFiles.users == 0 {
			logger.SetLogger(quietLogger{})
			_ = os.RemoveAll(sdkFiles.base)
			sdkFiles.base = ""
		}
	})
}

// quietLogger discards the SDK's log.
type quietLogger struct{}

func (quietLogger) Info(...any)           {}
func (quietLogger) Warn(...any)           {}
func (quietLogger) Error(...any)          {}
func (quietLogger) Debug(...any)          {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Debugf(string, ...any) {}

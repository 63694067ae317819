package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"

	"github.com/graylane/graylane/internal/judge"
	"github.com/graylane/graylane/internal/route"
)

// reachTimeout bounds the look-up and the connection attempt that decide
// whether a Prometheus address is reachable from this machine.
const reachTimeout = 2 * time.Second

// localizeMetrics points the Prometheus addresses of a run's metrics (the
// prometheus provider's address, the graylane.io/judge plugin's address)
// at the Prometheus analysis uses here when they name an in-cluster
// Prometheus that cannot be reached from this machine (see
// localPrometheus), so templates written for a cluster run unchanged.
// Each such address is logged once.
func (r *Runtime) localizeMetrics(ctx context.Context, ns string, metrics []rolloutsv1alpha1.Metric) {
	decided := map[string]string{}
	local := func(addr string) string {
		if out, ok := decided[addr]; ok {
			return out
		}
		out, why := r.localPrometheus(ctx, ns, addr)
		if out != addr {
			r.noteOnce("prometheus address "+addr, "analysis: prometheus address %s names an in-cluster Prometheus that %s: its queries go to %s (the Prometheus analysis uses here)", addr, why, out)
		}
		decided[addr] = out
		return out
	}
	for i := range metrics {
		p := &metrics[i].Provider
		if p.Prometheus != nil && p.Prometheus.Address != "" {
			p.Prometheus.Address = local(p.Prometheus.Address)
		}
		raw, ok := p.Plugin[judge.PluginName]
		if !ok {
			continue
		}
		var cfg map[string]json.RawMessage
		var addr string
		if json.Unmarshal(raw, &cfg) != nil || json.Unmarshal(cfg["address"], &addr) != nil || addr == "" {
			continue // the judge reports a bad configuration itself
		}
		if out := local(addr); out != addr {
			cfg["address"], _ = json.Marshal(out)
			b, err := json.Marshal(cfg)
			if err != nil {
				continue
			}
			p.Plugin = maps.Clone(p.Plugin)
			p.Plugin[judge.PluginName] = b
		}
	}
}

// localPrometheus decides where a Prometheus address is queried from this
// machine. An address is used as given unless all of these hold:
//
//   - its host has an in-cluster form (see inClusterHost): name.ns,
//     name.ns.svc or name.ns.svc.DOMAIN;
//   - it is not a Service of this runtime (those are reached through it);
//   - it does not resolve, or nothing accepts a connection at its port,
//     within reachTimeout.
//
// Then the Prometheus analysis uses here answers instead: the embedded one,
// or --prometheus. why says what failed.
func (r *Runtime) localPrometheus(ctx context.Context, ns, addr string) (out, why string) {
	target := r.prometheusAddress()
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || target == "" || strings.TrimRight(addr, "/") == strings.TrimRight(target, "/") {
		return addr, ""
	}
	host := u.Hostname()
	if !inClusterHost(host) || serviceFQDN(r.cfg.Load(), host, ns) != "" {
		return addr, ""
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil {
		return target, "does not resolve here (" + err.Error() + ")"
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return target, "does not answer here (" + err.Error() + ")"
	}
	c.Close()
	return addr, ""
}

// inClusterHost reports whether a host name has the form of a Kubernetes
// Service name as a pod resolves it: name.namespace, name.namespace.svc or
// name.namespace.svc.CLUSTER-DOMAIN (each part a DNS label). A single name
// and IP addresses do not.
func inClusterHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if net.ParseIP(h) != nil {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if !dnsLabel(l) {
			return false
		}
	}
	return len(labels) == 2 || (len(labels) >= 3 && labels[2] == "svc")
}

func dnsLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// serviceFQDN is the Service of the runtime a host names, as a pod in
// namespace ns resolves it (name, name.ns, name.ns.svc,
// name.ns.svc.cluster.local), or "".
func serviceFQDN(cfg *config, host, ns string) string {
	if cfg == nil {
		return ""
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	var fqdn string
	switch n := strings.Count(h, "."); {
	case strings.HasSuffix(h, "."+route.ClusterDomain):
		fqdn = h
	case strings.HasSuffix(h, ".svc"):
		fqdn = h + ".cluster.local"
	case n == 1:
		fqdn = h + "." + route.ClusterDomain
	case n == 0:
		fqdn = h + "." + ns + "." + route.ClusterDomain
	}
	if cfg.services[fqdn] == nil {
		return ""
	}
	return fqdn
}

// analysisClient is the HTTP client of an analysis run: a URL that names a
// Service of the runtime (e.g. the web probe of
// http://order-canary.shop.svc.cluster.local:8080/health) reaches one of
// its ready pods, as a request from the Argo Rollouts controller reaches
// the Service's endpoints on a cluster; other URLs are dialled as given
// (through the proxy the environment names, if any).
// Connections are not reused, so every request sees the Service's pods as
// they are (a canaryService switches to the canary during the run).
func (r *Runtime) analysisClient(ns string) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		DisableKeepAlives: true,
		Proxy: func(req *http.Request) (*url.URL, error) {
			if serviceFQDN(r.cfg.Load(), req.URL.Hostname(), ns) != "" {
				return nil, nil
			}
			return http.ProxyFromEnvironment(req)
		},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				cfg := r.cfg.Load()
				if fqdn := serviceFQDN(cfg, host, ns); fqdn != "" {
					p := cfg.endpoints(fqdn, "", nil).pick(nil)
					if p == nil {
						return nil, fmt.Errorf("service %s has no ready endpoint", fqdn)
					}
					addr = p.addr
				}
			}
			return d.DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr}
}

package route

import (
	"net"
	"strings"
)

// ClusterDomain is the DNS suffix of Kubernetes Services.
const ClusterDomain = "svc.cluster.local"

// ResolveHost turns a host as written in an Istio object into the FQDN
// istiod uses: a short name (no dots) is a Service in the object's
// namespace; wildcards, IPs and names with dots are kept.
func ResolveHost(host, namespace string) string {
	host = strings.ToLower(host)
	// A name without a dot can only be an IP address as IPv6 (with ':');
	// checking that first spares net.ParseIP's error allocation.
	if host == "" || host == "*" || strings.Contains(host, ".") || (strings.IndexByte(host, ':') >= 0 && net.ParseIP(host) != nil) {
		return host
	}
	if strings.HasPrefix(host, "*") {
		return host
	}
	return host + "." + namespace + "." + ClusterDomain
}

// ServiceOf splits "name.ns.svc.cluster.local" into name and namespace.
func ServiceOf(fqdn string) (name, ns string, ok bool) {
	rest, found := strings.CutSuffix(fqdn, "."+ClusterDomain)
	if !found {
		return "", "", false
	}
	name, ns, found = strings.Cut(rest, ".")
	if !found || name == "" || ns == "" || strings.Contains(ns, ".") {
		return "", "", false
	}
	return name, ns, true
}

// hostOnly strips the port from an authority and lowercases it. It
// allocates only when the authority has upper-case letters.
func hostOnly(authority string) string {
	h := authority
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// wildcardMatch reports whether host matches pattern, where pattern may be
// "*" or "*.suffix" (any number of labels before the suffix, as Envoy).
func wildcardMatch(pattern, host string) bool {
	if pattern == "*" {
		return true
	}
	if strings.HasPrefix(pattern, "*") {
		suffix := pattern[1:]
		return len(host) > len(suffix) && strings.HasSuffix(host, suffix)
	}
	return pattern == host
}

// hostsIntersect returns the more specific of two hosts when one covers
// the other (Istio's rule for binding a VirtualService host to a Gateway
// server host), or "" when they do not overlap.
func hostsIntersect(a, b string) string {
	switch {
	case a == b:
		return a
	case wildcardMatch(a, b):
		return b
	case wildcardMatch(b, a):
		return a
	case strings.HasPrefix(a, "*") && strings.HasPrefix(b, "*"):
		// *.a.com and *.com: the longer one is covered by the shorter one.
		if strings.HasSuffix(a, b[1:]) {
			return a
		}
		if strings.HasSuffix(b, a[1:]) {
			return b
		}
	}
	return ""
}

// meshAliases are the names a sidecar accepts for a cluster Service FQDN,
// with the namespace a caller must be in to use it ("" = any).
func meshAliases(fqdn string) []hostAlias {
	name, ns, ok := ServiceOf(fqdn)
	if !ok {
		return []hostAlias{{key: fqdn}}
	}
	return []hostAlias{
		{key: fqdn},
		{key: name + "." + ns + ".svc"},
		{key: name + "." + ns},
		{key: name, callerNS: ns},
	}
}

type hostAlias struct {
	key      string
	callerNS string
}

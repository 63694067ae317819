package command

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/route"
)

// RequestOptions describe the request to evaluate, as given on the
// command line.
type RequestOptions struct {
	URL     string
	Method  string
	Headers []string // "Name: value"
	// Gateway is "ns/name" of the ingress gateway, or "" for the mesh.
	Gateway string
	// SourceLabels is "k=v,k=v": the sending workload's pod labels.
	SourceLabels    string
	SourceNamespace string
	// Outbound is the mesh's outbound traffic policy, allow-any or
	// registry-only ("" is allow-any): what a host nothing defines gets.
	Outbound string
}

// OutboundPolicy parses o.Outbound; a bad value is an input error.
func (o RequestOptions) OutboundPolicy() (route.OutboundPolicy, error) {
	if o.Outbound == "" {
		return route.AllowAny, nil
	}
	p, err := route.ParseOutboundPolicy(o.Outbound)
	if err != nil {
		return p, cli.InputErrorf("--outbound-traffic-policy: %v", err)
	}
	return p, nil
}

// BuildRequest parses the options into a route.Request. explicitPort
// tells whether the URL named a port.
func BuildRequest(o RequestOptions) (*route.Request, bool, error) {
	if o.URL == "" {
		return nil, false, cli.InputErrorf("--url is required")
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, false, cli.InputErrorf("--url %q: %v", o.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, false, cli.InputErrorf("--url %q: want an http:// or https:// URL", o.URL)
	}
	if u.Host == "" {
		return nil, false, cli.InputErrorf("--url %q: no host", o.URL)
	}
	r := &route.Request{Authority: u.Host, Path: u.RequestURI(), Method: strings.ToUpper(o.Method), Scheme: u.Scheme, Header: http.Header{}}
	if r.Method == "" {
		r.Method = http.MethodGet
	}
	explicit := u.Port() != ""
	if explicit {
		p, err := strconv.ParseUint(u.Port(), 10, 16)
		if err != nil || p == 0 {
			return nil, false, cli.InputErrorf("--url %q: bad port %q", o.URL, u.Port())
		}
		r.Port = uint32(p)
	}
	for _, h := range o.Headers {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, false, cli.InputErrorf("-H %q: want 'Name: value'", h)
		}
		if strings.EqualFold(k, "host") {
			r.Authority = strings.TrimSpace(v)
			continue
		}
		r.Header.Add(k, strings.TrimSpace(v))
	}
	if o.Gateway != "" && o.Gateway != route.MeshSource {
		ns, name, ok := strings.Cut(o.Gateway, "/")
		if ok && (ns == "" || name == "" || strings.Contains(name, "/")) {
			return nil, false, cli.InputErrorf("--gateway %q: want NAMESPACE/NAME or NAME", o.Gateway)
		}
		// A bare NAME is completed by ResolveGateway once the manifests
		// are loaded.
		r.Source.Gateway = o.Gateway
	}
	labels, err := parseLabels(o.SourceLabels)
	if err != nil {
		return nil, false, err
	}
	r.Source.Labels = labels
	r.Source.Namespace = o.SourceNamespace
	if r.Source.Namespace == "" {
		r.Source.Namespace = "default"
		if ns, _, ok := strings.Cut(r.Source.Gateway, "/"); ok {
			r.Source.Namespace = ns
		}
	}
	return r, explicit, nil
}

// ResolveGateway completes a --gateway given as a bare NAME: the Gateway
// of that name among the manifests, else the one the VirtualServices
// that name it mean (Istio reads a bare gateway name in the
// VirtualService's namespace). Several namespaces are an input error that
// lists them. The source namespace follows the gateway's unless given.
// It returns a finding that says what NAME was taken to be.
func ResolveGateway(t *route.Table, r *route.Request, o RequestOptions) (string, error) {
	name := r.Source.Gateway
	if name == "" || name == route.MeshSource || strings.Contains(name, "/") {
		return "", nil
	}
	nss, loaded := t.GatewayNamespaces(name)
	switch {
	case len(nss) == 0:
		return "", cli.InputErrorf("--gateway %q: no Gateway of that name is among the manifests and no VirtualService names one: give NAMESPACE/NAME", name)
	case len(nss) > 1 && loaded:
		return "", cli.InputErrorf("--gateway %q: Gateways of that name are in namespaces %s: give NAMESPACE/NAME", name, strings.Join(nss, ", "))
	case len(nss) > 1:
		return "", cli.InputErrorf("--gateway %q: no Gateway of that name is among the manifests, and VirtualServices of namespaces %s name one (each means its own namespace's): give NAMESPACE/NAME", name, strings.Join(nss, ", "))
	}
	r.Source.Gateway = nss[0] + "/" + name
	if o.SourceNamespace == "" {
		r.Source.Namespace = nss[0]
	}
	if loaded {
		return fmt.Sprintf("--gateway %s is Gateway %s, the only Gateway of that name among the manifests", name, r.Source.Gateway), nil
	}
	return fmt.Sprintf("--gateway %s is %s: the VirtualServices that name it are in namespace %s (Istio reads a bare gateway name in the VirtualService's namespace); the Gateway itself is not among the manifests", name, r.Source.Gateway, nss[0]), nil
}

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, cli.InputErrorf("--source-labels %q: want k=v,k=v", s)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// GatewayPort fixes the port of a gateway request: the URL's port may be
// a load balancer's or a NodePort, while routing sees the server port.
func GatewayPort(t *route.Table, r *route.Request, explicit bool) string {
	if r.Source.Gateway == "" {
		return ""
	}
	ports, ok := t.GatewayPorts(r.Source.Gateway)
	if !ok || len(ports) == 0 {
		return ""
	}
	want := r.Port
	if want == 0 {
		want = 80
		if r.Scheme == "https" {
			want = 443
		}
	}
	for _, p := range ports {
		if p == want {
			r.Port = want
			return ""
		}
	}
	if len(ports) == 1 {
		r.Port = ports[0]
		what := "the URL's port"
		if !explicit {
			what = "the scheme's default port"
		}
		return fmt.Sprintf("%s %d is not a server port of Gateway %s; evaluated as its only server port %d (a load balancer or NodePort maps to it)", what, want, r.Source.Gateway, ports[0])
	}
	return fmt.Sprintf("port %d is not a server port of Gateway %s (it listens on %v): the gateway would not receive this request", want, r.Source.Gateway, ports)
}

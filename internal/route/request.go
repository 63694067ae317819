package route

import (
	"net/http"
	"strings"
)

// MeshSource is the Source.Gateway value for a request sent by a sidecar
// inside the mesh.
const MeshSource = "mesh"

// Source says who sends a request: a gateway, or a workload in the mesh.
type Source struct {
	// Gateway is "namespace/name" of the ingress gateway the request
	// arrived at, or "" (or MeshSource) for a sidecar in the mesh.
	Gateway string
	// Labels are the sending workload's pod labels (for sourceLabels).
	Labels map[string]string
	// Namespace is the sending workload's namespace. Empty means "default".
	Namespace string
}

// Request is one HTTP request as the proxy sees it.
type Request struct {
	// Authority is the Host header (or :authority), port included if sent.
	Authority string
	// Path is the :path pseudo-header: path plus "?query" if any.
	Path string
	// Method is the HTTP method; empty means GET.
	Method string
	// Scheme is "http" or "https"; empty means http.
	Scheme string
	// Port is the listener port the request arrived on (the service port
	// for the mesh, the server port for a gateway). 0 means the scheme's
	// default.
	Port uint32
	// Header holds the request headers with canonical keys, as net/http
	// produces them. Cookie is an ordinary header here.
	Header http.Header
	Source Source
}

func (r *Request) method() string {
	if r.Method == "" {
		return http.MethodGet
	}
	return r.Method
}

func (r *Request) scheme() string {
	if r.Scheme == "" {
		return "http"
	}
	return r.Scheme
}

func (r *Request) port() uint32 {
	if r.Port != 0 {
		return r.Port
	}
	if r.scheme() == "https" {
		return 443
	}
	return 80
}

func (r *Request) namespace() string {
	if r.Source.Namespace == "" {
		return "default"
	}
	return r.Source.Namespace
}

// pathOnly is the path without query string and fragment.
func (r *Request) pathOnly() string {
	p := r.Path
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if p == "" {
		return "/"
	}
	return p
}

func (r *Request) fullPath() string {
	if r.Path == "" {
		return "/"
	}
	return r.Path
}

func (r *Request) rawQuery() string {
	p := r.Path
	i := strings.IndexByte(p, '?')
	if i < 0 {
		return ""
	}
	q := p[i+1:]
	if j := strings.IndexByte(q, '#'); j >= 0 {
		q = q[:j]
	}
	return q
}

// header returns the value of a header the way Envoy presents it to a
// matcher: several values are joined with "," ("; " for cookie). Only the
// several-values case allocates.
func (r *Request) header(canonical string, cookie bool) (string, bool) {
	switch canonical {
	case ":Authority", "Host":
		return r.Authority, r.Authority != ""
	case ":Path":
		return r.fullPath(), true
	case ":Method":
		return r.method(), true
	case ":Scheme":
		return r.scheme(), true
	}
	vs, ok := r.Header[canonical]
	if !ok || len(vs) == 0 {
		return "", false
	}
	if len(vs) == 1 {
		return vs[0], true
	}
	sep := ","
	if cookie {
		sep = "; "
	}
	return strings.Join(vs, sep), true
}

// queryParam returns the first raw (undecoded) value of a query parameter,
// as Envoy's query parameter matcher sees it.
func queryParam(rawQuery, name string) (string, bool) {
	for rawQuery != "" {
		var part string
		if i := strings.IndexByte(rawQuery, '&'); i >= 0 {
			part, rawQuery = rawQuery[:i], rawQuery[i+1:]
		} else {
			part, rawQuery = rawQuery, ""
		}
		k, v, _ := strings.Cut(part, "=")
		if k == name {
			return v, true
		}
	}
	return "", false
}

package route

import (
	"maps"
	"slices"

	networking "istio.io/api/networking/v1alpha3"
)

// Reason says how an evaluation ended.
type Reason int

// Reasons.
const (
	// Matched: a route matched; see Result.Route.
	Matched Reason = iota
	// Passthrough: no VirtualService for the host (mesh only); the request
	// goes to the host itself.
	Passthrough
	// NoVirtualHost: a gateway has no VirtualService for the host (404).
	NoVirtualHost
	// NoRoute: a VirtualService owns the host but none of its routes match (404).
	NoRoute
	// HTTPSRedirect: a plain-HTTP request to a gateway server with
	// tls.httpsRedirect: Envoy answers 301 to the https URL. Route holds
	// that redirect (Scheme https); it belongs to no VirtualService.
	HTTPSRedirect
)

var reasonNames = [...]string{"matched", "passthrough", "no virtual host", "no route", "https redirect"}

func (r Reason) String() string { return reasonNames[r] }

// MarshalText prints a Reason as its name.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Result is the outcome of one evaluation. Its pointers refer to the
// compiled Table and must not be modified.
type Result struct {
	// Status is the HTTP status the proxy would produce before any
	// upstream answers: 200 when forwarded, 404 for no route, 503 when a
	// weighted destination has no healthy upstream (missing subset), the
	// redirect code, or the direct response status.
	Status int
	Reason Reason
	// VirtualHost is the host entry that matched the request's authority.
	VirtualHost *VirtualHost
	// Route is the matched route (nil unless Reason is Matched).
	Route *Route
	// Match is the index of the match block that matched in the route's
	// match list (after delegate merging); -1 for a catch-all route.
	Match int
	// Host is the request host the lookup used (port stripped, lower case).
	Host string
}

// VirtualHost is what Envoy calls a virtual host: one host name (or
// wildcard) on one source, with its ordered routes.
type VirtualHost struct {
	// Host is the configured host (FQDN, wildcard or IP).
	Host string `json:"host"`
	// VirtualServices are "ns/name" of the VirtualServices whose routes are
	// here, in order (several only on gateways, where istiod merges them).
	VirtualServices []string `json:"virtualServices"`
	// Findings are problems about this host on this source (conflicts).
	Findings []Finding `json:"findings,omitempty"`
	routes   []boundRoute
	steps    []step
	public   bool // the first VirtualService is exported to every namespace
}

type boundRoute struct {
	route   *Route
	matches []*match // nil: catch-all
	origIdx []int    // index of each kept match in route.Matches
}

// Destination is one weighted destination of a route.
type Destination struct {
	// Host is the destination host as a FQDN.
	Host   string `json:"host"`
	Subset string `json:"subset,omitempty"`
	// Port is the destination port: the one written in the route, else the
	// Service's only port; 0 means "the port the request came in on".
	Port uint32 `json:"port,omitempty"`
	// Weight is the weight as written (100 for a single destination
	// without one).
	Weight int32 `json:"weight"`
	// Percent is the share of the route's requests this destination gets,
	// weight/sum*100 (100 for a single destination, whatever its weight).
	// It is set only when the weights do not sum to 100; otherwise the
	// weight is the percentage.
	Percent float64 `json:"percent,omitempty"`
	// Labels are the subset's pod labels from the DestinationRule.
	Labels map[string]string `json:"labels,omitempty"`
	// DestinationRule is "ns/name" of the rule that defined the subset.
	DestinationRule string `json:"destinationRule,omitempty"`
	// Problem is why this destination cannot be served ("" when fine);
	// requests sent to it get 503.
	Problem string `json:"problem,omitempty"`
	// ServiceEntry ("namespace/name") and Endpoints are set by reports
	// for a ServiceEntry host: the entry, and the addresses its cluster
	// sends the request to (External.Endpoints). Not set by Compile.
	ServiceEntry    string     `json:"serviceEntry,omitempty"`
	Endpoints       []string   `json:"endpoints,omitempty"`
	RequestHeaders  *HeaderOps `json:"requestHeaders,omitempty"`
	ResponseHeaders *HeaderOps `json:"responseHeaders,omitempty"`
}

// HeaderOps are header manipulations.
type HeaderOps struct {
	Set    map[string]string `json:"set,omitempty"`
	Add    map[string]string `json:"add,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// Redirect is an HTTPRedirect as configured.
type Redirect struct {
	URI        string `json:"uri,omitempty"`
	Authority  string `json:"authority,omitempty"`
	Scheme     string `json:"scheme,omitempty"`
	Port       uint32 `json:"port,omitempty"`
	DerivePort string `json:"derivePort,omitempty"`
	Code       int    `json:"code"`
}

// DirectResponse is an HTTPDirectResponse as configured.
type DirectResponse struct {
	Status int    `json:"status"`
	Body   string `json:"body,omitempty"`
}

// Rewrite is an HTTPRewrite as configured.
type Rewrite struct {
	URI             string `json:"uri,omitempty"`
	Authority       string `json:"authority,omitempty"`
	URIRegexMatch   string `json:"uriRegexMatch,omitempty"`
	URIRegexRewrite string `json:"uriRegexRewrite,omitempty"`
}

// Route is one compiled HTTP route.
type Route struct {
	// VirtualService is "ns/name" of the VirtualService bound to the host.
	VirtualService string
	// Delegate is "ns/name" of the delegate VirtualService that wrote the
	// route, or "".
	Delegate string
	// Index is the route's index in spec.http of the object that wrote it
	// (the delegate when there is one); RootIndex is the index of the
	// delegating route in the root.
	Index, RootIndex int
	// Name is the route name (root-delegate names joined with "-", as istiod).
	Name string
	// Where is "file:line" of the route.
	Where           string
	Destinations    []Destination
	RequestHeaders  *HeaderOps
	ResponseHeaders *HeaderOps
	Redirect        *Redirect
	DirectResponse  *DirectResponse
	Rewrite         *Rewrite
	// Status is what a request matching this route gets from the proxy
	// (see Result.Status).
	Status int
	// Findings are problems of this route (missing subsets, ...).
	Findings []Finding
	// NotEvaluated are the located "not evaluated" findings (Info) about
	// what would act on the requests of this route and Graylane does not
	// carry out: CORS, the traffic policies (and TLS origination) of the
	// DestinationRules its destinations use.
	NotEvaluated []Finding
	// MatchNames are the names of the route's match blocks ("" if unnamed).
	MatchNames []string
	// Policy is the route's timeout and retry policy (retry.go).
	Policy Policy
	// Fault is the route's fault injection (fault.go), nil without one.
	Fault *Fault
	// Mirrors are where copies of the route's requests go (mirror.go).
	Mirrors []Mirror
	cum     []uint32
	path    *pathRewrite
	// variants are this route as callers of some namespaces see it, when
	// their DestinationRule lookup differs (Istio looks in the caller's
	// namespace first); Evaluate picks the caller's.
	variants map[string]*Route
}

// TotalWeight is the sum of the destinations' weights: the range Pick
// draws from. It is 0 for a route without destinations.
func (r *Route) TotalWeight() uint32 {
	if len(r.cum) == 0 {
		return 0
	}
	return r.cum[len(r.cum)-1]
}

// Pick returns the index of the destination chosen by x, a number drawn
// uniformly from [0, TotalWeight()): each destination gets weight/sum of
// the requests, as Envoy's weighted clusters. It returns -1 for routes
// without destinations and for x out of range.
func (r *Route) Pick(x uint32) int {
	for i, c := range r.cum {
		if x < c {
			return i
		}
	}
	return -1
}

func headerOps(op *networking.Headers_HeaderOperations) *HeaderOps {
	if op == nil || (len(op.GetSet()) == 0 && len(op.GetAdd()) == 0 && len(op.GetRemove()) == 0) {
		return nil
	}
	return &HeaderOps{Set: maps.Clone(op.GetSet()), Add: maps.Clone(op.GetAdd()), Remove: slices.Clone(op.GetRemove())}
}

func redirectOf(r *networking.HTTPRedirect) *Redirect {
	if r == nil {
		return nil
	}
	out := &Redirect{URI: r.GetUri(), Authority: r.GetAuthority(), Scheme: r.GetScheme(), Port: r.GetPort(), Code: int(r.GetRedirectCode())}
	if r.GetRedirectPort() != nil {
		if _, ok := r.GetRedirectPort().(*networking.HTTPRedirect_DerivePort); ok {
			out.DerivePort = r.GetDerivePort().String()
		}
	}
	if out.Code == 0 {
		out.Code = 301
	}
	return out
}

func directResponseOf(d *networking.HTTPDirectResponse) *DirectResponse {
	if d == nil {
		return nil
	}
	out := &DirectResponse{Status: int(d.GetStatus())}
	if b := d.GetBody(); b != nil {
		if s := b.GetString_(); s != "" {
			out.Body = s
		} else {
			out.Body = string(b.GetBytes())
		}
	}
	return out
}

func rewriteOf(r *networking.HTTPRewrite) *Rewrite {
	if r == nil {
		return nil
	}
	out := &Rewrite{URI: r.GetUri(), Authority: r.GetAuthority()}
	if rr := r.GetUriRegexRewrite(); rr != nil {
		out.URIRegexMatch, out.URIRegexRewrite = rr.GetMatch(), rr.GetRewrite()
	}
	return out
}

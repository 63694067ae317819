package command

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/cli/load"
	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/rollouttraffic"
	"github.com/graylane/graylane/internal/route"
	"github.com/graylane/graylane/internal/simulate"
)

// RouteOptions are the options of `graylane route`.
type RouteOptions struct {
	Files   []string
	Request RequestOptions
	Output  string
	// RolloutSteps are --rollout-step values (rollouttraffic.AtSteps).
	RolloutSteps []string
}

// RouteReport is the result of `graylane route`; its JSON form is a
// documented contract (docs/route.md).
type RouteReport struct {
	Status         int            `json:"status"`
	Reason         string         `json:"reason"`
	Request        RequestSummary `json:"request"`
	VirtualService *string        `json:"virtualService"`
	Delegate       *string        `json:"delegate"`
	RouteIndex     *int           `json:"routeIndex"`
	RootRouteIndex *int           `json:"rootRouteIndex,omitempty"`
	RouteName      string         `json:"routeName"`
	// Lane is the lane entry decision at the gateway, when lanes exist.
	Lane           *lane.Decision      `json:"lane,omitempty"`
	MatchIndex     *int                `json:"matchIndex,omitempty"`
	Where          string              `json:"where,omitempty"`
	Destinations   []route.Destination `json:"destinations"`
	RequestHeaders route.HeaderOps     `json:"requestHeaders"`
	// ResponseHeaders, Redirect, DirectResponse and Rewrite are reported
	// when the matched route has them.
	ResponseHeaders *route.HeaderOps      `json:"responseHeaders,omitempty"`
	Redirect        *route.Redirect       `json:"redirect,omitempty"`
	DirectResponse  *route.DirectResponse `json:"directResponse,omitempty"`
	Rewrite         *route.Rewrite        `json:"rewrite,omitempty"`
	// Location is the https URL of a gateway's tls.httpsRedirect answer.
	Location string `json:"location,omitempty"`
	// UpstreamPath is the path and query the destination sees when the
	// route rewrites them (rewrite.uri swaps the matched prefix only).
	UpstreamPath string `json:"upstreamPath,omitempty"`
	// Fault is the route's fault injection; an abort of 100% of the
	// requests is also the status.
	Fault *route.Fault `json:"fault,omitempty"`
	// Mirrors are where copies of the request go (fire and forget).
	Mirrors  []route.Mirror `json:"mirrors,omitempty"`
	Findings []string       `json:"findings"`
	// RolloutSteps are the --rollout-step states applied.
	RolloutSteps []rollouttraffic.Step `json:"rolloutSteps,omitempty"`
	// noCluster marks the destinations Envoy has no cluster for.
	noCluster map[int]bool
}

// RequestSummary echoes the evaluated request.
type RequestSummary struct {
	Method          string            `json:"method"`
	URL             string            `json:"url"`
	Host            string            `json:"host"`
	Port            uint32            `json:"port"`
	Gateway         string            `json:"gateway"`
	SourceLabels    map[string]string `json:"sourceLabels,omitempty"`
	SourceNamespace string            `json:"sourceNamespace"`
}

// Route evaluates one request against the manifests and writes the report.
func Route(_ context.Context, o RouteOptions, stdout, stderr io.Writer) error {
	if err := cli.CheckFormat(o.Output); err != nil {
		return err
	}
	req, explicit, err := BuildRequest(o.Request)
	if err != nil {
		return err
	}
	set, err := load.Load(o.Files, stderr, manifest.DoingRoute, nil)
	if err != nil {
		return err
	}
	lanes, err := expand.Manifests(set)
	if err != nil {
		return &cli.InputError{Err: err}
	}
	set = lanes.Set
	var decision *lane.Decision
	if gw := req.Source.Gateway; lanes.Entry != nil && gw != "" && gw != route.MeshSource {
		// One request: an anonymous one is reported as not entering.
		d := lanes.Entry.Apply(req.Header, 1, nil, time.Now())
		decision = &d
	}
	in := expand.RouteInput(set)
	if in.Outbound, err = o.Request.OutboundPolicy(); err != nil {
		return err
	}
	placed, err := expand.AtRolloutSteps(set, &in, o.RolloutSteps)
	if err != nil {
		return &cli.InputError{Err: err}
	}
	t := route.Compile(in)
	note, err := ResolveGateway(t, req, o.Request)
	if err != nil {
		return err
	}
	rep := Evaluate(t, req, explicit)
	svcs, workloads := expand.StepInventory(set, in, placed, "")
	rep.markNoPods(svcs, workloads)
	if len(placed) > 0 {
		rep.RolloutSteps, rep.Findings = rollouttraffic.Steps(placed), append(rollouttraffic.Notes(placed), rep.Findings...)
	}
	if note != "" {
		rep.Findings = append([]string{note}, rep.Findings...)
	}
	rep.Lane = decision
	rep.Request.URL = o.Request.URL
	return cli.Write(stdout, o.Output, rep, func(w io.Writer) error { return rep.text(w) })
}

// Evaluate runs one request through a compiled table and reports it.
func Evaluate(t *route.Table, req *route.Request, explicitPort bool) *RouteReport {
	var findings []string
	if note := GatewayPort(t, req, explicitPort); note != "" {
		findings = append(findings, note)
	}
	if req.Port == 0 {
		req.Port = 80
		if req.Scheme == "https" {
			req.Port = 443
		}
	}
	res := t.Evaluate(req)
	gw := req.Source.Gateway
	if gw == "" {
		gw = route.MeshSource
	}
	rep := &RouteReport{
		Status: res.Status, Reason: res.Reason.String(), Destinations: []route.Destination{},
		Request: RequestSummary{Method: req.Method, Host: res.Host, Port: req.Port, Gateway: gw,
			SourceLabels: req.Source.Labels, SourceNamespace: req.Source.Namespace},
	}
	if l4, ok := t.L4(req); ok {
		// TCP/TLS routes decide, and Graylane does not evaluate them: no
		// HTTP answer is made up.
		rep.Status, rep.Reason = 0, NotEvaluated
		for _, f := range t.NotEvaluated(req, route.Result{Reason: route.NoVirtualHost}) {
			if f != l4 {
				findings = append(findings, f.String())
			}
		}
		rep.Findings = append(findings, l4.String())
		return rep
	}
	objects := []string{}
	if vh := res.VirtualHost; vh != nil {
		for _, f := range vh.Findings {
			findings = append(findings, f.String())
		}
		for _, vs := range vh.VirtualServices {
			objects = append(objects, "VirtualService "+vs)
		}
	}
	switch res.Reason {
	case route.Passthrough:
		findings = append(findings, rep.passthrough(t, req, res)...)
	case route.NoVirtualHost:
		findings = append(findings, fmt.Sprintf("no VirtualService bound to gateway %s serves host %s: Envoy answers 404", gw, res.Host))
	case route.NoRoute:
		findings = append(findings, fmt.Sprintf("VirtualService %s owns host %s but none of its routes match: Envoy answers 404 (no route is invented)",
			strings.Join(res.VirtualHost.VirtualServices, ", "), res.Host))
	case route.Matched:
		findings = append(findings, rep.fillRoute(t, res, req)...)
		if res.Route.Delegate != "" {
			objects = append(objects, "VirtualService "+res.Route.Delegate)
		}
	case route.HTTPSRedirect:
		rep.Redirect, rep.Where = res.Route.Redirect, res.Route.Where
		rep.Location = res.Route.Redirect.Location(req.Authority, req.Path)
		for _, f := range res.Route.Findings {
			findings = append(findings, f.String())
		}
	}
	for _, f := range t.RejectedFor(req) {
		findings = append(findings, f.String())
	}
	for _, f := range t.FindingsFor(objects...) {
		if f.Severity >= route.Warning && !slices.Contains(findings, f.String()) {
			findings = append(findings, f.String())
		}
	}
	for _, f := range t.NotEvaluated(req, res) {
		if !slices.Contains(findings, f.String()) {
			findings = append(findings, f.String())
		}
	}
	rep.Findings = append([]string{}, findings...)
	return rep
}

// passthrough reports a request no VirtualService routes on the mesh, as
// route.Table.Hop decides it: to the Service of its host; to the
// endpoints of a ServiceEntry's host (leaving the mesh); to the host
// itself when nothing defines it (PassthroughCluster, outbound policy
// allow-any), or 502 (registry-only).
func (rep *RouteReport) passthrough(t *route.Table, req *route.Request, res route.Result) []string {
	hp := t.Hop(req, &res, route.Certain)
	d := route.Destination{Host: hp.Host, Port: hp.Port, Weight: 100}
	var findings []string
	switch {
	case hp.Outcome == route.Blocked:
		rep.Status = hp.Status
		findings = append(findings, fmt.Sprintf("no VirtualService for this host on the mesh, and %s is neither a Service nor a ServiceEntry host: with outbound traffic policy registry-only the sidecar answers 502 (BlackHoleCluster)", hp.Host))
	case hp.External != nil:
		msg := "no VirtualService for this host on the mesh: it is a ServiceEntry host, the request leaves the mesh"
		if f := leaveTo(hp.External, req, &d); f != "" {
			msg, rep.Status = f, http.StatusServiceUnavailable
		}
		findings = append(findings, msg)
	case hp.Passthrough:
		findings = append(findings, fmt.Sprintf("no VirtualService for this host on the mesh, and %s is neither a Service nor a ServiceEntry host among the inputs: the request goes to the address the client named (PassthroughCluster, outbound traffic policy allow-any)", hp.Host))
	default:
		findings = append(findings, "no VirtualService for this host on the mesh: the request goes to the host itself")
	}
	rep.Destinations = append(rep.Destinations, d)
	return findings
}

// leaveTo fills d, a destination that is ServiceEntry x's host, with the
// entry and its endpoints for d's port and subset; it returns the
// problem when there are none (Envoy: 503 no healthy upstream), "".
func leaveTo(x *route.External, req *route.Request, d *route.Destination) string {
	d.ServiceEntry = x.ServiceEntry
	for _, e := range x.Endpoints(req.Authority, d.Port, d.Labels) {
		d.Endpoints = append(d.Endpoints, e.Address)
	}
	if len(d.Endpoints) > 0 {
		return ""
	}
	d.Problem = fmt.Sprintf("no endpoint of ServiceEntry %s (resolution %s) carries the labels of subset %q: Envoy answers 503 no healthy upstream", x.ServiceEntry, x.Resolution, d.Subset)
	return d.Problem
}

// markNoPods marks the destinations no loaded pod can serve, as
// simulate and graylane up find them: the workloads behind the host's
// Service are loaded, but none with replicas carries the subset's labels
// (Istio: 503 no healthy upstream). A Service with no loaded workload
// behind it at all (a StatefulSet, or manifests given in part) is not
// judged.
func (rep *RouteReport) markNoPods(svcs []simulate.Service, workloads []simulate.Workload) {
	for i := range rep.Destinations {
		d := &rep.Destinations[i]
		if d.Problem != "" || rep.noCluster[i] {
			continue
		}
		if simulate.NoPods(svcs, workloads, d.Host, nil) != "" {
			continue // nothing behind the Service is loaded: not known here
		}
		p := simulate.NoPods(svcs, workloads, d.Host, d.Labels)
		if p == "" {
			continue
		}
		d.Problem = p
		rep.Findings = append(rep.Findings, fmt.Sprintf("destination %d: %s", i, p))
		if d.Weight > 0 && rep.Status == http.StatusOK {
			rep.Status = http.StatusServiceUnavailable
		}
	}
}

// NotEvaluated is the reason of a request on a TCP/TLS port (RouteReport).
const NotEvaluated = "not evaluated"

// fillRoute reports the matched route; it returns the findings of the
// hops to its destinations (a destination without a cluster).
func (rep *RouteReport) fillRoute(t *route.Table, res route.Result, req *route.Request) (findings []string) {
	rt := res.Route
	vs, idx, name := rt.VirtualService, rt.Index, rt.Name
	rep.VirtualService, rep.RouteIndex, rep.RouteName, rep.Where = &vs, &idx, name, rt.Where
	if rt.Delegate != "" {
		d, root := rt.Delegate, rt.RootIndex
		rep.Delegate, rep.RootRouteIndex = &d, &root
	}
	if res.Match >= 0 {
		m := res.Match
		rep.MatchIndex = &m
	}
	for i, d := range rt.Destinations {
		// The hop to each destination: its port, and no cluster for it
		// when the Service lacks that port (whatever the route's fault).
		port, problem, x := t.Upstream(req, &d)
		d.Port = port
		if x != nil && problem == "" && d.Problem == "" {
			if f := leaveTo(x, req, &d); f != "" {
				findings = append(findings, fmt.Sprintf("destination %d: %s", i, f))
				if d.Weight > 0 && rep.Status == http.StatusOK {
					rep.Status = http.StatusServiceUnavailable
				}
			}
		}
		if problem != "" {
			d.Problem = problem
			findings = append(findings, fmt.Sprintf("destination %d: %s", i, problem))
			if rep.noCluster == nil {
				rep.noCluster = map[int]bool{}
			}
			rep.noCluster[i] = true
			if d.Weight > 0 && rep.Status == http.StatusOK {
				rep.Status = http.StatusServiceUnavailable
			}
		}
		rep.Destinations = append(rep.Destinations, d)
	}
	if rt.RequestHeaders != nil {
		rep.RequestHeaders = *rt.RequestHeaders
	}
	rep.ResponseHeaders, rep.Redirect, rep.DirectResponse, rep.Rewrite = rt.ResponseHeaders, rt.Redirect, rt.DirectResponse, rt.Rewrite
	if rt.Redirect != nil || rt.DirectResponse != nil {
		return findings // answered by the proxy: no fault, mirror or upstream path
	}
	if rw := rt.Rewrite; rw != nil && (rw.URI != "" || rw.URIRegexMatch != "") {
		rep.UpstreamPath = res.UpstreamTarget(req.Path)
	}
	for _, m := range rt.Mirrors {
		m.Port, _, _ = t.Upstream(req, &m.Destination)
		m.Problem = t.MirrorProblem(req, &m)
		rep.Mirrors = append(rep.Mirrors, m)
	}
	if f := rt.Fault; f != nil {
		rep.Fault = f
		// An abort of every request is the status.
		if in := f.Inject(route.Certain.Uint32N(route.FaultDraws), route.Certain.Uint32N(route.FaultDraws)); in.Abort && rep.Status == http.StatusOK {
			rep.Status = in.Status
		}
	}
	return findings
}

func (rep *RouteReport) text(w io.Writer) error {
	var b strings.Builder
	r := rep.Request
	from := "the mesh"
	if r.Gateway != route.MeshSource {
		from = "gateway " + r.Gateway
	}
	fmt.Fprintf(&b, "%s %s from %s (namespace %s%s)\n", r.Method, r.URL, from, r.SourceNamespace, labelsSuffix(r.SourceLabels))
	if d := rep.Lane; d != nil {
		lane := d.Lane
		if lane == "" {
			lane = "none (anonymous requests enter by the lanes' anonymousWeight)"
		}
		fmt.Fprintf(&b, "lane: %s (%s)\n", lane, d.Reason)
	}
	if rep.Reason == NotEvaluated {
		b.WriteString("status: - (not evaluated: TCP/TLS)\n")
	} else {
		fmt.Fprintf(&b, "status: %d (%s)\n", rep.Status, rep.Reason)
	}
	if rep.VirtualService != nil {
		fmt.Fprintf(&b, "virtualService: %s", *rep.VirtualService)
		if rep.Delegate != nil {
			fmt.Fprintf(&b, " -> delegate %s", *rep.Delegate)
		}
		fmt.Fprintf(&b, "\nroute: #%d", *rep.RouteIndex)
		if rep.RouteName != "" {
			fmt.Fprintf(&b, " %q", rep.RouteName)
		}
		if rep.Where != "" {
			fmt.Fprintf(&b, " at %s", rep.Where)
		}
		b.WriteString("\n")
	}
	switch {
	case rep.Location != "":
		fmt.Fprintf(&b, "redirect: %d to %s (gateway server at %s: tls.httpsRedirect)\n", rep.Redirect.Code, rep.Location, rep.Where)
	case rep.Redirect != nil:
		fmt.Fprintf(&b, "redirect: %d to uri=%q authority=%q scheme=%q\n", rep.Redirect.Code, rep.Redirect.URI, rep.Redirect.Authority, rep.Redirect.Scheme)
	}
	if rep.DirectResponse != nil {
		fmt.Fprintf(&b, "direct response: %d %q\n", rep.DirectResponse.Status, rep.DirectResponse.Body)
	}
	if rep.Rewrite != nil {
		fmt.Fprintf(&b, "rewrite: uri=%q authority=%q", rep.Rewrite.URI, rep.Rewrite.Authority)
		if rw := rep.Rewrite; rw.URIRegexMatch != "" {
			fmt.Fprintf(&b, " uriRegexRewrite=%q->%q", rw.URIRegexMatch, rw.URIRegexRewrite)
		}
		b.WriteString("\n")
	}
	if rep.Fault != nil {
		fmt.Fprintf(&b, "fault: %s\n", rep.Fault)
	}
	for _, m := range rep.Mirrors {
		fmt.Fprintf(&b, "mirror: %v%% copied to %s:%d", m.Percent, m.Host, m.Port)
		if m.Subset != "" {
			fmt.Fprintf(&b, "  subset %s%s", m.Subset, labelsSuffix(m.Labels))
		}
		if m.Problem != "" {
			b.WriteString("  (no copies: " + m.Problem + ")")
		}
		b.WriteString("\n")
	}
	if rep.UpstreamPath != "" {
		fmt.Fprintf(&b, "upstream path: %s\n", rep.UpstreamPath)
	}
	if len(rep.Destinations) > 0 {
		b.WriteString("destinations:\n")
	}
	sum, shares := int64(0), false
	for _, d := range rep.Destinations {
		sum += int64(d.Weight)
		shares = shares || d.Percent != 0
	}
	for i, d := range rep.Destinations {
		if shares {
			fmt.Fprintf(&b, "  %s  %s:%d", percentText(d.Percent), d.Host, d.Port)
		} else {
			fmt.Fprintf(&b, "  %3d%%  %s:%d", d.Weight, d.Host, d.Port)
		}
		if d.Subset != "" {
			fmt.Fprintf(&b, "  subset %s%s", d.Subset, labelsSuffix(d.Labels))
		}
		switch {
		case shares && len(rep.Destinations) == 1:
			fmt.Fprintf(&b, "  (weight %d; a single destination gets every request)", d.Weight)
		case shares:
			fmt.Fprintf(&b, "  (weight %d of %d)", d.Weight, sum)
		}
		switch {
		case rep.noCluster[i]:
			b.WriteString("  (503: no cluster)")
		case d.Problem != "":
			b.WriteString("  (503: no healthy upstream)")
		case d.ServiceEntry != "":
			fmt.Fprintf(&b, "  (ServiceEntry %s: %s)", d.ServiceEntry, strings.Join(d.Endpoints, ", "))
		}
		b.WriteString("\n")
	}
	writeOps(&b, "request headers", &rep.RequestHeaders)
	writeOps(&b, "response headers", rep.ResponseHeaders)
	for _, f := range rep.Findings {
		fmt.Fprintf(&b, "finding: %s\n", f)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// percentText prints a share of requests as "50%" or "33.3%".
func percentText(p float64) string {
	r := math.Round(p*10) / 10
	if r == math.Trunc(r) {
		return fmt.Sprintf("%3d%%", int(r))
	}
	return fmt.Sprintf("%.1f%%", r)
}

func writeOps(b *strings.Builder, title string, ops *route.HeaderOps) {
	if ops == nil || (len(ops.Set) == 0 && len(ops.Add) == 0 && len(ops.Remove) == 0) {
		return
	}
	fmt.Fprintf(b, "%s:", title)
	for _, k := range slices.Sorted(maps.Keys(ops.Set)) {
		fmt.Fprintf(b, " set %s=%q", k, ops.Set[k])
	}
	for _, k := range slices.Sorted(maps.Keys(ops.Add)) {
		fmt.Fprintf(b, " add %s=%q", k, ops.Add[k])
	}
	for _, k := range ops.Remove {
		fmt.Fprintf(b, " remove %s", k)
	}
	b.WriteString("\n")
}

func labelsSuffix(l map[string]string) string {
	if len(l) == 0 {
		return ""
	}
	return " {" + labels.Set(l).String() + "}"
}

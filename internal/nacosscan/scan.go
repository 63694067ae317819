package nacosscan

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"net/netip"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/route"
	"github.com/graylane/graylane/internal/springprops"
)

// systemNamespaces hold the cluster's own Services, which are never
// Nacos services: KindMissing does not report them.
var systemNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true, "istio-system": true}

// Scan compares the snapshots and returns the findings in a fixed order:
// by kind (bypass, nacos-only, missing-from-nacos), then Nacos
// namespace, group and service, Service, caller.
//
// An instance is behind a Service when its IP is the IP of a pod the
// Service selects and a port of the Service targets the instance port
// (by number, or by name through the pod's container ports). When the
// Kubernetes side has no pod IPs (manifests), an instance is behind a
// Service when the Nacos service name is the Service's name or the app
// label of a pod template the Service selects, and a port of the Service
// targets the instance port.
//
// Of the Services in front of a Nacos service's instances, the one the
// fix points callers at is the one named like the Nacos service, else
// one whose pods' app label is its name; then the one in front of the
// most instances (not a Rollout's canary or stable Service); then the
// one with the fewest selector labels; then by namespace and name.
func Scan(s Snapshot) []Finding {
	ix := newIndex(&s)
	var out []Finding
	for i := range s.Nacos {
		out = append(out, ix.scanService(&s.Nacos[i])...)
	}
	out = append(out, ix.missing()...)
	slices.SortStableFunc(out, compareFindings)
	return out
}

var kindOrder = map[string]int{KindBypass: 0, KindNacosOnly: 1, KindMissing: 2}

func compareFindings(a, b Finding) int {
	return cmp.Or(cmp.Compare(kindOrder[a.Kind], kindOrder[b.Kind]),
		cmp.Compare(a.NacosNamespace, b.NacosNamespace), cmp.Compare(a.NacosGroup, b.NacosGroup),
		cmp.Compare(a.NacosService, b.NacosService), cmp.Compare(a.Service, b.Service),
		cmp.Compare(a.Caller, b.Caller))
}

// index is the snapshot with its lookups.
type index struct {
	s        *Snapshot
	haveIPs  bool
	byIP     map[string][]*Pod
	services map[*Pod][]*Service // the Services that select each pod
	podsOf   map[*Service][]*Pod
	// byName: the Services a Nacos service name fits (nameRank < 2): by
	// their own name, or an app label of a pod they select.
	byName map[string][]*Service
	// registered: pods (by IP) or names (without IPs) some Nacos
	// instance is.
	registered map[*Pod]bool
	names      map[string]bool
	// edgesByHost and edgesByWorkload index the edges of known callers
	// by destination host (IP) and by "NAMESPACE/WORKLOAD" of the
	// destination.
	edgesByHost, edgesByWorkload map[string][]int
}

func newIndex(s *Snapshot) *index {
	ix := &index{s: s, byIP: map[string][]*Pod{}, services: map[*Pod][]*Service{}, podsOf: map[*Service][]*Pod{}, byName: map[string][]*Service{},
		registered: map[*Pod]bool{}, names: map[string]bool{},
		edgesByHost: map[string][]int{}, edgesByWorkload: map[string][]int{}}
	byNS := map[string][]*Pod{}
	for i := range s.Pods {
		p := &s.Pods[i]
		byNS[p.Namespace] = append(byNS[p.Namespace], p)
		if p.IP != "" {
			ix.haveIPs = true
			ix.byIP[p.IP] = append(ix.byIP[p.IP], p)
		}
	}
	for i := range s.Services {
		svc := &s.Services[i]
		for _, p := range byNS[svc.Namespace] {
			if selects(svc, p) {
				ix.services[p] = append(ix.services[p], svc)
				ix.podsOf[svc] = append(ix.podsOf[svc], p)
			}
		}
		names := map[string]bool{svc.Name: true}
		ix.byName[svc.Name] = append(ix.byName[svc.Name], svc)
		for _, p := range ix.podsOf[svc] {
			for _, l := range nameLabels {
				if v := p.Labels[l]; v != "" && !names[v] {
					names[v] = true
					ix.byName[v] = append(ix.byName[v], svc)
				}
			}
		}
	}
	for i, e := range s.Edges {
		if e.SourceWorkload == "" || e.SourceWorkload == "unknown" {
			continue
		}
		host := e.Destination
		if h, _, err := net.SplitHostPort(e.Destination); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		ix.edgesByHost[host] = append(ix.edgesByHost[host], i)
		// By workload only when the proxy recorded no host (callers): an
		// edge with a host is matched by its address, so a call to
		// another port of the workload is not taken for a bypass.
		if e.Destination == "" || e.Destination == "unknown" {
			w := e.DestinationNamespace + "/" + e.DestinationWorkload
			ix.edgesByWorkload[w] = append(ix.edgesByWorkload[w], i)
		}
	}
	return ix
}

// selects says whether svc sends traffic to p: the pod names of its
// endpoints when known, else a non-empty selector that p's labels match
// in the same namespace (an empty selector selects nothing: the
// Endpoints are managed by hand).
func selects(svc *Service, p *Pod) bool {
	if svc.Namespace != p.Namespace {
		return false
	}
	if svc.Pods != nil {
		return slices.Contains(svc.Pods, p.Name)
	}
	return len(svc.Selector) > 0 && route.LabelsMatch(p.Labels, svc.Selector)
}

// podsAt are the pods an instance address is: the pods with its IP that
// listen on every port, or on its port (or have their sidecar there).
func (ix *index) podsAt(in Instance) []*Pod {
	var out []*Pod
	addr := net.JoinHostPort(in.IP, strconv.Itoa(in.Port))
	for _, p := range ix.byIP[in.IP] {
		if p.Port == 0 || p.Port == in.Port || p.Sidecar == addr {
			out = append(out, p)
		}
	}
	return out
}

// portFor is the port of svc that reaches port on pod (pod nil: a
// number or a name any pod template of svc resolves). A pod that listens
// on one port only (the local runtime) is reached by any Service port:
// the first is taken.
func (ix *index) portFor(svc *Service, pod *Pod, port int) (ServicePort, bool) {
	pods := ix.podsOf[svc]
	if pod != nil {
		if pod.Port != 0 && len(svc.Ports) > 0 {
			return svc.Ports[0], true
		}
		pods = []*Pod{pod}
	}
	for _, sp := range svc.Ports {
		switch {
		case sp.TargetPortName != "":
			for _, p := range pods {
				if int(p.ContainerPorts[sp.TargetPortName]) == port {
					return sp, true
				}
			}
		case sp.TargetPort != 0:
			if int(sp.TargetPort) == port {
				return sp, true
			}
		default:
			if int(sp.Port) == port {
				return sp, true
			}
		}
	}
	return ServicePort{}, false
}

// candidate is a Service in front of some instances of a Nacos service.
type candidate struct {
	svc   *Service
	port  ServicePort
	addrs []string
	rank  int
	// workloads are "NAMESPACE/WORKLOAD" of the pods of addrs.
	workloads map[string]bool
}

// scanService finds what is wrong with one Nacos service.
func (ix *index) scanService(n *NacosService) []Finding {
	if len(n.Instances) == 0 {
		return nil
	}
	cands := map[*Service]*candidate{}
	var podOnly, all []string
	for _, in := range n.Instances {
		addr := net.JoinHostPort(in.IP, strconv.Itoa(in.Port))
		all = append(all, addr)
		if ix.haveIPs {
			pods := ix.podsAt(in)
			matched := false
			for _, p := range pods {
				ix.registered[p] = true
				for _, svc := range ix.services[p] {
					if sp, ok := ix.portFor(svc, p, in.Port); ok {
						ix.add(cands, svc, sp, addr, n.Name, p)
						matched = true
					}
				}
			}
			if len(pods) > 0 && !matched {
				podOnly = append(podOnly, addr)
			}
			continue
		}
		ix.names[n.Name] = true
		for _, svc := range ix.byName[n.Name] {
			if sp, ok := ix.portFor(svc, nil, in.Port); ok {
				ix.add(cands, svc, sp, addr, n.Name, nil)
			}
		}
	}
	if len(cands) == 0 {
		if len(podOnly) == 0 && ix.entered(n.Instances) {
			return nil
		}
		return []Finding{nacosOnly(n, all, podOnly)}
	}
	best := slices.SortedFunc(maps.Values(cands), func(a, b *candidate) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(len(b.addrs), len(a.addrs)), cmp.Compare(len(a.svc.Selector), len(b.svc.Selector)),
			cmp.Compare(a.svc.Namespace, b.svc.Namespace), cmp.Compare(a.svc.Name, b.svc.Name))
	})[0]
	return ix.bypass(n, best)
}

func (ix *index) add(cands map[*Service]*candidate, svc *Service, sp ServicePort, addr, name string, pod *Pod) {
	c := cands[svc]
	if c == nil {
		c = &candidate{svc: svc, port: sp, rank: ix.nameRank(svc, name), workloads: map[string]bool{}}
		cands[svc] = c
	}
	if pod != nil && pod.Workload != "" {
		c.workloads[pod.Namespace+"/"+pod.Workload] = true
	}
	if !slices.Contains(c.addrs, addr) {
		c.addrs = append(c.addrs, addr)
	}
}

// entered says whether ServiceEntries cover the IP of every instance.
func (ix *index) entered(insts []Instance) bool {
	for _, in := range insts {
		ip, err := netip.ParseAddr(in.IP)
		if err != nil {
			return false
		}
		covered := false
		for _, se := range ix.s.ServiceEntries {
			for _, a := range se.Addresses {
				if p, err := netip.ParsePrefix(a); err == nil && p.Contains(ip) {
					covered = true
				} else if a2, err := netip.ParseAddr(a); err == nil && a2 == ip {
					covered = true
				}
			}
		}
		if !covered {
			return false
		}
	}
	return true
}

// nameLabels are the pod labels that name an application, as Nacos
// service names often do.
var nameLabels = []string{"app", "app.kubernetes.io/name"}

// nameRank is how well svc's name fits a Nacos service name: 0 the same
// name, 1 a selected pod's name label (nameLabels), 2 neither.
func (ix *index) nameRank(svc *Service, name string) int {
	switch {
	case svc.Name == name:
		return 0
	case slices.Contains(ix.byName[name], svc):
		return 1
	}
	return 2
}

// bypass reports the callers of n that reach c's instances directly:
// one finding per caller the metrics or subscribers name, else one for
// any Nacos client.
func (ix *index) bypass(n *NacosService, c *candidate) []Finding {
	callers := ix.callers(n, c)
	host := c.svc.host()
	url := "http://" + host + ":" + strconv.Itoa(int(c.port.Port))
	where := c.svc.where()
	if c.port.Where != "" {
		where = c.port.Where
	}
	fixed := ix.fixed(n.Name, c)
	base := Finding{Kind: KindBypass, NacosNamespace: n.Namespace, NacosGroup: n.Group, NacosService: n.Name,
		Service: c.svc.ref(), Host: host, Port: c.port.Port, Addresses: c.addrs, Where: where,
		Hint: fmt.Sprintf("point the client at %s: %s (graylane nacos fix writes it)", url, springprops.FeignURLKey(n.Name))}
	what := fmt.Sprintf("%s (Nacos %s) at pod addresses %s, not through Service %s: VirtualService routing, canary weights and lanes do not apply",
		n.Name, n.ref(), strings.Join(c.addrs, ", "), c.svc.ref())
	if fixed {
		// Only the metrics prove a caller still goes around the Service.
		for caller := range callers {
			if callers[caller] == 0 {
				delete(callers, caller)
			}
		}
		if len(callers) == 0 {
			return nil
		}
		base.Hint = fmt.Sprintf("%s points %s at %s already: make the caller import it (spring.config.import: optional:nacos:%s); "+
			"if it does and has picked it up, these calls are older than the fix: scan again once the metrics window has passed",
			ix.s.SharedName, springprops.FeignURLKey(n.Name), url, ix.s.SharedName)
	}
	if len(callers) == 0 {
		f := base
		f.Message = "any Nacos client of " + n.Name + " calls " + what
		return []Finding{f}
	}
	var out []Finding
	for _, caller := range slices.Sorted(maps.Keys(callers)) {
		f := base
		f.Caller, f.Requests = caller, callers[caller]
		f.Message = caller + " calls " + what
		if f.Requests > 0 {
			f.Message += fmt.Sprintf(" (%g PassthroughCluster requests in the metrics window)", f.Requests)
		}
		out = append(out, f)
	}
	return out
}

// fixed says whether the shared configuration points the clients of
// the Nacos service name at c's Service already: an http URL with the
// Service's port and a host that names it (NAME, NAME.NAMESPACE,
// NAME.NAMESPACE.svc, the FQDN, or the host the mesh routes), as seed
// 000 writes it by hand (http://gray-order-service:8082).
func (ix *index) fixed(name string, c *candidate) bool {
	if ix.s.Shared == nil {
		return false
	}
	v, ok := springprops.Lookup(ix.s.Shared, nil, springprops.FeignURLKey(name))
	if !ok {
		return false
	}
	u, err := neturl.Parse(strings.TrimSpace(v))
	if err != nil || u.Scheme != "http" || u.Port() != strconv.Itoa(int(c.port.Port)) || strings.Trim(u.Path, "/") != "" {
		return false
	}
	svc := c.svc
	host := strings.ToLower(u.Hostname())
	return slices.Contains([]string{svc.Name, svc.Name + "." + svc.Namespace, svc.Name + "." + svc.Namespace + ".svc", route.ResolveHost(svc.Name, svc.Namespace), svc.host()}, host)
}

// callers are the workloads that call c's addresses directly, with
// their request counts: PassthroughCluster edges whose destination is one
// of the addresses (HOST:PORT, or HOST alone for any port) or, when the
// proxy recorded no host, whose destination workload is one of their
// pods'; and n's subscribers.
func (ix *index) callers(n *NacosService, c *candidate) map[string]float64 {
	out := map[string]float64{}
	seen := map[int]bool{}
	count := func(i int) {
		if !seen[i] {
			seen[i] = true
			e := &ix.s.Edges[i]
			out[e.SourceNamespace+"/"+e.SourceWorkload] += e.Requests
		}
	}
	for _, a := range c.addrs {
		ip, _, _ := net.SplitHostPort(a)
		for _, i := range ix.edgesByHost[ip] {
			if hits(ix.s.Edges[i].Destination, c.addrs) {
				count(i)
			}
		}
	}
	for w := range c.workloads {
		for _, i := range ix.edgesByWorkload[w] {
			count(i)
		}
	}
	for _, sub := range n.Subscribers {
		switch w := ix.workloadAt(sub.IP); {
		case w != "":
			out[w] += 0
		case sub.App != "":
			out[sub.App] += 0
		case sub.IP != "":
			out[sub.IP] += 0
		}
	}
	return out
}

// workloadAt is "NAMESPACE/WORKLOAD" of the pods with ip, "" when none
// or several workloads have it (the local runtime's 127.0.0.1).
func (ix *index) workloadAt(ip string) string {
	w := ""
	for _, p := range ix.byIP[ip] {
		pw := p.Namespace + "/" + p.Workload
		if p.Workload == "" || (w != "" && w != pw) {
			return ""
		}
		w = pw
	}
	return w
}

// hits says whether a destination_service value (HOST or HOST:PORT) is
// one of addrs.
func hits(dest string, addrs []string) bool {
	_, _, err := net.SplitHostPort(dest)
	anyPort := err != nil
	for _, a := range addrs {
		if a == dest {
			return true
		}
		if ip, _, _ := net.SplitHostPort(a); anyPort && ip == strings.Trim(dest, "[]") {
			return true
		}
	}
	return false
}

func nacosOnly(n *NacosService, all, podOnly []string) Finding {
	f := Finding{Kind: KindNacosOnly, NacosNamespace: n.Namespace, NacosGroup: n.Group, NacosService: n.Name,
		Addresses: all, Where: "nacos " + n.ref()}
	if len(podOnly) == 0 {
		f.External = true
		f.Message = fmt.Sprintf("%s (Nacos %s) has no Kubernetes Service: its instances %s are outside the mesh", n.Name, n.ref(), strings.Join(all, ", "))
		f.Hint = "add a ServiceEntry for them so the mesh knows the service (graylane nacos fix prints one)"
		return f
	}
	f.Message = fmt.Sprintf("%s (Nacos %s): instances %s are pods, but no Service targets their port", n.Name, n.ref(), strings.Join(podOnly, ", "))
	f.Hint = "add a Kubernetes Service selecting these pods with this targetPort, so callers can use its DNS name"
	return f
}

// missing reports the Services of Nacos clients that no Nacos service
// lists. A Service is checked when one of its pods looks like a Nacos
// client (LooksLikeNacosClient); when no pod of the snapshot does, every
// Service with pods is checked. Services of the cluster's own namespaces
// (kube-system, kube-public, kube-node-lease, istio-system) are never
// reported.
func (ix *index) missing() []Finding {
	signal := slices.ContainsFunc(ix.s.Pods, func(p Pod) bool { return p.NacosClient })
	var out []Finding
	for i := range ix.s.Services {
		svc := &ix.s.Services[i]
		pods := ix.podsOf[svc]
		if systemNamespaces[svc.Namespace] || len(pods) == 0 {
			continue
		}
		if signal && !slices.ContainsFunc(pods, func(p *Pod) bool { return p.NacosClient }) {
			continue
		}
		if ix.listed(svc, pods) {
			continue
		}
		out = append(out, Finding{Kind: KindMissing, Service: svc.ref(), Host: svc.host(), Where: svc.where(),
			Message: fmt.Sprintf("Service %s: none of its pods is an instance of a Nacos service, so Nacos clients cannot discover it", svc.ref()),
			Hint:    "register the app in Nacos (spring.cloud.nacos.discovery), or have its callers use http://" + svc.host()})
	}
	return out
}

// listed says whether a Nacos service lists svc's pods: by IP, or
// without pod IPs by the Service's name or its pods' app label.
func (ix *index) listed(svc *Service, pods []*Pod) bool {
	if ix.haveIPs {
		return slices.ContainsFunc(pods, func(p *Pod) bool { return ix.registered[p] })
	}
	if ix.names[svc.Name] {
		return true
	}
	return slices.ContainsFunc(pods, func(p *Pod) bool {
		return slices.ContainsFunc(nameLabels, func(l string) bool { return ix.names[p.Labels[l]] })
	})
}

// LooksLikeNacosClient says whether a pod spec looks configured for
// Nacos: an environment variable of a container names Nacos (Spring's
// relaxed binding of spring.cloud.nacos.* is SPRING_CLOUD_NACOS_...;
// NACOS_SERVER_ADDR and the like), or its command or arguments mention
// nacos.
func LooksLikeNacosClient(spec *corev1.PodSpec) bool {
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		for _, e := range c.Env {
			if strings.Contains(strings.ToUpper(e.Name), "NACOS") {
				return true
			}
		}
		for _, a := range slices.Concat(c.Command, c.Args) {
			if strings.Contains(strings.ToLower(a), "nacos") {
				return true
			}
		}
	}
	return false
}

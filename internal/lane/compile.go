package lane

import (
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
)

// Phase is where a lane's release is.
type Phase string

// Lane phases.
const (
	// Active: lane routes are in place; entry admits the current weight.
	Active Phase = "Active"
	// Promoted: every member's lane version serves everyone; no entry.
	Promoted Phase = "Promoted"
	// Aborted: every member is back on stable for everyone; no entry.
	Aborted Phase = "Aborted"
)

// State is a lane's runtime state, which Compile and the entry follow.
type State struct {
	Phase  Phase `json:"phase"`
	Weight int32 `json:"weight"`
}

// Input is what Compile reads.
type Input struct {
	// Objects are the loaded manifests, Lanes among them.
	Objects []*manifest.Object
	// States by lane key ("ns/name"); a lane without one is Active at its
	// entry.percentage.weight.
	States map[string]State
}

// Output is the compiled result.
type Output struct {
	// Objects are Input.Objects without the Lanes, each VirtualService,
	// DestinationRule and workload the lanes change replaced by a changed
	// copy in place, and the objects the lanes add at the end.
	Objects []*manifest.Object
	// Changed lists the changed copies and added objects only (what a
	// render writes beside the user's own manifests).
	Changed []*manifest.Object
	// Lanes are the resolved lanes, by name.
	Lanes []*Resolved
}

// StateOf returns the state Compile used for a lane.
func (in *Input) StateOf(l *Resolved) State {
	if st, ok := in.States[l.Key()]; ok {
		return st
	}
	st := State{Phase: Active}
	if p := l.Spec.Entry.Percentage; p != nil {
		st.Weight = p.Weight
	}
	return st
}

// Compile resolves every Lane against the other objects and rewrites the
// routing so that lane requests reach lane versions on every hop. Errors
// are located (file:line: field path: message).
func Compile(in Input) (*Output, error) {
	inv := newInventory(in.Objects)
	var errs manifest.ErrorList
	c := &compiler{in: &in, inv: inv}
	for _, o := range in.Objects {
		if l, ok := o.Typed.(*v1alpha1.Lane); ok {
			c.lanes = append(c.lanes, resolve(o, l, inv, &errs))
			continue
		}
		c.objects = append(c.objects, o)
	}
	sortLanes(c.lanes)
	c.checkOverlaps(&errs)
	if len(errs) == 0 {
		c.canaryEnv(&errs)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	c.destinationRules()
	c.virtualServices()
	c.workloads()
	return &Output{Objects: c.objects, Changed: c.changed, Lanes: c.lanes}, nil
}

type compiler struct {
	in      *Input
	inv     *inventory
	lanes   []*Resolved
	objects []*manifest.Object
	changed []*manifest.Object
}

// checkOverlaps refuses a workload in two lanes, and a Service whose
// stable version two lanes see differently.
func (c *compiler) checkOverlaps(errs *manifest.ErrorList) {
	owner := map[string]string{}
	stable := map[string]map[string]string{}
	for _, l := range c.lanes {
		for i, m := range l.Members {
			p := fmt.Sprintf("spec.members[%d]", i)
			for _, w := range m.LaneWorkloads {
				k := m.Namespace + "/" + w
				if other, ok := owner[k]; ok && other != l.Key() {
					*errs = append(*errs, &manifest.Error{Pos: l.Object.PathPos(p), Path: p, Msg: fmt.Sprintf("%s is already the lane version in lane %s", w, other)})
				}
				owner[k] = l.Key()
			}
			if s, ok := stable[m.Host]; ok && !maps.Equal(s, m.StableLabels) {
				*errs = append(*errs, &manifest.Error{Pos: l.Object.PathPos(p + ".stable"), Path: p + ".stable",
					Msg: fmt.Sprintf("Service %s's stable version is %s here but %s in another lane", m.Service, labelString(m.StableLabels), labelString(s))})
			}
			stable[m.Host] = m.StableLabels
		}
	}
}

// replace swaps an object for its changed copy in the output.
func (c *compiler) replace(old, changed *manifest.Object) {
	for i, o := range c.objects {
		if o == old {
			c.objects[i] = changed
		}
	}
	for i, o := range c.changed {
		if o == old { // changed again (a lane's canaryConfig, then its sourceLabels)
			c.changed[i] = changed
			return
		}
	}
	c.changed = append(c.changed, changed)
}

func (c *compiler) add(o *manifest.Object) {
	c.objects = append(c.objects, o)
	c.changed = append(c.changed, o)
}

// generated makes a new object located at the lane that caused it.
func generated(l *Resolved, apiVersion, kind, name, ns string, typed any) *manifest.Object {
	return &manifest.Object{APIVersion: apiVersion, Kind: kind, Name: name, Namespace: ns, Pos: l.Object.Pos, Typed: typed}
}

func copyOf(o *manifest.Object, typed any) *manifest.Object {
	c := *o
	c.Typed = typed
	c.Raw = nil
	return &c
}

// destinationRules gives every member host the lane and stable subsets,
// in the host's existing DestinationRule or a new one.
func (c *compiler) destinationRules() {
	hosts := map[string][]*Member{}
	var order []string
	owners := map[string]*Resolved{}
	for _, l := range c.lanes {
		for i := range l.Members {
			m := &l.Members[i]
			if _, seen := hosts[m.Host]; !seen {
				order = append(order, m.Host)
				owners[m.Host] = l
			}
			hosts[m.Host] = append(hosts[m.Host], m)
		}
	}
	for _, host := range order {
		members := hosts[host]
		old, dr := c.findDR(host)
		if dr != nil {
			if ro := c.rolloutFor(old); ro != nil {
				c.companionDR(old, dr, ro, members, owners[host])
				continue
			}
		}
		if dr == nil {
			m := members[0]
			dr = &networkingv1.DestinationRule{
				TypeMeta:   metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "DestinationRule"},
				ObjectMeta: metav1.ObjectMeta{Name: "graylane-" + m.Service, Namespace: m.Namespace},
			}
			dr.Spec.Host = m.Service
		} else {
			dr = dr.DeepCopy()
		}
		for _, m := range members {
			m.StableSubset = ensureSubset(&dr.Spec, "stable", m.StableLabels, nil)
			lane := laneOf(c.lanes, m)
			m.LaneSubset = ensureSubset(&dr.Spec, "graylane-"+lane.Name, m.LaneLabels, nil)
		}
		if old == nil {
			c.add(generated(owners[host], "networking.istio.io/v1", "DestinationRule", dr.Name, dr.Namespace, dr))
		} else {
			c.replace(old, copyOf(old, dr))
		}
	}
}

func laneOf(lanes []*Resolved, m *Member) *Resolved {
	for _, l := range lanes {
		for i := range l.Members {
			if &l.Members[i] == m {
				return l
			}
		}
	}
	return nil
}

// companionPrefix names the DestinationRule that holds the lane subsets of
// a host whose DestinationRule a Rollout manages.
const companionPrefix = "graylane-lanes-"

// companionDR puts the lane subsets of a host whose DestinationRule a
// Rollout manages into a DestinationRule of their own, for the same host
// and visibility: istiod merges the subsets of the DestinationRules of one
// host in one namespace (PushContext.mergeDestinationRule), and Argo never
// touches the companion. The managed rule's stable and canary subsets are
// reused when their labels are the ones a member needs.
func (c *compiler) companionDR(old *manifest.Object, managed *networkingv1.DestinationRule, ro *rolloutsv1alpha1.IstioDestinationRule, members []*Member, owner *Resolved) {
	name := companionPrefix + managed.Name
	var existing *manifest.Object
	comp := &networkingv1.DestinationRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "DestinationRule"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: old.Namespace},
	}
	for _, o := range c.objects {
		if dr, ok := o.Typed.(*networkingv1.DestinationRule); ok && o.Namespace == old.Namespace && o.Name == name {
			existing, comp = o, dr.DeepCopy()
		}
	}
	comp.Spec.Host = managed.Spec.GetHost()
	comp.Spec.ExportTo = slices.Clone(managed.Spec.GetExportTo())
	var kept []*networking.Subset // the subsets Argo keeps
	taken := map[string]bool{}
	for _, s := range managed.Spec.GetSubsets() {
		taken[s.GetName()] = true
		if s.GetName() == ro.StableSubsetName || s.GetName() == ro.CanarySubsetName {
			kept = append(kept, s)
		}
	}
	subset := func(want string, labels map[string]string) string {
		for _, s := range kept {
			if maps.Equal(s.GetLabels(), labels) {
				return s.GetName()
			}
		}
		return ensureSubset(&comp.Spec, want, labels, taken)
	}
	for _, m := range members {
		// The Rollout's stable subset is the member's stable version when
		// it selects within it (Argo narrows it to the stable ReplicaSet).
		m.StableSubset = ""
		for _, s := range kept {
			if s.GetName() == ro.StableSubsetName && containsLabels(s.GetLabels(), m.StableLabels) {
				m.StableSubset = s.GetName()
			}
		}
		if m.StableSubset == "" {
			m.StableSubset = subset("stable", m.StableLabels)
		}
		m.LaneSubset = subset("graylane-"+laneOf(c.lanes, m).Name, m.LaneLabels)
	}
	if existing != nil {
		c.replace(existing, copyOf(existing, comp))
		return
	}
	c.add(generated(owner, "networking.istio.io/v1", "DestinationRule", comp.Name, comp.Namespace, comp))
}

// containsLabels: every label of want is in have with the same value.
func containsLabels(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// rolloutFor is the trafficRouting.istio.destinationRule of the Rollout
// that manages the DestinationRule o, nil when none does. Argo Rollouts
// rewrites such a rule with only its stable and canary subsets whenever it
// updates the pod-template hash (argo-rollouts v1.8.3
// rollout/trafficrouting/istio UpdateHash: "Ignore any extraneous
// subsets"), so lane subsets cannot live there.
func (c *compiler) rolloutFor(o *manifest.Object) *rolloutsv1alpha1.IstioDestinationRule {
	for _, x := range c.objects {
		ro, ok := x.Typed.(*rolloutsv1alpha1.Rollout)
		if !ok || x.Namespace != o.Namespace || ro.Spec.Strategy.Canary == nil {
			continue
		}
		if tr := ro.Spec.Strategy.Canary.TrafficRouting; tr != nil && tr.Istio != nil &&
			tr.Istio.DestinationRule != nil && tr.Istio.DestinationRule.Name == o.Name {
			return tr.Istio.DestinationRule
		}
	}
	return nil
}

// findDR returns the DestinationRule for a host: in the Service's own
// namespace first, as the route engine prefers. A lane companion
// (companionDR) is not one: it is found through the rule it accompanies.
func (c *compiler) findDR(host string) (*manifest.Object, *networkingv1.DestinationRule) {
	_, svcNS, _ := route.ServiceOf(host)
	var found *manifest.Object
	for _, o := range c.objects {
		dr, ok := o.Typed.(*networkingv1.DestinationRule)
		if !ok || route.ResolveHost(dr.Spec.GetHost(), o.Namespace) != host || strings.HasPrefix(o.Name, companionPrefix) {
			continue
		}
		if found == nil || (o.Namespace == svcNS && found.Namespace != svcNS) {
			found = o
		}
	}
	if found == nil {
		return nil, nil
	}
	return found, found.Typed.(*networkingv1.DestinationRule)
}

// ensureSubset returns the name of the subset with exactly these labels,
// adding one (named want, or want with a suffix when taken here or in
// taken) if none has.
func ensureSubset(dr *networking.DestinationRule, want string, labels map[string]string, taken map[string]bool) string {
	taken = maps.Clone(taken)
	if taken == nil {
		taken = map[string]bool{}
	}
	for _, s := range dr.Subsets {
		if maps.Equal(s.Labels, labels) {
			return s.Name
		}
		taken[s.Name] = true
	}
	name := want
	for i := 2; taken[name]; i++ {
		name = want + "-" + strconv.Itoa(i)
	}
	dr.Subsets = append(dr.Subsets, &networking.Subset{Name: name, Labels: maps.Clone(labels)})
	return name
}

// workloads labels the lane versions' pods with graylane.io/lane for
// lanes that propagate by sourceLabels.
func (c *compiler) workloads() {
	for _, l := range c.lanes {
		if !l.Spec.Propagates(v1alpha1.PropagateSourceLabels) {
			continue
		}
		for _, m := range l.Members {
			for _, ref := range m.LaneWorkloads {
				c.labelWorkload(m.Namespace, ref, l.Name)
			}
		}
	}
}

func (c *compiler) labelWorkload(ns, ref, lane string) {
	for _, o := range c.objects {
		switch t := o.Typed.(type) {
		case *appsv1.Deployment:
			if o.Namespace == ns && "Deployment "+t.Name == ref {
				d := t.DeepCopy()
				d.Spec.Template.Labels = withLabel(d.Spec.Template.Labels, v1alpha1.LaneLabel, lane)
				c.replace(o, copyOf(o, d))
				return
			}
		case *rolloutsv1alpha1.Rollout:
			if o.Namespace == ns && "Rollout "+t.Name == ref {
				r := t.DeepCopy()
				r.Spec.Template.Labels = withLabel(r.Spec.Template.Labels, v1alpha1.LaneLabel, lane)
				c.replace(o, copyOf(o, r))
				return
			}
		}
	}
}

func withLabel(in map[string]string, k, v string) map[string]string {
	out := maps.Clone(in)
	if out == nil {
		out = map[string]string{}
	}
	out[k] = v
	return out
}

// BaggageRegex is the RE2 pattern (whole value, as Istio matches) that
// finds key=lane among the list members of a W3C baggage header.
func BaggageRegex(key, lane string) string {
	return `(.*,)?\s*` + regexp.QuoteMeta(key) + `\s*=\s*` + regexp.QuoteMeta(lane) + `\s*(;[^,]*)?(,.*)?`
}

// conditions are the match fragments that say "this request is in lane
// l". On routes bound only to gateways they also carry the lane's header
// and cookie entry rules, so that on a cluster the edge admits those
// requests by itself (the route then sets the lane header, see laneRoute);
// percentage, whitelist and signed entry need the gate there.
func conditions(l *Resolved, mesh bool) []*networking.HTTPMatchRequest {
	var out []*networking.HTTPMatchRequest
	hdr := l.Spec.Propagation.Header
	header := func(name string, m *networking.StringMatch) *networking.HTTPMatchRequest {
		return &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{name: m}}
	}
	// The edge sets the header whatever the modes, so routes bound to
	// gateways only always match it.
	if l.Spec.Propagates(v1alpha1.PropagateHeader) || !mesh {
		out = append(out, header(hdr, &networking.StringMatch{MatchType: &networking.StringMatch_Exact{Exact: l.Name}}))
	}
	if mesh && l.Spec.Propagates(v1alpha1.PropagateBaggage) {
		// Not at the edge: baggage from outside is not trusted there.
		out = append(out, header("baggage", &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: BaggageRegex(hdr, l.Name)}}))
	}
	if mesh && l.Spec.Propagates(v1alpha1.PropagateSourceLabels) {
		out = append(out, &networking.HTTPMatchRequest{SourceLabels: map[string]string{v1alpha1.LaneLabel: l.Name}})
	}
	if !mesh {
		for _, r := range l.Spec.Entry.Headers {
			out = append(out, header(strings.ToLower(r.Name), stringMatch(r.Exact, r.Prefix, r.Regex)))
		}
		for _, c := range l.Spec.Entry.Cookies {
			value := regexp.QuoteMeta(c.Exact)
			if c.Regex != "" {
				value = "(?:" + c.Regex + ")"
			}
			out = append(out, header("cookie", &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: route.CookieRegex(c.Name, value)}}))
		}
	}
	return out
}

func stringMatch(exact, prefix, re string) *networking.StringMatch {
	switch {
	case re != "":
		return &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: re}}
	case prefix != "":
		return &networking.StringMatch{MatchType: &networking.StringMatch_Prefix{Prefix: prefix}}
	case exact != "":
		return &networking.StringMatch{MatchType: &networking.StringMatch_Exact{Exact: exact}}
	}
	// Presence: any value.
	return &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: ".*"}}
}

// cross returns every route match combined with every lane condition.
func cross(ms, conds []*networking.HTTPMatchRequest) []*networking.HTTPMatchRequest {
	if len(ms) == 0 {
		return conds
	}
	var out []*networking.HTTPMatchRequest
	for _, m := range ms {
		for _, cond := range conds {
			x := proto.Clone(m).(*networking.HTTPMatchRequest)
			for k, v := range cond.GetHeaders() {
				if x.Headers == nil {
					x.Headers = map[string]*networking.StringMatch{}
				}
				x.Headers[k] = v
			}
			for k, v := range cond.GetSourceLabels() {
				if x.SourceLabels == nil {
					x.SourceLabels = map[string]string{}
				}
				x.SourceLabels[k] = v
			}
			out = append(out, x)
		}
	}
	return out
}

// LaneOf returns the lane an edge-decided request is in: the lane whose
// header carries its name ("" for none).
func (o *Output) LaneOf(h http.Header) string {
	for _, l := range o.Lanes {
		if h.Get(l.Spec.Propagation.Header) == l.Name {
			return l.Name
		}
	}
	return ""
}

// Check says what is wrong with a hop of a request in lane name: a member
// must be served by its lane subset, and in strict mode a service of the
// lane's namespace without a lane version must refuse. "" when right.
func (o *Output) Check(name, service, namespace, subset string, status int) string {
	for _, l := range o.Lanes {
		if l.Name != name {
			continue
		}
		for _, m := range l.Members {
			if m.Service == service && m.Namespace == namespace {
				if subset != m.LaneSubset {
					return fmt.Sprintf("%s served by subset %q, not the lane's %q", service, subset, m.LaneSubset)
				}
				return ""
			}
		}
		if l.Spec.Fallback == v1alpha1.FallbackStrict && namespace == l.Namespace && status != StrictStatus {
			return fmt.Sprintf("%s has no lane version but answered %d, not the strict refusal", service, status)
		}
	}
	return ""
}

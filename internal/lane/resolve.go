// Package lane compiles Graylane Lanes — full-link gray lanes across
// services — into the Istio objects that keep a lane request on lane
// versions along the whole call chain, and decides at the edge which
// requests enter a lane. It is pure: no I/O, no clock. The embedded
// runtime and the Kubernetes output both use it, so what runs locally is
// what is applied to a cluster.
package lane

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
)

// Member is one member service of a lane, resolved against the manifests.
type Member struct {
	Service   string `json:"service"`
	Namespace string `json:"namespace"`
	// Host is the Service's FQDN, e.g. order.shop.svc.cluster.local.
	Host string `json:"host"`
	// LaneLabels and StableLabels select the two versions' pods (beside the
	// Service's selector); LaneSubset and StableSubset are the
	// DestinationRule subsets that carry them.
	LaneLabels   map[string]string `json:"laneLabels"`
	StableLabels map[string]string `json:"stableLabels"`
	LaneSubset   string            `json:"laneSubset"`
	StableSubset string            `json:"stableSubset"`
	// LaneWorkloads are the Deployments/Rollouts ("Kind name") whose pods
	// are the lane version.
	LaneWorkloads []string `json:"laneWorkloads"`
}

// Resolved is a lane with its members resolved.
type Resolved struct {
	Name      string             `json:"name"`
	Namespace string             `json:"namespace"`
	Spec      *v1alpha1.LaneSpec `json:"-"`
	Members   []Member           `json:"members"`
	// Object is the Lane as loaded (for locating errors).
	Object *manifest.Object `json:"-"`
}

// Key is "namespace/name".
func (l *Resolved) Key() string { return l.Namespace + "/" + l.Name }

// Member returns the member for a Service host, or nil.
func (l *Resolved) Member(host string) *Member {
	for i := range l.Members {
		if l.Members[i].Host == host {
			return &l.Members[i]
		}
	}
	return nil
}

// workload is a Deployment or Rollout as lane resolution sees it.
type workload struct {
	ref    string // "Deployment name"
	ns     string
	labels map[string]string
	obj    *manifest.Object
}

// inventory indexes the objects lanes refer to.
type inventory struct {
	services  map[string]*corev1.Service // by FQDN
	workloads []workload
}

func newInventory(objs []*manifest.Object) *inventory {
	inv := &inventory{services: map[string]*corev1.Service{}}
	for _, o := range objs {
		switch t := o.Typed.(type) {
		case *corev1.Service:
			inv.services[route.ResolveHost(t.Name, o.Namespace)] = t
		case *appsv1.Deployment:
			inv.workloads = append(inv.workloads, workload{"Deployment " + t.Name, o.Namespace, t.Spec.Template.Labels, o})
		case *rolloutsv1alpha1.Rollout:
			inv.workloads = append(inv.workloads, workload{"Rollout " + t.Name, o.Namespace, t.Spec.Template.Labels, o})
		}
	}
	return inv
}

// byName finds a Deployment (first) or Rollout by name.
func (inv *inventory) byName(ns, name string) *workload {
	for _, kind := range []string{"Deployment ", "Rollout "} {
		for i := range inv.workloads {
			if w := &inv.workloads[i]; w.ns == ns && w.ref == kind+name {
				return w
			}
		}
	}
	return nil
}

// selected lists the workloads whose pods a Service selects and that carry
// the extra labels.
func (inv *inventory) selected(svc *corev1.Service, ns string, extra map[string]string) []*workload {
	var out []*workload
	for i := range inv.workloads {
		w := &inv.workloads[i]
		if w.ns == ns && len(svc.Spec.Selector) > 0 && route.LabelsMatch(w.labels, svc.Spec.Selector) && route.LabelsMatch(w.labels, extra) {
			out = append(out, w)
		}
	}
	return out
}

// distinguishing returns the labels of a pod template that the Service's
// selector does not fix: what tells this version apart (e.g. version: v2).
func distinguishing(labels, selector map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		if _, fixed := selector[k]; !fixed && k != v1alpha1.LaneLabel && k != "rollouts-pod-template-hash" {
			out[k] = v
		}
	}
	return out
}

// resolve checks a lane's references and works out its members.
func resolve(o *manifest.Object, l *v1alpha1.Lane, inv *inventory, errs *manifest.ErrorList) *Resolved {
	res := &Resolved{Name: l.Name, Namespace: o.Namespace, Spec: &l.Spec, Object: o}
	fail := func(path, format string, a ...any) {
		*errs = append(*errs, &manifest.Error{Pos: o.PathPos(path), Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	for i, m := range l.Spec.Members {
		p := fmt.Sprintf("spec.members[%d]", i)
		host := route.ResolveHost(m.Service, o.Namespace)
		svc := inv.services[host]
		if svc == nil {
			fail(p+".service", "no Service %s in namespace %s", m.Service, o.Namespace)
			continue
		}
		mem := Member{Service: m.Service, Namespace: o.Namespace, Host: host, LaneLabels: m.Labels}
		if m.Workload != "" {
			w := inv.byName(o.Namespace, m.Workload)
			if w == nil {
				fail(p+".workload", "no Deployment or Rollout %s in namespace %s", m.Workload, o.Namespace)
				continue
			}
			if !route.LabelsMatch(w.labels, svc.Spec.Selector) {
				fail(p+".workload", "%s's pods are not selected by Service %s (selector %s)", w.ref, m.Service, labelString(svc.Spec.Selector))
				continue
			}
			if len(mem.LaneLabels) == 0 {
				mem.LaneLabels = distinguishing(w.labels, svc.Spec.Selector)
			}
		}
		if len(mem.LaneLabels) == 0 {
			fail(p+".workload", "the lane version's pod labels are all fixed by Service %s's selector: give the lane version a label of its own (e.g. version: v2)", m.Service)
			continue
		}
		lanePods := inv.selected(svc, o.Namespace, mem.LaneLabels)
		if len(lanePods) == 0 {
			fail(p+".labels", "no Deployment or Rollout behind Service %s has pods labelled %s", m.Service, labelString(mem.LaneLabels))
			continue
		}
		for _, w := range lanePods {
			mem.LaneWorkloads = append(mem.LaneWorkloads, w.ref)
		}
		stable, msg := stableLabels(m, svc, o.Namespace, inv, mem.LaneLabels)
		if msg != "" {
			fail(p+".stable", "%s", msg)
			continue
		}
		mem.StableLabels = stable
		res.Members = append(res.Members, mem)
	}
	return res
}

// stableLabels works out the labels of a member's stable version: given,
// from the named workload, or from the one other workload behind the
// Service. It returns a message when it cannot.
func stableLabels(m v1alpha1.LaneMember, svc *corev1.Service, ns string, inv *inventory, lane map[string]string) (map[string]string, string) {
	if m.Stable != nil && len(m.Stable.Labels) > 0 {
		return m.Stable.Labels, ""
	}
	if m.Stable != nil {
		w := inv.byName(ns, m.Stable.Workload)
		if w == nil {
			return nil, fmt.Sprintf("no Deployment or Rollout %s in namespace %s", m.Stable.Workload, ns)
		}
		return distinguishing(w.labels, svc.Spec.Selector), ""
	}
	var others []*workload
	for _, w := range inv.selected(svc, ns, nil) {
		if !route.LabelsMatch(w.labels, lane) {
			others = append(others, w)
		}
	}
	switch len(others) {
	case 0:
		return nil, fmt.Sprintf("Service %s has no stable version: no other Deployment or Rollout behind it (set stable to name one)", m.Service)
	case 1:
		labels := distinguishing(others[0].labels, svc.Spec.Selector)
		if len(labels) == 0 {
			return nil, fmt.Sprintf("%s has no label of its own beside Service %s's selector: set stable.labels", others[0].ref, m.Service)
		}
		return labels, ""
	}
	refs := make([]string, len(others))
	for i, w := range others {
		refs[i] = w.ref
	}
	return nil, fmt.Sprintf("Service %s has several candidate stable versions (%s): set stable to one of them", m.Service, strings.Join(refs, ", "))
}

func labelString(l map[string]string) string {
	keys := slices.Sorted(maps.Keys(l))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + l[k]
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// sortLanes orders lanes by name, then namespace: the order entry rules
// are tried in and routes are written in.
func sortLanes(ls []*Resolved) {
	sort.SliceStable(ls, func(i, j int) bool {
		if ls[i].Name != ls[j].Name {
			return ls[i].Name < ls[j].Name
		}
		return ls[i].Namespace < ls[j].Namespace
	})
}

package expand

import (
	"maps"
	"net/http"
	"slices"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/render"
	"github.com/graylane/graylane/internal/rollouttraffic"
	"github.com/graylane/graylane/internal/route"
	"github.com/graylane/graylane/internal/simulate"
)

// Result is a loaded set with Graylane's own kinds turned into what they
// stand for.
type Result struct {
	// Set has each Release's rendered objects in its place and the lanes'
	// routing in place of the Lane objects.
	Set *manifest.Set
	// Output and Entry are nil when the set has no Lane.
	Output *lane.Output
	Entry  *lane.Entry
}

// Manifests renders the Releases of a loaded set into their objects, then
// compiles its Lanes at their entry weights: the set every command and
// `graylane apply` act on. set is not changed. The errors are the
// renderer's and the lane compiler's, located at the objects' file:line;
// they are all problems of the input.
func Manifests(set *manifest.Set) (*Result, error) {
	if len(set.Of("Release")) > 0 {
		objs, err := render.Expand(set.Objects)
		if err != nil {
			return nil, err
		}
		expanded := *set
		expanded.Objects = objs
		set = &expanded
	}
	if len(set.Of("Lane")) == 0 {
		return &Result{Set: set}, nil
	}
	in := lane.Input{Objects: set.Objects}
	out, err := lane.Compile(in)
	if err != nil {
		return nil, err
	}
	entry, err := lane.NewEntry(&in, out.Lanes, nil)
	if err != nil {
		return nil, err
	}
	compiled := *set
	compiled.Objects = out.Objects
	return &Result{Set: &compiled, Output: out, Entry: entry}, nil
}

// SimulateOptions sets the replay's lane entry and lane checks; now is
// the instant at which lane entry checks the expiry of signed lane
// headers. It leaves o alone when the set has no Lane.
func (l *Result) SimulateOptions(o *simulate.Options, now time.Time) {
	if l.Output == nil {
		return
	}
	o.Edge = func(h http.Header, rnd float64) { l.Entry.Apply(h, rnd, nil, now) }
	o.Lane = l.Output.LaneOf
	o.CheckLane = func(name string, h *simulate.Hop) string {
		return l.Output.Check(name, h.Service, h.Namespace, h.Subset, h.Status)
	}
}

func locator(o *manifest.Object) route.Locator {
	return func(path string) string { return o.PathPos(path).String() }
}

// RouteInput turns loaded manifests into the routing compiler's input.
func RouteInput(set *manifest.Set) route.Input {
	var in route.Input
	for _, o := range set.Objects {
		switch t := o.Typed.(type) {
		case *networkingv1.VirtualService:
			in.VirtualServices = append(in.VirtualServices, route.VirtualService{Object: t, Locate: locator(o)})
		case *networkingv1.DestinationRule:
			in.DestinationRules = append(in.DestinationRules, route.DestinationRule{Object: t, Locate: locator(o)})
		case *networkingv1.Gateway:
			in.Gateways = append(in.Gateways, route.Gateway{Object: t, Locate: locator(o)})
		case *corev1.Service:
			in.Services = append(in.Services, route.Service{Object: t, Locate: locator(o)})
		case *networkingv1.ServiceEntry:
			in.ServiceEntries = append(in.ServiceEntries, route.ServiceEntry{Object: t, Locate: locator(o)})
		}
	}
	return in
}

// Inventory lists the Services and workloads (Deployments, Rollouts) of
// loaded manifests for the simulator.
func Inventory(set *manifest.Set) ([]simulate.Service, []simulate.Workload) {
	var svcs []simulate.Service
	var ws []simulate.Workload
	for _, o := range set.Objects {
		switch t := o.Typed.(type) {
		case *corev1.Service:
			s := simulate.Service{Name: t.Name, Namespace: o.Namespace, Selector: t.Spec.Selector}
			for _, p := range t.Spec.Ports {
				s.Ports = append(s.Ports, p.Port)
			}
			svcs = append(svcs, s)
		case *appsv1.Deployment:
			ws = append(ws, simulate.Workload{Kind: o.Kind, Name: t.Name, Namespace: o.Namespace,
				Labels: t.Spec.Template.Labels, Replicas: replicas(t.Spec.Replicas)})
		case *rolloutsv1alpha1.Rollout:
			ws = append(ws, simulate.Workload{Kind: o.Kind, Name: t.Name, Namespace: o.Namespace,
				Labels: t.Spec.Template.Labels, Replicas: replicas(t.Spec.Replicas)})
		}
	}
	return svcs, ws
}

// AtRolloutSteps sets the Rollouts that --rollout-step values name at
// their steps in the routing input (rollouttraffic.AtSteps). Its errors
// are problems of the input.
func AtRolloutSteps(set *manifest.Set, in *route.Input, values []string) ([]rollouttraffic.Placed, error) {
	if len(values) == 0 {
		return nil, nil
	}
	var ros []rollouttraffic.Rollout
	for _, o := range set.Objects {
		if ro, ok := o.Typed.(*rolloutsv1alpha1.Rollout); ok {
			ros = append(ros, rollouttraffic.Rollout{Namespace: o.Namespace, Object: ro, Locate: locator(o)})
		}
	}
	return rollouttraffic.AtSteps(in, ros, values)
}

// StepInventory is Inventory with the Rollouts placed at a step split into
// their stable and canary ReplicaSets ("NAME-HASH", with the
// pod-template-hash label and the step's replicas) and the Services'
// selectors as the routing input has them. The manifests hold the new
// template only: the stable's pods get its labels without versionLabel
// unless the Rollout's status.stableRS names the stable.
func StepInventory(set *manifest.Set, in route.Input, placed []rollouttraffic.Placed, versionLabel string) ([]simulate.Service, []simulate.Workload) {
	svcs, ws := Inventory(set)
	if len(placed) == 0 {
		return svcs, ws
	}
	for i, s := range svcs {
		for _, rs := range in.Services {
			if rs.Object.Name == s.Name && nsOr(rs.Object.Namespace) == s.Namespace {
				svcs[i].Selector = rs.Object.Spec.Selector
			}
		}
	}
	for _, p := range placed {
		ro, st := p.Rollout, p.Step
		i := slices.IndexFunc(ws, func(w simulate.Workload) bool {
			return w.Kind == "Rollout" && w.Name == ro.Object.Name && w.Namespace == ro.Namespace
		})
		if i < 0 {
			continue
		}
		rs := func(hash string, n int32, dropVersion bool) simulate.Workload {
			labels := maps.Clone(ws[i].Labels)
			if labels == nil {
				labels = map[string]string{}
			}
			if dropVersion {
				delete(labels, versionLabel)
			}
			labels[rollouttraffic.PodTemplateHashLabel] = hash
			return simulate.Workload{Kind: "ReplicaSet", Name: ro.Object.Name + "-" + hash, Namespace: ro.Namespace, Labels: labels, Replicas: n}
		}
		group := []simulate.Workload{rs(st.CanaryHash, st.CanaryReplicas, false)}
		if st.Promoted {
			group[0].Replicas = st.StableReplicas
		} else {
			group = append([]simulate.Workload{rs(st.StableHash, st.StableReplicas, st.StableHash == rollouttraffic.StableStandIn)}, group...)
		}
		ws = slices.Replace(ws, i, i+1, group...)
	}
	return svcs, ws
}

func nsOr(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

package command

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/cli/load"
	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/kubeapply"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosscan"
	"github.com/graylane/graylane/internal/route"
)

// naming is what the scan reads of Nacos (a *nacosclient.Client).
type naming interface {
	Services(ctx context.Context, group string) ([]string, error)
	Instances(ctx context.Context, service, group string) ([]nacosclient.Instance, error)
	Subscribers(ctx context.Context, service, group string) ([]nacosclient.Subscriber, error)
	Namespace() string
}

// readNacos lists the services of the groups, their instances and their
// subscribers. A server without the subscriber listing
// (nacosclient.ErrUnsupported) is warned about once, and the scan goes on
// without subscribers.
func readNacos(ctx context.Context, c naming, groups []string, warn func(string)) ([]nacosscan.NacosService, error) {
	ns := c.Namespace()
	if ns == "" {
		ns = "public"
	}
	subscribers := true
	var out []nacosscan.NacosService
	for _, g := range groups {
		names, err := c.Services(ctx, g)
		if err != nil {
			return nil, err
		}
		slices.Sort(names)
		for _, name := range names {
			insts, err := c.Instances(ctx, name, g)
			if err != nil {
				return nil, err
			}
			s := nacosscan.NacosService{Namespace: ns, Group: g, Name: name}
			for _, in := range insts {
				if in.Enabled {
					s.Instances = append(s.Instances, nacosscan.Instance{IP: in.IP, Port: in.Port})
				}
			}
			if subscribers {
				s.Subscribers, err = readSubscribers(ctx, c, name, g)
				if errors.Is(err, nacosclient.ErrUnsupported) {
					subscribers = false
					warn("the Nacos server does not list subscribers (GET /nacos/v1/ns/service/subscribers answers 404): the callers come from the metrics only")
				} else if err != nil {
					return nil, err
				}
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// readSubscribers is a service's subscribers as the scan takes them: by
// IP, and by app name when the client reported one (Nacos says "unknown"
// for a gRPC client that did not).
func readSubscribers(ctx context.Context, c naming, name, group string) ([]nacosscan.Subscriber, error) {
	subs, err := c.Subscribers(ctx, name, group)
	if err != nil {
		return nil, err
	}
	var out []nacosscan.Subscriber
	for _, sub := range subs {
		app := sub.App
		if app == "unknown" {
			app = ""
		}
		if sub.IP != "" || app != "" {
			out = append(out, nacosscan.Subscriber{IP: sub.IP, App: app})
		}
	}
	return out, nil
}

// kube is the Kubernetes side of a snapshot.
type kube struct {
	services []nacosscan.Service
	pods     []nacosscan.Pod
	entries  []nacosscan.ServiceEntry
}

// readManifests loads files and folders, renders Releases, and returns
// the Services, the pod templates of the Deployments and Rollouts,
// located, and the ServiceEntries. Load errors are input errors.
func readManifests(files []string, warn func(string)) (*kube, error) {
	var w strings.Builder
	set, err := load.Load(files, &w, manifest.DoingNacos, nil)
	for _, line := range strings.Split(strings.TrimSpace(w.String()), "\n") {
		if line != "" {
			warn(strings.TrimPrefix(line, "warning: "))
		}
	}
	if err != nil {
		return nil, err
	}
	res, err := expand.Manifests(set)
	if err != nil {
		return nil, &cli.InputError{Err: err}
	}
	var k kube
	for _, o := range res.Set.Objects {
		switch t := o.Typed.(type) {
		case *corev1.Service:
			k.services = append(k.services, serviceOf(t, o.Namespace, func(path string) string { return o.PathPos(path).String() }))
		case *appsv1.Deployment:
			k.pods = append(k.pods, templatePod(o, &t.Spec.Template))
		case *rolloutsv1alpha1.Rollout:
			k.pods = append(k.pods, templatePod(o, &t.Spec.Template))
		case *networkingv1.ServiceEntry:
			se := entryOf(t, o.Namespace)
			se.Where = o.PathPos("").String()
			k.entries = append(k.entries, se)
		}
	}
	return &k, nil
}

// entryOf is a ServiceEntry by the addresses it covers.
func entryOf(se *networkingv1.ServiceEntry, ns string) nacosscan.ServiceEntry {
	out := nacosscan.ServiceEntry{Namespace: ns, Name: se.Name, Addresses: slices.Clone(se.Spec.Addresses),
		NacosService: nacosscan.NacosServiceOf(se.Labels, se.Annotations)}
	for _, e := range se.Spec.Endpoints {
		if e != nil && e.Address != "" {
			out.Addresses = append(out.Addresses, e.Address)
		}
	}
	return out
}

// templatePod is a workload's pod template as a pod without IP.
func templatePod(o *manifest.Object, tpl *corev1.PodTemplateSpec) nacosscan.Pod {
	return nacosscan.Pod{Namespace: o.Namespace, Name: o.Name, Workload: o.Name, Labels: tpl.Labels,
		ContainerPorts: namedPorts(&tpl.Spec), NacosClient: nacosscan.LooksLikeNacosClient(&tpl.Spec)}
}

// serviceOf turns a Service into the scan's; locate gives the file:line
// of a field path ("" when the Service did not come from a file).
func serviceOf(s *corev1.Service, ns string, locate func(string) string) nacosscan.Service {
	out := nacosscan.Service{Namespace: ns, Name: s.Name, Selector: s.Spec.Selector, Where: locate("")}
	for i, p := range s.Spec.Ports {
		sp := nacosscan.ServicePort{Name: p.Name, Port: p.Port, Where: locate(fmt.Sprintf("spec.ports[%d]", i))}
		switch {
		case p.TargetPort.Type == intstr.String:
			sp.TargetPortName = p.TargetPort.StrVal
		default:
			sp.TargetPort = p.TargetPort.IntVal // 0: the same as port
		}
		out.Ports = append(out.Ports, sp)
	}
	return out
}

func namedPorts(spec *corev1.PodSpec) map[string]int32 {
	out := map[string]int32{}
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name != "" {
				out[p.Name] = p.ContainerPort
			}
		}
	}
	return out
}

// readCluster lists the Services, the pods with an IP and the Istio
// ServiceEntries of every namespace of the kubeconfig's cluster (a
// cluster without Istio's CRDs has no ServiceEntries). The lists come
// through client-go's dynamic client and are decoded into the typed
// objects, as internal/kubeapply does: client-go's typed clientset links
// every API group, some 20 MB of binary.
func readCluster(ctx context.Context, kubeconfig, kubeContext string) (*kube, error) {
	cfg, _, err := kubeapply.ClientConfig(kubeconfig, kubeContext)
	if err != nil {
		return nil, cli.InputErrorf("%w (the Kubernetes side: give -f FILE|DIR, --local, or a kubeconfig)", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, &cli.InputError{Err: fmt.Errorf("kubernetes client: %w", err)}
	}
	var svcs []corev1.Service
	if err := list(ctx, dyn, corev1.SchemeGroupVersion.WithResource("services"), &svcs); err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	if err := list(ctx, dyn, corev1.SchemeGroupVersion.WithResource("pods"), &pods); err != nil {
		return nil, err
	}
	var k kube
	var entries []networkingv1.ServiceEntry
	switch err := list(ctx, dyn, networkingv1.SchemeGroupVersion.WithResource("serviceentries"), &entries); {
	case err == nil:
		for i := range entries {
			se := &entries[i]
			e := entryOf(se, se.Namespace)
			e.UID, e.ResourceVersion = se.UID, se.ResourceVersion
			k.entries = append(k.entries, e)
		}
	case !apierrors.IsNotFound(err):
		return nil, err
	}
	for i := range svcs {
		s := &svcs[i]
		k.services = append(k.services, serviceOf(s, s.Namespace, func(string) string { return "" }))
	}
	for i := range pods {
		p := &pods[i]
		if p.Status.PodIP == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		k.pods = append(k.pods, nacosscan.Pod{Namespace: p.Namespace, Name: p.Name, Workload: workloadOf(p), Labels: p.Labels,
			IP: p.Status.PodIP, ContainerPorts: namedPorts(&p.Spec), NacosClient: nacosscan.LooksLikeNacosClient(&p.Spec)})
	}
	return &k, nil
}

// list lists a resource of every namespace into out, decoded into its Go
// type.
func list[T any](ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, out *[]T) error {
	ul, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list %s: %w", gvr.Resource, err)
	}
	*out = make([]T, len(ul.Items))
	for i := range ul.Items {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(ul.Items[i].Object, &(*out)[i]); err != nil {
			return fmt.Errorf("list %s: %s/%s: %w", gvr.Resource, ul.Items[i].GetNamespace(), ul.Items[i].GetName(), err)
		}
	}
	return nil
}

// workloadOf names a pod's workload from its owner: a ReplicaSet's name
// less the pod-template-hash suffix the Deployment controller (label
// pod-template-hash) or the Argo Rollouts controller (label
// rollouts-pod-template-hash) gave it; any other owner by its name; else
// the pod's name.
func workloadOf(p *corev1.Pod) string {
	for _, o := range p.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		if o.Kind == "ReplicaSet" {
			for _, l := range []string{"rollouts-pod-template-hash", "pod-template-hash"} {
				if h := p.Labels[l]; h != "" {
					if name, ok := strings.CutSuffix(o.Name, "-"+h); ok {
						return name
					}
				}
			}
		}
		return o.Name
	}
	return p.Name
}

// localRuntime is what the scan reads of a running `graylane up` (a
// *adminapi.Client).
type localRuntime interface {
	Workloads(ctx context.Context) ([]adminapi.PodStatus, error)
	Services(ctx context.Context) ([]adminapi.ServiceStatus, error)
	ServiceEntries(ctx context.Context) ([]*networkingv1.ServiceEntry, error)
}

// readLocal lists the replicas, Services and ServiceEntries of a running
// `graylane up`: each replica is a pod at its process address
// (127.0.0.1:PORT), each Service has its ready endpoints as pods and the
// host the runtime's proxies route, and the ServiceEntries are those it
// routes by (applied with nacos fix --apply-service-entries, among others).
func readLocal(ctx context.Context, rt localRuntime) (*kube, error) {
	ws, err := rt.Workloads(ctx)
	if err != nil {
		return nil, err
	}
	ss, err := rt.Services(ctx)
	if err != nil {
		return nil, err
	}
	var pods []nacosscan.Pod
	for _, w := range ws {
		host, port, err := net.SplitHostPort(w.Address)
		if err != nil {
			continue // not started yet
		}
		p, _ := strconv.Atoi(port)
		_, name, _ := strings.Cut(w.Workload, "/") // "Deployment ns/name"
		pods = append(pods, nacosscan.Pod{Namespace: w.Namespace, Name: w.Name, Workload: name, Labels: w.Labels,
			IP: host, Port: p, Sidecar: w.Sidecar})
	}
	var svcs []nacosscan.Service
	for _, s := range ss {
		name, ns, ok := route.ServiceOf(s.Host)
		if !ok {
			continue
		}
		svc := nacosscan.Service{Namespace: ns, Name: name, Host: s.Host, Pods: []string{}}
		for _, e := range s.Endpoints {
			pod, _, _ := strings.Cut(e, "=")
			svc.Pods = append(svc.Pods, pod)
		}
		for _, p := range s.Ports {
			svc.Ports = append(svc.Ports, nacosscan.ServicePort{Port: p})
		}
		svcs = append(svcs, svc)
	}
	ses, err := rt.ServiceEntries(ctx)
	if err != nil {
		return nil, err
	}
	var entries []nacosscan.ServiceEntry
	for _, se := range ses {
		e := entryOf(se, se.Namespace)
		// The runtime's version of it (GET /v1/serviceentries), as
		// readCluster keeps the API server's: fix deletes it only as read.
		e.ResourceVersion = se.ResourceVersion
		entries = append(entries, e)
	}
	return &kube{services: svcs, pods: pods, entries: entries}, nil
}

// passthroughQuery sums Istio's requests to PassthroughCluster over the
// last window by caller and destination (istio_requests_total's standard
// labels: Istio "Standard Metrics"; destination_service is the request's
// host for passthrough traffic, istio/proxy extensions/common/context.cc):
// a series' value now less its value a window ago, or, for a series that
// did not exist then, all of it. (increase() would miss the requests a
// new series starts with, and a runtime that just started has only new
// series.)
func passthroughQuery(window time.Duration) string {
	const sel = `istio_requests_total{destination_service_name="` + route.PassthroughCluster + `"}`
	return `sum by (source_workload, source_workload_namespace, destination_service, destination_workload, destination_workload_namespace) ` +
		`((` + sel + ` - ` + sel + ` offset ` + model.Duration(window).String() + `) or ` + sel + `)`
}

// readEdges runs passthroughQuery as an instant query on the Prometheus
// at addr: the callers that called pod addresses in the last window, with
// their request counts; callers with none in the window (or whose counter
// was reset) are left out.
func readEdges(ctx context.Context, addr string, window time.Duration) ([]nacosscan.Edge, error) {
	c, err := promapi.NewClient(promapi.Config{Address: addr})
	if err != nil {
		return nil, &cli.InputError{Err: fmt.Errorf("--prometheus %q: %w", addr, err)}
	}
	v, _, _, err := promv1.NewAPI(c).Query(ctx, passthroughQuery(window), time.Now())
	if err != nil {
		var pe *promv1.Error
		if errors.As(err, &pe) && pe.Type == promv1.ErrBadData {
			return nil, &cli.InputError{Err: fmt.Errorf("prometheus at %s: %w", addr, err)}
		}
		return nil, fmt.Errorf("prometheus at %s: %w", addr, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("prometheus at %s: answered a %s, want a vector", addr, v.Type())
	}
	var out []nacosscan.Edge
	for _, s := range vec {
		n := math.Round(float64(s.Value))
		if !(n > 0) {
			continue
		}
		out = append(out, nacosscan.Edge{
			SourceWorkload: string(s.Metric["source_workload"]), SourceNamespace: string(s.Metric["source_workload_namespace"]),
			Destination:         string(s.Metric["destination_service"]),
			DestinationWorkload: string(s.Metric["destination_workload"]), DestinationNamespace: string(s.Metric["destination_workload_namespace"]),
			Requests: n,
		})
	}
	slices.SortFunc(out, func(a, b nacosscan.Edge) int {
		return cmp.Or(cmp.Compare(a.SourceWorkload, b.SourceWorkload), cmp.Compare(a.SourceNamespace, b.SourceNamespace),
			cmp.Compare(a.Destination, b.Destination), cmp.Compare(a.DestinationNamespace+"/"+a.DestinationWorkload, b.DestinationNamespace+"/"+b.DestinationWorkload))
	})
	return out, nil
}

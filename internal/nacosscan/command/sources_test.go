package command

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	nacosutil "github.com/nacos-group/nacos-sdk-go/v2/util"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
	"github.com/prometheus/client_golang/prometheus"
	networkingv1api "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/graylane/graylane/internal/kubetest"
	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosscan"
	"github.com/graylane/graylane/internal/nacosserver"
	"github.com/graylane/graylane/internal/promstore"
)

// startPrometheus serves the embedded Prometheus (internal/promstore)
// with Istio's istio_requests_total series, scraped 12 minutes ago, a
// minute ago and now. Since a minute ago web-v1 called the order pods by
// IP (PassthroughCluster), cron called an order pod the proxy named only
// by workload, and web-v1 called stock through its Service; the calls of
// mid-batch are between 12 minutes and a minute old, old-batch's older.
func startPrometheus(t *testing.T) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "istio_requests_total", Help: "Istio standard metric."},
		[]string{"reporter", "source_workload", "source_workload_namespace", "destination_service", "destination_service_name",
			"destination_workload", "destination_workload_namespace", "response_code"})
	reg.MustRegister(requests)
	// The series and their values at each scrape (-1: not there yet).
	series := []struct {
		labels []string
		values [3]float64
	}{
		{[]string{"source", "old-batch", "ops", "10.1.0.5:8082", "PassthroughCluster", "unknown", "unknown", "200"}, [3]float64{7, 7, 7}},
		{[]string{"source", "mid-batch", "ops", "10.1.0.6:8082", "PassthroughCluster", "unknown", "unknown", "200"}, [3]float64{-1, 5, 5}},
		{[]string{"source", "web-v1", "shop", "10.1.0.5:8082", "PassthroughCluster", "unknown", "unknown", "200"}, [3]float64{-1, 10, 50}},
		{[]string{"source", "web-v1", "shop", "10.1.0.6:8082", "PassthroughCluster", "unknown", "unknown", "200"}, [3]float64{-1, -1, 2}},
		{[]string{"source", "cron", "ops", "unknown", "PassthroughCluster", "order-service", "shop", "200"}, [3]float64{-1, -1, 1}},
		{[]string{"source", "web-v1", "shop", "stock.shop.svc.cluster.local", "stock", "stock", "shop", "200"}, [3]float64{-1, -1, 9}},
	}
	store, err := promstore.New(reg, promstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Now()
	for i, at := range []time.Time{now.Add(-12 * time.Minute), now.Add(-time.Minute), now} {
		for _, s := range series {
			if v := s.values[i]; v >= 0 {
				prev := 0.0
				if i > 0 && s.values[i-1] > 0 {
					prev = s.values[i-1]
				}
				requests.WithLabelValues(s.labels...).Add(v - prev)
			}
		}
		if err := store.ScrapeOnce(context.Background(), at); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(store.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestReadEdges: the PassthroughCluster query against the embedded
// Prometheus.
func TestReadEdges(t *testing.T) {
	prom := startPrometheus(t)
	got, err := readEdges(context.Background(), prom, DefaultWindow)
	if err != nil {
		t.Fatal(err)
	}
	want := []nacosscan.Edge{
		{SourceWorkload: "cron", SourceNamespace: "ops", Destination: "unknown", DestinationWorkload: "order-service", DestinationNamespace: "shop", Requests: 1},
		{SourceWorkload: "mid-batch", SourceNamespace: "ops", Destination: "10.1.0.6:8082", DestinationWorkload: "unknown", DestinationNamespace: "unknown", Requests: 5},
		{SourceWorkload: "web-v1", SourceNamespace: "shop", Destination: "10.1.0.5:8082", DestinationWorkload: "unknown", DestinationNamespace: "unknown", Requests: 50},
		{SourceWorkload: "web-v1", SourceNamespace: "shop", Destination: "10.1.0.6:8082", DestinationWorkload: "unknown", DestinationNamespace: "unknown", Requests: 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("edges (-want +got):\n%s", diff)
	}
	// In the last 30 s: web-v1's 40 new calls to 10.1.0.5, and the
	// series born since.
	got, err = readEdges(context.Background(), prom, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want = slices.Delete(want, 1, 2)
	want[1].Requests = 40
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("edges of the last 30s (-want +got):\n%s", diff)
	}
}

// TestScanManifestsPrometheus: with --prometheus the bypass names its
// caller and how many requests went around the Service.
func TestScanManifestsPrometheus(t *testing.T) {
	srv := startNacos(t)
	o := options(srv)
	o.Prometheus = startPrometheus(t)
	o.Output = "json"
	var out bytes.Buffer
	_ = Scan(context.Background(), o, &out, &out)
	var report struct{ Findings []nacosscan.Finding }
	if err := json.Unmarshal(out.Bytes(), &report); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var got []string
	for _, f := range report.Findings {
		if f.Kind == nacosscan.KindBypass {
			got = append(got, f.Caller+" -> "+f.NacosService+" "+ftoa(f.Requests))
		}
	}
	// Without pod IPs (manifests) the cron edge, which names only the
	// destination workload, cannot be placed.
	want := []string{"ops/mid-batch -> order-service 5", "shop/web-v1 -> order-service 52", " -> web 0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bypass callers (-want +got):\n%s", diff)
	}
}

func ftoa(f float64) string { b, _ := json.Marshal(f); return string(b) }

// TestScanCluster: the Kubernetes side from a real kube-apiserver:
// Services and pods (pod IPs set through the status subresource), the
// workload from the pods' ReplicaSet, callers from Prometheus and from
// Nacos's subscribers (an SDK client over gRPC and a 1.x push receiver).
func TestScanCluster(t *testing.T) {
	env := kubetest.Start(t)
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "order-service", Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "order-service"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 8082, TargetPort: intstr.FromString("http")}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "order-service-canary", Namespace: "shop"}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "order-service", "rollouts-pod-template-hash": "7c9f"},
			Ports:    []corev1.ServicePort{{Port: 8082, TargetPort: intstr.FromInt32(8082)}}}},
	} {
		if _, err := cs.CoreV1().Services("shop").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i, ip := range []string{"10.1.0.5", "10.1.0.6"} {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "order-service-7c9f-" + string(rune('a'+i)), Namespace: "shop",
				Labels: map[string]string{"app": "order-service", "rollouts-pod-template-hash": "7c9f"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "order-service-7c9f",
					UID: types.UID("0d1c5e1e-5ad6-4bb0-9d2c-3b8f3e0c0b0" + string(rune('1'+i))), Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8082}},
				Env:   []corev1.EnvVar{{Name: "SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR", Value: "nacos:8848"}}}}},
		}
		created, err := cs.CoreV1().Pods("shop").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
		if _, err := cs.CoreV1().Pods("shop").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	se := &networkingv1.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Name: "legacy-db", Namespace: "shop"}}
	se.Spec.Hosts = []string{"legacy-db.nacos"}
	se.Spec.Ports = []*networkingv1api.ServicePort{{Number: 3306, Name: "tcp", Protocol: "TCP"}}
	se.Spec.Resolution = networkingv1api.ServiceEntry_STATIC
	se.Spec.Endpoints = []*networkingv1api.WorkloadEntry{{Address: "192.168.1.9"}}
	if err := env.Client.Create(ctx, se); err != nil {
		t.Fatal(err)
	}

	// Two Nacos clients subscribe to order-service from pods of their own:
	// the official Go SDK over gRPC (it reports its host's address, which
	// is the checkout pod's IP here) and a 1.x client's push receiver in a
	// batch pod (v1 instance list with clientIP and udpPort).
	sdkIP := nacosutil.LocalIP()
	if sdkIP == "" {
		t.Fatal("the SDK finds no address of this host")
	}
	for i, p := range []struct{ name, rs, hash, ip string }{
		{"checkout-5d8f9-x1", "checkout-5d8f9", "5d8f9", sdkIP}, {"batch-66b4c-x2", "batch-66b4c", "66b4c", "10.1.0.21"},
	} {
		rs, hash := p.rs, p.hash
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: "shop", Labels: map[string]string{"pod-template-hash": hash},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs,
					UID: types.UID("0d1c5e1e-5ad6-4bb0-9d2c-3b8f3e0c0c0" + string(rune('1'+i))), Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}}},
		}
		created, err := cs.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: p.ip, PodIPs: []corev1.PodIP{{IP: p.ip}}}
		if _, err := cs.CoreV1().Pods("shop").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	srv := startNacos(t)
	subscribeSDK(t, srv, "order-service")
	listAsReceiver(t, srv, url.Values{"serviceName": {"order-service"}, "clientIP": {"10.1.0.21"}, "udpPort": {"53001"}})
	o := Options{Nacos: nacosclient.Options{Server: "http://" + srv.HTTPAddr()}, Kubeconfig: env.Kubeconfig,
		Prometheus: startPrometheus(t), Output: "json"}
	var out bytes.Buffer
	_ = Scan(ctx, o, &out, &out)
	var report struct{ Findings []nacosscan.Finding }
	if err := json.Unmarshal(out.Bytes(), &report); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var got []string
	for _, f := range report.Findings {
		got = append(got, f.Kind+" "+f.Caller+" "+f.NacosService+" "+f.Service+" "+f.Host+":"+ftoa(float64(f.Port))+" "+ftoa(f.Requests))
	}
	want := []string{
		// cron named no address, only the peer workload (the ReplicaSet's
		// name less the rollouts-pod-template-hash).
		"bypass ops/cron order-service shop/order-service order-service.shop.svc.cluster.local:8082 1",
		"bypass ops/mid-batch order-service shop/order-service order-service.shop.svc.cluster.local:8082 5",
		// The Nacos subscribers, named by the pods at their IPs (no
		// request counts).
		"bypass shop/batch order-service shop/order-service order-service.shop.svc.cluster.local:8082 0",
		"bypass shop/checkout order-service shop/order-service order-service.shop.svc.cluster.local:8082 0",
		"bypass shop/web-v1 order-service shop/order-service order-service.shop.svc.cluster.local:8082 52",
		// web has no pods in this cluster; legacy-db has a ServiceEntry.
		"nacos-only  web  :0 0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

// subscribeSDK subscribes to service with the official Go client
// (nacos-sdk-go v2.3.2, over gRPC) for the rest of the test.
func subscribeSDK(t *testing.T, srv *nacosserver.Server, service string) {
	t.Helper()
	host, p, _ := net.SplitHostPort(srv.HTTPAddr())
	port, _ := strconv.ParseUint(p, 10, 64)
	_, gp, _ := net.SplitHostPort(srv.GRPCAddr())
	grpcPort, _ := strconv.ParseUint(gp, 10, 64)
	c, err := clients.NewNamingClient(vo.NacosClientParam{
		ClientConfig: &constant.ClientConfig{TimeoutMs: 10000, NotLoadCacheAtStart: true, AppName: "checkout",
			CacheDir: t.TempDir(), LogDir: t.TempDir(), LogLevel: "error"},
		ServerConfigs: []constant.ServerConfig{{IpAddr: host, Port: port, GrpcPort: grpcPort, ContextPath: "/nacos", Scheme: "http"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseClient)
	if err := c.Subscribe(&vo.SubscribeParam{ServiceName: service, SubscribeCallback: func([]model.Instance, error) {}}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
}

// listAsReceiver is a 1.x client's instance list with a push receiver
// (clientIP, udpPort in q): Nacos records it as a subscriber.
func listAsReceiver(t *testing.T, srv *nacosserver.Server, q url.Values) {
	t.Helper()
	resp, err := http.Get("http://" + srv.HTTPAddr() + "/nacos/v1/ns/instance/list?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("instance list %v: HTTP %d", q, resp.StatusCode)
	}
}

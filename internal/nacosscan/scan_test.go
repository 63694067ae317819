package nacosscan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// brief is what the table tests compare of a finding.
type brief struct {
	Kind, Caller, Nacos, Service, Host string
	Port                               int32
	Addresses                          []string
	External                           bool
	Requests                           float64
	Where                              string
}

func briefs(fs []Finding) []brief {
	var out []brief
	for _, f := range fs {
		out = append(out, brief{f.Kind, f.Caller, f.NacosService, f.Service, f.Host, f.Port, f.Addresses, f.External, f.Requests, f.Where})
	}
	return out
}

func nacosSvc(name string, subs []Subscriber, addrs ...Instance) NacosService {
	return NacosService{Namespace: "public", Group: "DEFAULT_GROUP", Name: name, Instances: addrs, Subscribers: subs}
}

// cluster is a running shop: order (two pods, a Rollout with stable and
// canary Services), web calling it, payment with a named target port.
func cluster() Snapshot {
	return Snapshot{
		Services: []Service{
			{Namespace: "shop", Name: "order-service-canary", Selector: map[string]string{"app": "order-service", "rollouts-pod-template-hash": "abc"},
				Ports: []ServicePort{{Port: 8082, TargetPort: 8082}}},
			{Namespace: "shop", Name: "order-service", Selector: map[string]string{"app": "order-service"},
				Ports: []ServicePort{{Name: "http", Port: 8082, TargetPort: 8082}}},
			{Namespace: "shop", Name: "web", Selector: map[string]string{"app": "web"}, Ports: []ServicePort{{Port: 80, TargetPort: 8080}}},
			{Namespace: "shop", Name: "payment", Selector: map[string]string{"app": "payment"}, Ports: []ServicePort{{Port: 80, TargetPortName: "http"}}},
			{Namespace: "kube-system", Name: "kube-dns", Selector: map[string]string{"k8s-app": "kube-dns"}, Ports: []ServicePort{{Port: 53}}},
		},
		Pods: []Pod{
			{Namespace: "shop", Name: "order-1", Workload: "order-service", IP: "10.0.0.5", Labels: map[string]string{"app": "order-service", "rollouts-pod-template-hash": "abc"}, NacosClient: true},
			{Namespace: "shop", Name: "order-2", Workload: "order-service", IP: "10.0.0.6", Labels: map[string]string{"app": "order-service", "rollouts-pod-template-hash": "def"}, NacosClient: true},
			{Namespace: "shop", Name: "web-1", Workload: "web-v1", IP: "10.0.0.7", Labels: map[string]string{"app": "web"}, NacosClient: true},
			{Namespace: "shop", Name: "payment-1", Workload: "payment", IP: "10.0.0.8", Labels: map[string]string{"app": "payment"},
				ContainerPorts: map[string]int32{"http": 9000}, NacosClient: true},
			{Namespace: "kube-system", Name: "dns-1", IP: "10.0.0.2", Labels: map[string]string{"k8s-app": "kube-dns"}},
		},
	}
}

func TestScan(t *testing.T) {
	order := nacosSvc("order-service", nil, Instance{"10.0.0.5", 8082}, Instance{"10.0.0.6", 8082})
	web := nacosSvc("web", nil, Instance{"10.0.0.7", 8080})
	payment := nacosSvc("payment", nil, Instance{"10.0.0.8", 9000})
	orderAddrs := []string{"10.0.0.5:8082", "10.0.0.6:8082"}
	orderHost := "order-service.shop.svc.cluster.local"
	tests := []struct {
		name string
		edit func(*Snapshot)
		want []brief
	}{{
		name: "bypass by pod IP, caller unknown; the Service named like the Nacos service wins over canary",
		edit: func(s *Snapshot) { s.Nacos = []NacosService{order, web, payment} },
		want: []brief{
			{Kind: KindBypass, Nacos: "order-service", Service: "shop/order-service", Host: orderHost, Port: 8082, Addresses: orderAddrs, Where: "Service shop/order-service"},
			{Kind: KindBypass, Nacos: "payment", Service: "shop/payment", Host: "payment.shop.svc.cluster.local", Port: 80, Addresses: []string{"10.0.0.8:9000"}, Where: "Service shop/payment"},
			{Kind: KindBypass, Nacos: "web", Service: "shop/web", Host: "web.shop.svc.cluster.local", Port: 80, Addresses: []string{"10.0.0.7:8080"}, Where: "Service shop/web"},
		},
	}, {
		name: "callers from PassthroughCluster edges (by IP:PORT and by IP) and subscribers",
		edit: func(s *Snapshot) {
			o := order
			o.Subscribers = []Subscriber{{IP: "10.0.0.7"}, {IP: "192.168.9.9", App: "batch"}, {IP: "192.168.9.10"}}
			s.Nacos = []NacosService{o, web, payment}
			s.Edges = []Edge{
				{SourceWorkload: "web-v1", SourceNamespace: "shop", Destination: "10.0.0.5:8082", Requests: 12},
				{SourceWorkload: "web-v1", SourceNamespace: "shop", Destination: "10.0.0.6:8082", Requests: 3},
				{SourceWorkload: "cron", SourceNamespace: "ops", Destination: "10.0.0.6", Requests: 1},
				// Another port, the workload's all the same (Istio fills it in for
				// a pod): not a call to the instance.
				{SourceWorkload: "cron", SourceNamespace: "ops", Destination: "10.0.0.6:9999", DestinationWorkload: "order-service", DestinationNamespace: "shop", Requests: 100},
				{SourceWorkload: "unknown", SourceNamespace: "unknown", Destination: "10.0.0.5:8082", Requests: 5},
				// No host recorded, but the peer's workload (Istio's peer metadata).
				{SourceWorkload: "batch-v1", SourceNamespace: "ops", Destination: "unknown", DestinationWorkload: "order-service", DestinationNamespace: "shop", Requests: 2},
				{SourceWorkload: "batch-v1", SourceNamespace: "ops", Destination: "unknown", DestinationWorkload: "web-v1", DestinationNamespace: "shop", Requests: 7},
			}
		},
		want: []brief{
			{Kind: KindBypass, Caller: "192.168.9.10", Nacos: "order-service", Service: "shop/order-service", Host: orderHost, Port: 8082, Addresses: orderAddrs, Where: "Service shop/order-service"},
			{Kind: KindBypass, Caller: "batch", Nacos: "order-service", Service: "shop/order-service", Host: orderHost, Port: 8082, Addresses: orderAddrs, Where: "Service shop/order-service"},
			{Kind: KindBypass, Caller: "ops/batch-v1", Nacos: "order-service", Service: "shop/order-service", Host: orderHost, Port: 8082, Addresses: orderAddrs, Requests: 2, Where: "Service shop/order-service"},
			{Kind: KindBypass, Caller: "ops/cron", Nacos: "order-service", Service: "shop/order-service", Host: orderHost, Port: 8082, Addresses: orderAddrs, Requests: 1, Where: "Service shop/order-service"},
			{Kind: KindBypass, Caller: "shop/web-v1", Nacos: "order-service", Service: "shop/order-service", Host: orderHost, Port: 8082, Addresses: orderAddrs, Requests: 15, Where: "Service shop/order-service"},
			{Kind: KindBypass, Nacos: "payment", Service: "shop/payment", Host: "payment.shop.svc.cluster.local", Port: 80, Addresses: []string{"10.0.0.8:9000"}, Where: "Service shop/payment"},
			{Kind: KindBypass, Caller: "ops/batch-v1", Nacos: "web", Service: "shop/web", Host: "web.shop.svc.cluster.local", Port: 80, Addresses: []string{"10.0.0.7:8080"}, Requests: 7, Where: "Service shop/web"},
		},
	}, {
		name: "the shared configuration points order-service at its Service: reported only where the metrics show a caller going around it",
		edit: func(s *Snapshot) {
			s.Nacos = []NacosService{order, web}
			s.Shared = map[string]string{
				"spring.cloud.openfeign.client.config.order-service.url": "http://order-service.shop.svc.cluster.local:8082",
				"spring.cloud.openfeign.client.config.web.url":           "http://web.shop.svc.cluster.local:80/",
			}
			s.SharedName = "graylane-mesh.yaml"
			s.Edges = []Edge{{SourceWorkload: "legacy", SourceNamespace: "shop", Destination: "10.0.0.5:8082", Requests: 4}}
		},
		want: []brief{
			{Kind: KindBypass, Caller: "shop/legacy", Nacos: "order-service", Service: "shop/order-service", Host: orderHost, Port: 8082, Addresses: orderAddrs, Requests: 4, Where: "Service shop/order-service"},
			{Kind: KindMissing, Service: "shop/payment", Host: "payment.shop.svc.cluster.local", Where: "Service shop/payment"},
		},
	}, {
		name: "the seed's short form http://NAME:PORT counts as pointing at the Service",
		edit: func(s *Snapshot) {
			s.Nacos = []NacosService{order, web, payment}
			s.Shared = map[string]string{
				"spring.cloud.openfeign.client.config.order-service.url": "http://order-service:8082",
				"spring.cloud.openfeign.client.config.web.url":           "http://web.shop:80",
				"spring.cloud.openfeign.client.config.payment.url":       "http://payment.shop.svc:8080", // another port
			}
		},
		want: []brief{
			{Kind: KindBypass, Nacos: "payment", Service: "shop/payment", Host: "payment.shop.svc.cluster.local", Port: 80, Addresses: []string{"10.0.0.8:9000"}, Where: "Service shop/payment"},
		},
	}, {
		name: "a shared URL to another host does not count",
		edit: func(s *Snapshot) {
			s.Nacos = []NacosService{order, web, payment}
			s.Shared = map[string]string{"spring.cloud.openfeign.client.config.web.url": "http://web.other.svc.cluster.local:80"}
		},
		want: []brief{
			{Kind: KindBypass, Nacos: "order-service", Service: "shop/order-service", Host: orderHost, Port: 8082, Addresses: orderAddrs, Where: "Service shop/order-service"},
			{Kind: KindBypass, Nacos: "payment", Service: "shop/payment", Host: "payment.shop.svc.cluster.local", Port: 80, Addresses: []string{"10.0.0.8:9000"}, Where: "Service shop/payment"},
			{Kind: KindBypass, Nacos: "web", Service: "shop/web", Host: "web.shop.svc.cluster.local", Port: 80, Addresses: []string{"10.0.0.7:8080"}, Where: "Service shop/web"},
		},
	}, {
		name: "nacos-only: outside instances need a ServiceEntry; a pod port no Service targets; missing: web and payment not in Nacos",
		edit: func(s *Snapshot) {
			s.Nacos = []NacosService{
				nacosSvc("legacy-db", nil, Instance{"192.168.1.9", 3306}),
				nacosSvc("order-service", nil, Instance{"10.0.0.5", 9090}),
				nacosSvc("empty", nil),
			}
		},
		want: []brief{
			{Kind: KindNacosOnly, Nacos: "legacy-db", Addresses: []string{"192.168.1.9:3306"}, External: true, Where: "nacos public/DEFAULT_GROUP/legacy-db"},
			{Kind: KindNacosOnly, Nacos: "order-service", Addresses: []string{"10.0.0.5:9090"}, Where: "nacos public/DEFAULT_GROUP/order-service"},
			{Kind: KindMissing, Service: "shop/payment", Host: "payment.shop.svc.cluster.local", Where: "Service shop/payment"},
			{Kind: KindMissing, Service: "shop/web", Host: "web.shop.svc.cluster.local", Where: "Service shop/web"},
		},
	}, {
		name: "nacos-only: not reported when ServiceEntries cover every instance IP (by address or CIDR)",
		edit: func(s *Snapshot) {
			s.Nacos = []NacosService{
				nacosSvc("legacy-db", nil, Instance{"192.168.1.9", 3306}, Instance{"192.168.2.1", 3306}),
				nacosSvc("partly", nil, Instance{"192.168.1.9", 80}, Instance{"172.16.0.1", 80}),
				order, web, payment,
			}
			s.ServiceEntries = []ServiceEntry{{Namespace: "shop", Name: "db", Addresses: []string{"192.168.1.9", "192.168.2.0/24"}}}
		},
		want: []brief{
			{Kind: KindBypass, Nacos: "order-service", Service: "shop/order-service", Host: orderHost, Port: 8082, Addresses: orderAddrs, Where: "Service shop/order-service"},
			{Kind: KindBypass, Nacos: "payment", Service: "shop/payment", Host: "payment.shop.svc.cluster.local", Port: 80, Addresses: []string{"10.0.0.8:9000"}, Where: "Service shop/payment"},
			{Kind: KindBypass, Nacos: "web", Service: "shop/web", Host: "web.shop.svc.cluster.local", Port: 80, Addresses: []string{"10.0.0.7:8080"}, Where: "Service shop/web"},
			{Kind: KindNacosOnly, Nacos: "partly", Addresses: []string{"192.168.1.9:80", "172.16.0.1:80"}, External: true, Where: "nacos public/DEFAULT_GROUP/partly"},
		},
	}, {
		name: "missing: with Nacos clients known, only their Services are checked",
		edit: func(s *Snapshot) {
			s.Pods[2].NacosClient = false // web
			s.Nacos = []NacosService{order}
		},
		want: []brief{
			{Kind: KindBypass, Nacos: "order-service", Service: "shop/order-service", Host: orderHost, Port: 8082, Addresses: orderAddrs, Where: "Service shop/order-service"},
			{Kind: KindMissing, Service: "shop/payment", Host: "payment.shop.svc.cluster.local", Where: "Service shop/payment"},
		},
	}, {
		name: "missing: no pod looks like a Nacos client, every Service outside the system namespaces is checked",
		edit: func(s *Snapshot) {
			for i := range s.Pods {
				s.Pods[i].NacosClient = false
			}
			s.Nacos = []NacosService{order, payment}
		},
		want: []brief{
			{Kind: KindBypass, Nacos: "order-service", Service: "shop/order-service", Host: orderHost, Port: 8082, Addresses: orderAddrs, Where: "Service shop/order-service"},
			{Kind: KindBypass, Nacos: "payment", Service: "shop/payment", Host: "payment.shop.svc.cluster.local", Port: 80, Addresses: []string{"10.0.0.8:9000"}, Where: "Service shop/payment"},
			{Kind: KindMissing, Service: "shop/web", Host: "web.shop.svc.cluster.local", Where: "Service shop/web"},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := cluster()
			tc.edit(&s)
			if diff := cmp.Diff(tc.want, briefs(Scan(s))); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScanManifests: without pod IPs, a Nacos service is behind the
// Service of its name or of its pod templates' app label, on a port
// that targets the instance port; findings carry the file:line.
func TestScanManifests(t *testing.T) {
	s := Snapshot{
		Services: []Service{
			{Namespace: "shop", Name: "gray-order-service", Selector: map[string]string{"app": "order-service"}, Where: "shop.yaml:1",
				Ports: []ServicePort{{Port: 8082, TargetPortName: "http", Where: "shop.yaml:9"}}},
			{Namespace: "shop", Name: "payment", Selector: map[string]string{"app": "payment"}, Where: "shop.yaml:20",
				Ports: []ServicePort{{Port: 80, TargetPort: 9000, Where: "shop.yaml:27"}}},
			{Namespace: "shop", Name: "stock", Selector: map[string]string{"app": "stock"}, Where: "shop.yaml:40",
				Ports: []ServicePort{{Port: 80, Where: "shop.yaml:47"}}},
		},
		Pods: []Pod{
			{Namespace: "shop", Name: "order-service", Workload: "order-service", Labels: map[string]string{"app": "order-service"}, ContainerPorts: map[string]int32{"http": 8082}},
			{Namespace: "shop", Name: "payment", Workload: "payment", Labels: map[string]string{"app": "payment"}},
			{Namespace: "shop", Name: "stock", Workload: "stock", Labels: map[string]string{"app": "stock"}},
		},
		Nacos: []NacosService{
			nacosSvc("order-service", nil, Instance{"172.16.0.4", 8082}),
			nacosSvc("payment", nil, Instance{"172.16.0.5", 8080}), // port 8080: no Service port targets it
		},
	}
	want := []brief{
		{Kind: KindBypass, Nacos: "order-service", Service: "shop/gray-order-service", Host: "gray-order-service.shop.svc.cluster.local", Port: 8082, Addresses: []string{"172.16.0.4:8082"}, Where: "shop.yaml:9"},
		{Kind: KindNacosOnly, Nacos: "payment", Addresses: []string{"172.16.0.5:8080"}, External: true, Where: "nacos public/DEFAULT_GROUP/payment"},
		{Kind: KindMissing, Service: "shop/stock", Host: "stock.shop.svc.cluster.local", Where: "shop.yaml:40"},
	}
	got := Scan(s)
	if diff := cmp.Diff(want, briefs(got)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	wantText := []string{
		"shop.yaml:9: bypass: any Nacos client of order-service calls order-service (Nacos public/DEFAULT_GROUP/order-service) at pod addresses 172.16.0.4:8082, not through Service shop/gray-order-service: VirtualService routing, canary weights and lanes do not apply (point the client at http://gray-order-service.shop.svc.cluster.local:8082: spring.cloud.openfeign.client.config.order-service.url (graylane nacos fix writes it))",
		"nacos public/DEFAULT_GROUP/payment: nacos-only: payment (Nacos public/DEFAULT_GROUP/payment) has no Kubernetes Service: its instances 172.16.0.5:8080 are outside the mesh (add a ServiceEntry for them so the mesh knows the service (graylane nacos fix prints one))",
		"shop.yaml:40: missing-from-nacos: Service shop/stock: none of its pods is an instance of a Nacos service, so Nacos clients cannot discover it (register the app in Nacos (spring.cloud.nacos.discovery), or have its callers use http://stock.shop.svc.cluster.local)",
	}
	var gotText []string
	for _, f := range got {
		gotText = append(gotText, f.String())
	}
	if diff := cmp.Diff(wantText, gotText); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
}

// TestScanLocal: the local runtime runs every replica on 127.0.0.1 with
// its own port; a Service's pods are its endpoints and its host is the
// one the runtime routes.
func TestScanLocal(t *testing.T) {
	s := Snapshot{
		Services: []Service{{Namespace: "shop", Name: "order", Host: "order.shop.svc.cluster.local", Pods: []string{"order-v1-0", "order-v2-0"},
			Ports: []ServicePort{{Port: 8082}}}},
		Pods: []Pod{
			{Namespace: "shop", Name: "order-v1-0", Workload: "order-v1", IP: "127.0.0.1", Port: 40001, Sidecar: "127.0.0.1:40101", Labels: map[string]string{"app": "order"}},
			{Namespace: "shop", Name: "order-v2-0", Workload: "order-v2", IP: "127.0.0.1", Port: 40002, Sidecar: "127.0.0.1:40102", Labels: map[string]string{"app": "order"}},
			{Namespace: "shop", Name: "web-0", Workload: "web", IP: "127.0.0.1", Port: 40003, Labels: map[string]string{"app": "web"}},
		},
		Nacos: []NacosService{
			nacosSvc("order", []Subscriber{{IP: "127.0.0.1"}}, Instance{"127.0.0.1", 40001}, Instance{"127.0.0.1", 40102}),
			nacosSvc("other", nil, Instance{"127.0.0.1", 49999}),
		},
	}
	want := []brief{
		// A subscriber on 127.0.0.1 could be any replica: named by its IP.
		{Kind: KindBypass, Caller: "127.0.0.1", Nacos: "order", Service: "shop/order", Host: "order.shop.svc.cluster.local", Port: 8082,
			Addresses: []string{"127.0.0.1:40001", "127.0.0.1:40102"}, Where: "Service shop/order"},
		{Kind: KindNacosOnly, Nacos: "other", Addresses: []string{"127.0.0.1:49999"}, External: true, Where: "nacos public/DEFAULT_GROUP/other"},
	}
	if diff := cmp.Diff(want, briefs(Scan(s))); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

// TestScanLocalRollout: seed 000's shape in the local runtime: Nacos
// names order-service, the Services are gray-order-service and a canary
// and a stable Service (endpoints of one version each; the canary's name
// sorts first); the main Service, in front of every instance, wins.
func TestScanLocalRollout(t *testing.T) {
	labels := map[string]string{"app": "order-service"}
	s := Snapshot{
		Services: []Service{
			{Namespace: "shop", Name: "canary", Host: "canary.shop.svc.cluster.local", Pods: []string{"v2-0"}, Ports: []ServicePort{{Port: 8082}}},
			{Namespace: "shop", Name: "gray-order-service-stable", Host: "gray-order-service-stable.shop.svc.cluster.local", Pods: []string{"v1-0"}, Ports: []ServicePort{{Port: 8082}}},
			{Namespace: "shop", Name: "gray-order-service", Host: "gray-order-service.shop.svc.cluster.local", Pods: []string{"v1-0", "v2-0"}, Ports: []ServicePort{{Port: 8082}}},
		},
		Pods: []Pod{
			{Namespace: "shop", Name: "v1-0", Workload: "gray-order-service", IP: "127.0.0.1", Port: 40001, Labels: labels},
			{Namespace: "shop", Name: "v2-0", Workload: "gray-order-service", IP: "127.0.0.1", Port: 40002, Labels: labels},
		},
		Nacos: []NacosService{nacosSvc("order-service", nil, Instance{"127.0.0.1", 40001}, Instance{"127.0.0.1", 40002})},
	}
	want := []brief{{Kind: KindBypass, Nacos: "order-service", Service: "shop/gray-order-service", Host: "gray-order-service.shop.svc.cluster.local", Port: 8082,
		Addresses: []string{"127.0.0.1:40001", "127.0.0.1:40002"}, Where: "Service shop/gray-order-service"}}
	if diff := cmp.Diff(want, briefs(Scan(s))); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestLooksLikeNacosClient(t *testing.T) {
	tests := []struct {
		spec corev1.PodSpec
		want bool
	}{
		{corev1.PodSpec{Containers: []corev1.Container{{Env: []corev1.EnvVar{{Name: "SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR"}}}}}, true},
		{corev1.PodSpec{Containers: []corev1.Container{{Args: []string{"--spring.cloud.nacos.server-addr=nacos:8848"}}}}, true},
		{corev1.PodSpec{InitContainers: []corev1.Container{{Env: []corev1.EnvVar{{Name: "nacos_addr"}}}}}, true},
		{corev1.PodSpec{Containers: []corev1.Container{{Env: []corev1.EnvVar{{Name: "JAVA_OPTS"}}, Args: []string{"--server.port=8080"}}}}, false},
	}
	for i, tc := range tests {
		if got := LooksLikeNacosClient(&tc.spec); got != tc.want {
			t.Errorf("%d: got %v, want %v", i, got, tc.want)
		}
	}
}

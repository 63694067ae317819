package nacosscan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzScan: any names, addresses, ports, selectors and metric labels give
// findings without a panic, the same every time.
func FuzzScan(f *testing.F) {
	f.Add("order-service", "10.0.0.5", 8082, "order-service", "http", "10.0.0.5:8082", "spring.cloud.openfeign.client.config.order-service.url", "192.168.0.0/16")
	f.Add("Pay.Svc", "::1", 0, "pay", "", "[::1]", "x", "::1")
	f.Add("", "", -1, "", "", "", "", "")
	f.Fuzz(func(t *testing.T, name, ip string, port int, svc, portName, dest, sharedKey, entry string) {
		s := Snapshot{
			Nacos: []NacosService{{Namespace: "public", Group: "G", Name: name, Instances: []Instance{{IP: ip, Port: port}},
				Subscribers: []Subscriber{{IP: ip, App: name}}}},
			Services: []Service{
				{Namespace: "ns", Name: svc, Selector: map[string]string{"app": name}, Ports: []ServicePort{{Port: int32(port), TargetPortName: portName}}},
				{Namespace: "ns", Name: name, Pods: []string{svc}, Ports: []ServicePort{{Port: 80}}},
			},
			Pods: []Pod{
				{Namespace: "ns", Name: svc, Workload: name, IP: ip, Port: port, Labels: map[string]string{"app": name}, ContainerPorts: map[string]int32{portName: int32(port)}},
				{Namespace: "ns", Name: name, Labels: map[string]string{"app": svc}, NacosClient: true},
			},
			Edges:          []Edge{{SourceWorkload: name, SourceNamespace: "ns", Destination: dest, DestinationWorkload: name, DestinationNamespace: "ns", Requests: 1}},
			ServiceEntries: []ServiceEntry{{Namespace: "ns", Name: "e", Addresses: []string{entry}}},
			Shared:         map[string]string{sharedKey: dest},
			SharedName:     "mesh.yaml",
		}
		first := Scan(s)
		if diff := cmp.Diff(first, Scan(s)); diff != "" {
			t.Fatalf("two scans differ:\n%s", diff)
		}
		props, _ := Properties(first)
		_ = ServiceEntries(first, "ns")
		for k := range props {
			if k == "" {
				t.Fatalf("empty property key from %q", name)
			}
		}
	})
}

package nacosscan

import (
	"fmt"
	"testing"
)

// BenchmarkScan: a cluster of 1,000 Services with 3 pods each, all in
// Nacos, half of them called by IP according to the metrics; and the same
// from manifests (one pod template per Service, no IPs).
func BenchmarkScan(b *testing.B) {
	var s Snapshot
	for i := range 1000 {
		name := fmt.Sprintf("svc-%d", i)
		ns := fmt.Sprintf("ns-%d", i%20)
		s.Services = append(s.Services, Service{Namespace: ns, Name: name, Selector: map[string]string{"app": name},
			Ports: []ServicePort{{Port: 80, TargetPort: 8080}}})
		n := NacosService{Namespace: "public", Group: "DEFAULT_GROUP", Name: name}
		for j := range 3 {
			ip := fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j)
			s.Pods = append(s.Pods, Pod{Namespace: ns, Name: fmt.Sprintf("%s-%d", name, j), Workload: name, IP: ip,
				Labels: map[string]string{"app": name, "version": "v1"}, NacosClient: true})
			n.Instances = append(n.Instances, Instance{IP: ip, Port: 8080})
			if i%2 == 0 {
				s.Edges = append(s.Edges, Edge{SourceWorkload: "caller", SourceNamespace: "ns-0", Destination: ip + ":8080", Requests: 3})
			}
		}
		s.Nacos = append(s.Nacos, n)
	}
	run := func(b *testing.B, s Snapshot) {
		for b.Loop() {
			if fs := Scan(s); len(fs) != 1000 {
				b.Fatalf("%d findings", len(fs))
			}
		}
	}
	b.Run("cluster", func(b *testing.B) { run(b, s) })
	// From manifests: pod templates without IPs, matched by name.
	m := s
	m.Pods = nil
	for _, p := range s.Pods {
		if p.Name == p.Workload+"-0" {
			p.IP = ""
			m.Pods = append(m.Pods, p)
		}
	}
	b.Run("manifests", func(b *testing.B) { run(b, m) })
}

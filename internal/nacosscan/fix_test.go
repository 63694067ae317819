package nacosscan

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/render"
)

func TestProperties(t *testing.T) {
	bypass := func(nacos, host string, port int32) Finding {
		return Finding{Kind: KindBypass, NacosService: nacos, Host: host, Port: port}
	}
	tests := []struct {
		name      string
		findings  []Finding
		want      map[string]string
		conflicts []Conflict
	}{{
		name: "one URL per Nacos service, whatever the callers; names Spring cannot bind plainly in brackets",
		findings: []Finding{
			bypass("order-service", "order-service.shop.svc.cluster.local", 8082),
			bypass("order-service", "order-service.shop.svc.cluster.local", 8082), // a second caller
			bypass("Pay.Svc", "payment.shop.svc.cluster.local", 80),
			{Kind: KindNacosOnly, NacosService: "legacy", External: true},
			{Kind: KindMissing, Service: "shop/stock", Host: "stock.shop.svc.cluster.local"},
		},
		want: map[string]string{
			"spring.cloud.openfeign.client.config.order-service.url":              "http://order-service.shop.svc.cluster.local:8082",
			"spring.cloud.discovery.client.simple.instances.order-service[0].uri": "http://order-service.shop.svc.cluster.local:8082",
			"spring.cloud.openfeign.client.config.[Pay.Svc].url":                  "http://payment.shop.svc.cluster.local:80",
			"spring.cloud.discovery.client.simple.instances.[Pay.Svc][0].uri":     "http://payment.shop.svc.cluster.local:80",
			"spring.cloud.discovery.client.simple.order":                          "-1",
		},
	}, {
		name: "the same name to two Services is a conflict, left out",
		findings: []Finding{
			bypass("order", "order.shop.svc.cluster.local", 8082),
			bypass("order", "order.staging.svc.cluster.local", 8082),
		},
		want:      map[string]string{},
		conflicts: []Conflict{{Service: "order", URLs: []string{"http://order.shop.svc.cluster.local:8082", "http://order.staging.svc.cluster.local:8082"}}},
	}, {
		name:     "no bypass, no properties",
		findings: []Finding{{Kind: KindMissing, Service: "shop/stock"}},
		want:     map[string]string{},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, conflicts := Properties(tc.findings)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("properties (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.conflicts, conflicts); diff != "" {
				t.Errorf("conflicts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServiceEntries(t *testing.T) {
	findings := []Finding{
		{Kind: KindNacosOnly, NacosNamespace: "public", NacosGroup: "DEFAULT_GROUP", NacosService: "Legacy_DB", External: true,
			Addresses: []string{"192.168.1.9:3306", "192.168.1.8:3306", "192.168.1.8:3307"}},
		{Kind: KindNacosOnly, NacosNamespace: "public", NacosGroup: "BATCH", NacosService: "report", External: true, Addresses: []string{"10.9.0.1:80"}},
		{Kind: KindNacosOnly, NacosService: "pods-without-service", Addresses: []string{"10.0.0.5:9090"}},
		// Its name makes Legacy_DB's DNS label: an entry of its own.
		{Kind: KindNacosOnly, NacosNamespace: "public", NacosGroup: "DEFAULT_GROUP", NacosService: "legacy.db", External: true, Addresses: []string{"192.168.1.7:5432"}},
		{Kind: KindBypass, NacosService: "order", Host: "order.shop.svc.cluster.local", Port: 8082},
	}
	var got []string
	for _, se := range ServiceEntries(findings, "shop") {
		out, err := render.Encode(render.Object{Kind: "ServiceEntry", Namespace: se.Namespace, Name: se.Name, Value: se})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(out))
	}
	want := []string{`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  annotations:
    graylane.io/nacos-service: public/DEFAULT_GROUP/Legacy_DB
  labels:
    app.kubernetes.io/managed-by: graylane
  name: nacos-legacy-db
  namespace: shop
spec:
  addresses:
  - 192.168.1.8
  - 192.168.1.9
  endpoints:
  - address: 192.168.1.8
  - address: 192.168.1.9
  hosts:
  - legacy-db.nacos
  ports:
  - name: http-3306
    number: 3306
    protocol: HTTP
  - name: http-3307
    number: 3307
    protocol: HTTP
  resolution: STATIC
`, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  annotations:
    graylane.io/nacos-service: public/BATCH/report
  labels:
    app.kubernetes.io/managed-by: graylane
  name: nacos-report-batch
  namespace: shop
spec:
  addresses:
  - 10.9.0.1
  endpoints:
  - address: 10.9.0.1
  hosts:
  - report-batch.nacos
  ports:
  - name: http-80
    number: 80
    protocol: HTTP
  resolution: STATIC
`, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  annotations:
    graylane.io/nacos-service: public/DEFAULT_GROUP/legacy.db
  labels:
    app.kubernetes.io/managed-by: graylane
  name: nacos-legacy-db-2
  namespace: shop
spec:
  addresses:
  - 192.168.1.7
  endpoints:
  - address: 192.168.1.7
  hosts:
  - legacy-db-2.nacos
  ports:
  - name: http-5432
    number: 5432
    protocol: HTTP
  resolution: STATIC
`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ServiceEntries (-want +got):\n%s", diff)
	}
}

func TestStale(t *testing.T) {
	managed := func(ns, name, nacos string) ServiceEntry {
		return ServiceEntry{Namespace: ns, Name: name, NacosService: nacos}
	}
	made := ServiceEntries([]Finding{
		{Kind: KindNacosOnly, NacosNamespace: "public", NacosGroup: "DEFAULT_GROUP", NacosService: "web", External: true, Addresses: []string{"10.9.0.1:80"}},
	}, "shop")
	tests := []struct {
		name   string
		held   []ServiceEntry
		groups []string
		want   []StaleEntry
	}{{
		name: "what this run makes is not stale; a gone service's entry and one in an earlier namespace are, sorted",
		held: []ServiceEntry{
			managed("shop", "nacos-web", "public/DEFAULT_GROUP/web"),
			managed("shop", "nacos-legacy-db", "public/DEFAULT_GROUP/legacy-db"),
			managed("default", "nacos-web", "public/DEFAULT_GROUP/web"),
		},
		groups: []string{"DEFAULT_GROUP"},
		want: []StaleEntry{
			{Namespace: "default", Name: "nacos-web", NacosService: "public/DEFAULT_GROUP/web"},
			{Namespace: "shop", Name: "nacos-legacy-db", NacosService: "public/DEFAULT_GROUP/legacy-db"},
		},
	}, {
		name: "entries fix did not make, of another Nacos namespace or group, or with an annotation fix does not write, are left alone",
		held: []ServiceEntry{
			{Namespace: "shop", Name: "nacos-mine", NacosService: ""},
			managed("shop", "nacos-dev", "dev/DEFAULT_GROUP/pay"),
			managed("shop", "nacos-batch", "public/BATCH/report"),
			managed("shop", "nacos-odd", "public-DEFAULT_GROUP"),
			{Namespace: "shop", Name: "nacos-pay", NacosService: "public/PAY/pay", Where: "k8s/se.yaml:3"},
		},
		groups: []string{"DEFAULT_GROUP", "PAY"},
		want:   []StaleEntry{{Namespace: "shop", Name: "nacos-pay", NacosService: "public/PAY/pay", Where: "k8s/se.yaml:3"}},
	}, {
		name:   "a stale entry read from a cluster carries its UID and resourceVersion (its delete's preconditions)",
		held:   []ServiceEntry{{Namespace: "shop", Name: "nacos-pay", NacosService: "public/PAY/pay", UID: "u-1", ResourceVersion: "42"}},
		groups: []string{"PAY"},
		want:   []StaleEntry{{Namespace: "shop", Name: "nacos-pay", NacosService: "public/PAY/pay", UID: "u-1", ResourceVersion: "42"}},
	}, {
		name:   "none held: an empty list",
		groups: []string{"DEFAULT_GROUP"},
		want:   []StaleEntry{},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Stale(tc.held, made, "public", tc.groups)); diff != "" {
				t.Errorf("stale (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNacosServiceOf(t *testing.T) {
	labels := map[string]string{"app.kubernetes.io/managed-by": "graylane"}
	annots := map[string]string{"graylane.io/nacos-service": "public/DEFAULT_GROUP/web"}
	if got := NacosServiceOf(labels, annots); got != "public/DEFAULT_GROUP/web" {
		t.Errorf("managed: %q", got)
	}
	if got := NacosServiceOf(map[string]string{"app.kubernetes.io/managed-by": "helm"}, annots); got != "" {
		t.Errorf("taken over (label changed): %q, want none", got)
	}
}

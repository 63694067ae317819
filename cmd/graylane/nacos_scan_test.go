package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/nacosserver"
)

const nacosShop = `apiVersion: v1
kind: Service
metadata: {name: order-service, namespace: shop}
spec:
  selector: {app: order-service}
  ports: [{port: 8082}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: order-service, namespace: shop}
spec:
  selector: {matchLabels: {app: order-service}}
  template:
    metadata: {labels: {app: order-service}}
    spec: {containers: [{name: app, image: x}]}
`

// TestNacosScanFixExitCodes runs the commands against a real Nacos
// server: scan exits 1 on the bypass, fix publishes (0), scan then exits
// 0; a manifest that does not load is 2, a Nacos that is gone 1.
func TestNacosScanFixExitCodes(t *testing.T) {
	srv, err := nacosserver.Start(context.Background(), nacosserver.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.PostForm("http://"+srv.HTTPAddr()+"/nacos/v1/ns/instance",
		url.Values{"serviceName": {"order-service"}, "ip": {"10.1.0.5"}, "port": {"8082"}, "ephemeral": {"false"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/shop.yaml", []byte(nacosShop), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/bad.yaml", []byte("kind: Service\napiVersion: v1\nmetadata: {name: x}\nspec:\n  ports: [{port: notanumber}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GRAYLANE_NACOS_SERVER", "http://"+srv.HTTPAddr())
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nacos", "scan", "-f", dir + "/shop.yaml"}, 1, dir + "/shop.yaml:6: bypass: any Nacos client of order-service"},
		{[]string{"nacos", "fix", "--dry-run", "-f", dir + "/shop.yaml"}, 0, "would set 3 properties"},
		{[]string{"nacos", "fix", "-f", dir + "/shop.yaml"}, 0, "published, 3 properties set"},
		{[]string{"nacos", "fix", "-f", dir + "/shop.yaml"}, 0, "unchanged"},
		{[]string{"nacos", "scan", "-f", dir + "/shop.yaml", "-o", "json"}, 0, `"findings": []`},
		{[]string{"nacos", "scan", "-f", dir + "/bad.yaml"}, 2, "bad.yaml:5"},
	}
	for _, s := range steps {
		var out bytes.Buffer
		if code := run(context.Background(), s.args, &out, &out); code != s.code || !strings.Contains(out.String(), s.want) {
			t.Errorf("graylane %s: exit %d, want %d with %q:\n%s", strings.Join(s.args, " "), code, s.code, s.want, out.String())
		}
	}
	srv.Close()
	var out bytes.Buffer
	if code := run(context.Background(), []string{"nacos", "scan", "-f", dir + "/shop.yaml"}, &out, &out); code != 1 || !strings.Contains(out.String(), "nacos at") {
		t.Errorf("scan with Nacos gone: exit %d, want 1:\n%s", code, out.String())
	}
}

// TestNacosScanLocal: scan --local against a real `graylane up --nacos`:
// an instance registered at a replica's address (as a Spring Cloud client
// in the runtime registers itself) is a bypass of its Service, and fix
// points the clients at the host the runtime's proxies route.
func TestNacosScanLocal(t *testing.T) {
	t.Setenv("GRAYLANE_ADMIN", "")
	t.Setenv("GRAYLANE_NACOS_SERVER", "")
	admin := startUp(t, "-f", "../../examples/seed004/v1.yaml", "--nacos=127.0.0.1:0")
	rt := adminapi.New(admin)
	ctx := context.Background()
	addrs, err := rt.Addresses(ctx)
	if err != nil || addrs.Nacos == "" {
		t.Fatalf("addresses %+v: %v", addrs, err)
	}
	// A Service's pods are its ready replicas: wait for them.
	deadline := time.Now().Add(2 * time.Minute)
	for rd, err := rt.Ready(ctx); !rd.Ready; rd, err = rt.Ready(ctx) {
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("graylane up not ready: %+v %v", rd, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pods, err := rt.Workloads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every replica registers itself under its app label, as a Spring
	// Cloud client in the runtime does.
	var appa string
	for _, p := range pods {
		host, port, err := net.SplitHostPort(p.Address)
		if err != nil {
			t.Fatalf("%s's address %q: %v", p.Name, p.Address, err)
		}
		if p.Labels["app"] == "appa" {
			appa = p.Address
		}
		resp, err := http.PostForm("http://"+addrs.Nacos+"/nacos/v1/ns/instance",
			url.Values{"serviceName": {p.Labels["app"]}, "ip": {host}, "port": {port}, "ephemeral": {"false"}})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	var out bytes.Buffer
	code := run(ctx, []string{"nacos", "scan", "--local", "--admin", admin}, &out, &out)
	want := "Service default/appa: bypass: any Nacos client of appa calls appa (Nacos public/DEFAULT_GROUP/appa) at pod addresses " + appa
	if code != 1 || !strings.Contains(out.String(), want) {
		t.Errorf("scan --local: exit %d, want 1 with %q:\n%s", code, want, out.String())
	}
	out.Reset()
	code = run(ctx, []string{"nacos", "fix", "--local", "--admin", admin}, &out, &out)
	if want := "+ spring.cloud.openfeign.client.config.appa.url: http://appa.default.svc.cluster.local:8000"; code != 0 || !strings.Contains(out.String(), want) {
		t.Errorf("fix --local: exit %d, want 0 with %q:\n%s", code, want, out.String())
	}
	out.Reset()
	if code := run(ctx, []string{"nacos", "scan", "--local", "--admin", admin}, &out, &out); code != 0 {
		t.Errorf("scan --local after fix: exit %d, want 0:\n%s", code, out.String())
	}

	// A Nacos service outside the runtime gets a ServiceEntry, applied
	// through the runtime's admin apply: created, then unchanged.
	resp, err := http.PostForm("http://"+addrs.Nacos+"/nacos/v1/ns/instance",
		url.Values{"serviceName": {"pg"}, "ip": {"192.168.7.7"}, "port": {"5432"}, "ephemeral": {"false"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	out.Reset()
	if code := run(ctx, []string{"nacos", "scan", "--local", "--admin", admin}, &out, &out); code != 1 || !strings.Contains(out.String(), "nacos-only") || !strings.Contains(out.String(), "pg") {
		t.Errorf("scan --local with pg in Nacos only: exit %d, want 1 with a nacos-only finding for pg:\n%s", code, out.String())
	}
	for _, want := range []string{"ServiceEntry default/nacos-pg: created\n", "ServiceEntry default/nacos-pg: unchanged\n"} {
		out.Reset()
		code := run(ctx, []string{"nacos", "fix", "--local", "--admin", admin, "--apply-service-entries"}, &out, &out)
		if code != 0 || !strings.Contains(out.String(), want) {
			t.Errorf("fix --local --apply-service-entries: exit %d, want 0 with %q:\n%s", code, want, out.String())
		}
	}
	// The scan reads the applied entry back: pg is no longer nacos-only.
	out.Reset()
	if code := run(ctx, []string{"nacos", "scan", "--local", "--admin", admin}, &out, &out); code != 0 || strings.Contains(out.String(), "pg") {
		t.Errorf("scan --local after the ServiceEntry: exit %d, want 0 and no finding for pg:\n%s", code, out.String())
	}
	out.Reset()
	code = run(ctx, []string{"nacos", "fix", "-f", "../../examples/seed004/v1.yaml", "--apply-service-entries"}, &out, &out)
	if want := "not with -f"; code != 2 || !strings.Contains(out.String(), want) {
		t.Errorf("fix -f --apply-service-entries: exit %d, want 2 with %q:\n%s", code, want, out.String())
	}
}

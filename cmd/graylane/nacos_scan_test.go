package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

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

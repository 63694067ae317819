package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGolden runs commands and compares stdout+stderr with testdata/NAME.golden.
func TestGolden(t *testing.T) {
	const ex = "../../examples/"
	const mirroring = "../../internal/route/testdata/istio.io/content/en/docs/tasks/traffic-management/mirroring/"
	const bookinfo = "../../internal/route/testdata/istio/samples/bookinfo/networking/"
	const bookinfoRoot = "../../internal/route/testdata/istio/samples/bookinfo/"
	tests := []struct {
		name     string
		args     []string
		wantCode int
	}{
		{"route-gateway-text", []string{"route", "-f", ex + "seed004", "--url", "http://192.168.1.106:86/", "--gateway", "istio-system/app-gw"}, 0},
		{"route-gateway-json", []string{"route", "-f", ex + "seed004", "--url", "http://192.168.1.106/", "--gateway", "istio-system/app-gw", "-o", "json"}, 0},
		{"route-sourcelabels-yaml", []string{"route", "-f", ex + "seed004", "--url", "http://appb:8000/", "--source-labels", "app=appa,version=v2", "-o", "yaml"}, 0},
		{"route-header-regex", []string{"route", "-f", ex + "seed004", "-f", ex + "seed004-headers", "--url", "http://192.168.1.106/", "--gateway", "istio-system/app-gw", "-H", "version: v1"}, 0},
		{"route-cookie-json", []string{"route", "-f", ex + "seed002", "--url", "http://test-A:8080/", "--source-namespace", "prod", "-H", "Cookie: tenantGray=1; rememberMe=", "-o", "json"}, 0},
		{"route-passthrough", []string{"route", "-f", ex + "seed004", "--url", "http://payment:9000/pay?x=1", "-X", "post"}, 0},
		{"route-gateway-bare", []string{"route", "-f", ex + "seed004", "--url", "http://192.168.1.106/", "--gateway", "app-gw"}, 0},
		// Upstream Istio samples (copies under internal/route/testdata, see its README.md).
		{"route-bookinfo-gateway-bare", []string{"route", "-f", bookinfoRoot + "platform/kube/bookinfo.yaml", "-f", bookinfoRoot + "networking/bookinfo-gateway.yaml", "--url", "http://bookinfo.example.com/productpage", "--gateway", "bookinfo-gateway"}, 0},
		{"route-tcp-echo-not-evaluated", []string{"route", "-f", "../../internal/route/testdata/istio/samples/tcp-echo/", "--url", "http://tcp-echo:31400/", "--gateway", "tcp-echo-gateway"}, 0},
		{"route-no-vhost", []string{"route", "-f", ex + "seed004", "--url", "http://example.com/", "--gateway", "istio-system/app-gw", "-o", "json"}, 0},
		{"simulate-gateway-text", []string{"simulate", "-f", ex + "seed004", "--url", "http://192.168.1.106/", "--gateway", "istio-system/app-gw", "--calls", "appa->appb", "--requests", "2000"}, 0},
		{"simulate-chain-json", []string{"simulate", "-f", ex + "seed003", "--url", "http://order-service:8080/", "--calls", "order-service->payment-service->logistics-service", "--requests", "10", "-o", "json"}, 0},
		{"route-fault-abort", []string{"route", "-f", bookinfo + "virtual-service-ratings-test-abort.yaml", "-f", bookinfo + "destination-rule-all.yaml", "--url", "http://ratings:9080/", "-H", "end-user: jason"}, 0},
		{"route-fault-delay-json", []string{"route", "-f", bookinfo + "virtual-service-ratings-test-delay.yaml", "-f", bookinfo + "destination-rule-all.yaml", "--url", "http://ratings:9080/", "-H", "end-user: jason", "-o", "json"}, 0},
		{"route-mirror", []string{"route", "-f", mirroring + "snip_creating_a_default_routing_policy_1.yaml", "-f", mirroring + "snip_mirroring_traffic_to_v2_1.yaml", "--url", "http://httpbin:8000/headers"}, 0},
		{"route-multiport-no-cluster", []string{"route", "-f", "testdata/route-multiport.yaml", "--url", "http://shop.example.com/", "--gateway", "istio-system/gw"}, 0},
		{"route-multiport-listener-port", []string{"route", "-f", "testdata/route-multiport.yaml", "--url", "http://shop.example.com:8080/", "--gateway", "istio-system/gw"}, 0},
		{"error-broken-manifest", []string{"route", "-f", ex + "seed004-broken", "--url", "http://appb:8000/"}, 2},
		{"error-missing-url", []string{"route", "-f", ex + "seed004"}, 2},
		{"error-bad-flag", []string{"route", "--nope"}, 2},
		{"error-bad-output", []string{"route", "-f", ex + "seed004", "--url", "http://a/", "-o", "xml"}, 2},
		{"error-bad-header", []string{"route", "-f", ex + "seed004", "--url", "http://a/", "-H", "novalue"}, 2},
		{"error-bad-gateway", []string{"route", "-f", ex + "seed004", "--url", "http://a/", "--gateway", "nope"}, 2},
		{"error-cycle", []string{"simulate", "-f", ex + "seed004", "--url", "http://appa:8000/", "--calls", "appa->appb->appa"}, 2},
		{"error-bad-calls", []string{"simulate", "-f", ex + "seed004", "--url", "http://appa:8000/", "--calls", "appa"}, 2},
		{"error-no-such-file", []string{"route", "-f", ex + "nope.yaml", "--url", "http://a/"}, 2},
		{"error-up-broken", []string{"up", "-f", ex + "seed004-broken", "--admin", "127.0.0.1:0", "--client-proxy", "", "--gateway-port", "0"}, 2},
		{"error-up-image", []string{"up", "-f", ex + "seed004", "--image", "nope", "--admin", "127.0.0.1:0"}, 2},
		{"error-up-images-file", []string{"up", "-f", ex + "seed004", "--images", "testdata/images-bad.yaml", "--admin", "127.0.0.1:0"}, 2},
		{"error-logs-not-local", []string{"logs", "order"}, 2},
		{"error-get-not-local", []string{"get", "workloads"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(context.Background(), tc.args, &out, &out)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tc.wantCode, out.String())
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVersionJSON(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"version", "-o", "json"}, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	var info map[string]any
	if err := json.Unmarshal(out.Bytes(), &info); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	for _, k := range []string{"version", "goVersion", "platform"} {
		if _, ok := info[k]; !ok {
			t.Errorf("missing %q in %s", k, out.String())
		}
	}
}

// TestRouteJSONContract checks the documented JSON field names scripts use.
func TestRouteJSONContract(t *testing.T) {
	var out bytes.Buffer
	args := []string{"route", "-f", "../../examples/seed004", "--url", "http://192.168.1.106/", "--gateway", "istio-system/app-gw", "-o", "json"}
	if code := run(context.Background(), args, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"status", "virtualService", "delegate", "routeIndex", "routeName", "destinations", "requestHeaders", "findings"} {
		if _, ok := got[k]; !ok {
			t.Errorf("missing field %q", k)
		}
	}
	var dests []map[string]any
	if err := json.Unmarshal(got["destinations"], &dests); err != nil || len(dests) != 2 {
		t.Fatalf("destinations: %v %s", err, got["destinations"])
	}
	for _, k := range []string{"host", "subset", "port", "weight", "labels"} {
		if _, ok := dests[0][k]; !ok {
			t.Errorf("destination lacks %q", k)
		}
	}
	if !strings.Contains(string(got["delegate"]), "default/vs-appa") {
		t.Errorf("delegate = %s", got["delegate"])
	}
}

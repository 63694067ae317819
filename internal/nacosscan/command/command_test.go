package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosscan"
	"github.com/graylane/graylane/internal/nacosserver"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// startNacos starts the project's Nacos server on loopback with the shop's
// instances registered (persistent, so no beats are needed).
func startNacos(t *testing.T) *nacosserver.Server {
	t.Helper()
	srv, err := nacosserver.Start(context.Background(), nacosserver.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, in := range []struct {
		service, ip string
		port        int
	}{
		{"order-service", "10.1.0.5", 8082}, {"order-service", "10.1.0.6", 8082},
		{"web", "10.1.0.7", 8080}, {"legacy-db", "192.168.1.9", 3306},
	} {
		register(t, srv, in.service, in.ip, in.port)
	}
	return srv
}

func register(t *testing.T, srv *nacosserver.Server, service, ip string, port int) {
	t.Helper()
	form := url.Values{"serviceName": {service}, "ip": {ip}, "port": {strconv.Itoa(port)}, "ephemeral": {"false"}}
	resp, err := http.PostForm("http://"+srv.HTTPAddr()+"/nacos/v1/ns/instance", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("register %s %s:%d: %d %s", service, ip, port, resp.StatusCode, body)
	}
}

// deregister takes an instance out of Nacos (DELETE
// /nacos/v1/ns/instance, Nacos's Open API).
func deregister(t *testing.T, srv *nacosserver.Server, service, ip string, port int) {
	t.Helper()
	q := url.Values{"serviceName": {service}, "ip": {ip}, "port": {strconv.Itoa(port)}, "ephemeral": {"false"}}
	req, err := http.NewRequest(http.MethodDelete, "http://"+srv.HTTPAddr()+"/nacos/v1/ns/instance?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("deregister %s %s:%d: %d %s", service, ip, port, resp.StatusCode, body)
	}
}

func options(srv *nacosserver.Server) Options {
	return Options{Nacos: nacosclient.Options{Server: "http://" + srv.HTTPAddr()}, Files: []string{"testdata/shop.yaml"}}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestScanManifests: manifests against a real Nacos server; findings
// located at the manifests' lines, text and JSON, FindingsError.
func TestScanManifests(t *testing.T) {
	srv := startNacos(t)
	var out, errOut bytes.Buffer
	err := Scan(context.Background(), options(srv), &out, &errOut)
	var fe *FindingsError
	if !errors.As(err, &fe) || fe.N != 4 {
		t.Fatalf("Scan = %v, want 4 findings; stderr: %s", err, errOut.String())
	}
	golden(t, "scan.golden", out.Bytes())

	o := options(srv)
	o.Output = "json"
	out.Reset()
	_ = Scan(context.Background(), o, &out, &errOut)
	var report struct {
		Findings []nacosscan.Finding `json:"findings"`
	}
	if err := json.Unmarshal(out.Bytes(), &report); err != nil {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	var kinds []string
	for _, f := range report.Findings {
		kinds = append(kinds, f.Kind+" "+f.NacosService+f.Service+" "+f.Where)
	}
	want := []string{
		"bypass order-serviceshop/gray-order-service testdata/shop.yaml:12",
		"bypass webshop/web testdata/shop.yaml:45",
		"nacos-only legacy-db nacos public/DEFAULT_GROUP/legacy-db",
		"missing-from-nacos shop/stock testdata/shop.yaml:66",
	}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("json findings (-want +got):\n%s", diff)
	}
}

// TestScanInputErrors: bad inputs are input errors (exit code 2), found
// before Nacos is asked; an unreachable Nacos is not.
func TestScanInputErrors(t *testing.T) {
	srv := startNacos(t)
	bad := t.TempDir() + "/bad.yaml"
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: notanumber}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"manifest", func(o *Options) { o.Files = []string{bad} }, "bad.yaml:5"},
		{"two sources", func(o *Options) { o.Local = true }, "give one of -f"},
		{"prometheus URL", func(o *Options) { o.Prometheus = "localhost:9090" }, "want an http:// or https:// URL"},
		{"data id", func(o *Options) { o.DataID = "mesh.json" }, `--data-id "mesh.json"`},
		{"server URL", func(o *Options) { o.Nacos.Server = "ftp://x" }, "--server"},
		{"output", func(o *Options) { o.Output = "xml" }, "--output"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := options(srv)
			tc.edit(&o)
			err := Scan(context.Background(), o, io.Discard, io.Discard)
			var in *cli.InputError
			if !errors.As(err, &in) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Scan = %v, want an input error with %q", err, tc.want)
			}
		})
	}
	o := options(srv)
	srv.Close()
	err := Scan(context.Background(), o, io.Discard, io.Discard)
	var in *cli.InputError
	var fe *FindingsError
	if err == nil || errors.As(err, &in) || errors.As(err, &fe) || !strings.Contains(err.Error(), "nacos at") {
		t.Errorf("Scan with Nacos gone = %v, want a failure to reach it", err)
	}
}

// TestScanRelease: a Graylane Release (seed 000's order-service) is
// rendered first; its Service fronts the Nacos instances, located at the
// Release.
func TestScanRelease(t *testing.T) {
	srv := startNacos(t)
	o := options(srv)
	o.Files = []string{"../../../examples/kubernetes/seed000.yaml"}
	var out bytes.Buffer
	err := Scan(context.Background(), o, &out, &out)
	var fe *FindingsError
	if !errors.As(err, &fe) {
		t.Fatalf("Scan = %v:\n%s", err, out.String())
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		where, rest, _ := strings.Cut(line, ": ")
		kind, _, _ := strings.Cut(rest, ":")
		got = append(got, where+" "+kind)
	}
	want := []string{
		"../../../examples/kubernetes/seed000.yaml:4 bypass",
		"nacos public/DEFAULT_GROUP/legacy-db nacos-only",
		"nacos public/DEFAULT_GROUP/web nacos-only",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s\n%s", diff, out.String())
	}
	if !strings.Contains(out.String(), "point the client at http://order-service.shop.svc.cluster.local:8082") {
		t.Errorf("the hint does not name the Release's Service:\n%s", out.String())
	}
}

// TestScanGroups: every --group is read; a service of another group is
// reported with its group.
func TestScanGroups(t *testing.T) {
	srv := startNacos(t)
	form := url.Values{"serviceName": {"stock"}, "groupName": {"WAREHOUSE"}, "ip": {"10.1.0.9"}, "port": {"80"}, "ephemeral": {"false"}}
	resp, err := http.PostForm("http://"+srv.HTTPAddr()+"/nacos/v1/ns/instance", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, tc := range []struct {
		groups []string
		want   []string
	}{
		{nil, []string{"DEFAULT_GROUP/order-service bypass", "DEFAULT_GROUP/web bypass", "DEFAULT_GROUP/legacy-db nacos-only", " missing-from-nacos"}},
		// Missing from the groups read: order-service and web are in another.
		{[]string{"WAREHOUSE"}, []string{"WAREHOUSE/stock bypass", " missing-from-nacos", " missing-from-nacos"}},
		{[]string{"DEFAULT_GROUP", "WAREHOUSE"}, []string{"DEFAULT_GROUP/order-service bypass", "DEFAULT_GROUP/web bypass", "WAREHOUSE/stock bypass", "DEFAULT_GROUP/legacy-db nacos-only"}},
	} {
		o := options(srv)
		o.Groups, o.Output = tc.groups, "json"
		var out bytes.Buffer
		_ = Scan(context.Background(), o, &out, &out)
		var report struct{ Findings []nacosscan.Finding }
		if err := json.Unmarshal(out.Bytes(), &report); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		var got []string
		for _, f := range report.Findings {
			g := f.NacosGroup + "/" + f.NacosService
			if f.Kind == nacosscan.KindMissing {
				g = ""
			}
			got = append(got, g+" "+f.Kind)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("groups %v (-want +got):\n%s", tc.groups, diff)
		}
	}
}

// TestScanSubscribers: without pod IPs (manifests) a Nacos subscriber is
// named by the app it reported; a Nacos that answers 404 for the
// subscriber listing (an old one, here a proxy in front of the real
// server) is no error: the scan goes on without subscribers and warns once.
func TestScanSubscribers(t *testing.T) {
	srv := startNacos(t)
	for _, svc := range []string{"web", "order-service"} {
		listAsReceiver(t, srv, url.Values{"serviceName": {svc}, "clientIP": {"10.1.0.30"}, "udpPort": {"53001"}, "app": {"billing"}})
	}
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/nacos/v1/ns/service/subscribers" {
			http.NotFound(w, r)
			return
		}
		httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: srv.HTTPAddr()}).ServeHTTP(w, r)
	}))
	t.Cleanup(old.Close)

	for _, tc := range []struct {
		server  string
		callers []string
		warning string
	}{
		{"http://" + srv.HTTPAddr(), []string{"billing order-service", "billing web", " legacy-db", " "}, ""},
		{old.URL, []string{" order-service", " web", " legacy-db", " "},
			"warning: the Nacos server does not list subscribers (GET /nacos/v1/ns/service/subscribers answers 404): the callers come from the metrics only\n"},
	} {
		o := options(srv)
		o.Nacos.Server, o.Nacos.Protocol, o.Output = tc.server, nacosclient.ProtocolHTTP, "json"
		var out, errOut bytes.Buffer
		err := Scan(context.Background(), o, &out, &errOut)
		var fe *FindingsError
		if !errors.As(err, &fe) {
			t.Fatalf("%s: Scan = %v, want findings; stderr %s", tc.server, err, errOut.String())
		}
		var report struct{ Findings []nacosscan.Finding }
		if err := json.Unmarshal(out.Bytes(), &report); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		var got []string
		for _, f := range report.Findings {
			got = append(got, f.Caller+" "+f.NacosService)
		}
		if diff := cmp.Diff(tc.callers, got); diff != "" {
			t.Errorf("%s: callers (-want +got):\n%s", tc.server, diff)
		}
		if diff := cmp.Diff(tc.warning, errOut.String()); diff != "" {
			t.Errorf("%s: stderr (-want +got):\n%s", tc.server, diff)
		}
	}
}

package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosscan"
	"github.com/graylane/graylane/internal/nacosserver"
	"github.com/graylane/graylane/internal/springprops"
)

func nacosClient(t *testing.T, srv *nacosserver.Server) *nacosclient.Client {
	t.Helper()
	c, err := nacosclient.New(context.Background(), nacosclient.Options{Server: "http://" + srv.HTTPAddr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func fix(t *testing.T, o FixOptions) (*FixResult, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	o.Output = "json"
	if err := Fix(context.Background(), o, &out, &errOut); err != nil {
		t.Fatalf("Fix: %v; stderr: %s", err, errOut.String())
	}
	var res FixResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	o.Output = "text"
	return &res, out.String()
}

var wantProps = map[string]string{
	"spring.cloud.openfeign.client.config.order-service.url":              "http://gray-order-service.shop.svc.cluster.local:8082",
	"spring.cloud.discovery.client.simple.instances.order-service[0].uri": "http://gray-order-service.shop.svc.cluster.local:8082",
	"spring.cloud.openfeign.client.config.web.url":                        "http://web.shop.svc.cluster.local:80",
	"spring.cloud.discovery.client.simple.instances.web[0].uri":           "http://web.shop.svc.cluster.local:80",
	"spring.cloud.discovery.client.simple.order":                          "-1",
}

// TestFix: --dry-run changes nothing; fix publishes the properties next
// to what users wrote, writes the ServiceEntries; a second run changes
// nothing (same md5, "unchanged"), and scan no longer reports the fixed
// bypasses.
func TestFix(t *testing.T) {
	srv := startNacos(t)
	nc := nacosClient(t, srv)
	ctx := context.Background()
	const user = "# ours\nserver:\n  port: 8080\n"
	if err := nc.PublishConfig(ctx, DefaultDataID, "", user, "yaml", ""); err != nil {
		t.Fatal(err)
	}
	entries := t.TempDir() + "/entries.yaml"
	o := FixOptions{Options: options(srv), ServiceEntries: entries, ServiceEntryNamespace: "shop"}

	dry := o
	dry.DryRun = true
	res, _ := fix(t, dry)
	if diff := cmp.Diff(wantProps, res.Changes); diff != "" || res.Published || res.Unchanged {
		t.Errorf("dry run: published %v, unchanged %v, changes (-want +got):\n%s", res.Published, res.Unchanged, diff)
	}
	if cfg, _ := nc.GetConfig(ctx, DefaultDataID, ""); cfg.Content != user {
		t.Errorf("dry run changed the configuration:\n%s", cfg.Content)
	}
	if _, err := os.Stat(entries); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dry run wrote %s: %v", entries, err)
	}

	res, _ = fix(t, o)
	cfg, err := nc.GetConfig(ctx, DefaultDataID, "")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Published || res.MD5 != cfg.MD5 || res.Attempts != 1 {
		t.Errorf("fix: published %v, md5 %s (stored %s), attempts %d", res.Published, res.MD5, cfg.MD5, res.Attempts)
	}
	golden(t, "fix-published.yaml", []byte(cfg.Content))
	got, err := springprops.Parse([]byte(cfg.Content), springprops.YAML)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range wantProps {
		if got[k] != v {
			t.Errorf("stored %s = %q, want %q", k, got[k], v)
		}
	}
	if got["server.port"] != "8080" {
		t.Errorf("the users' server.port is gone:\n%s", cfg.Content)
	}
	se, err := os.ReadFile(entries)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "fix-entries.yaml", se)

	res, text := fix(t, o)
	after, _ := nc.GetConfig(ctx, DefaultDataID, "")
	if !res.Unchanged || res.Published || res.MD5 != cfg.MD5 || after.MD5 != cfg.MD5 || len(res.Changes) != 0 {
		t.Errorf("second fix: unchanged %v, published %v, md5 %s (before %s, stored %s), changes %v", res.Unchanged, res.Published, res.MD5, cfg.MD5, after.MD5, res.Changes)
	}
	var out bytes.Buffer
	o.Output = "text"
	if err := Fix(ctx, o, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "graylane-mesh.yaml (group DEFAULT_GROUP, namespace public): unchanged (md5 "+cfg.MD5+")") {
		t.Errorf("second fix text:\n%s\n(json: %s)", out.String(), text)
	}

	// With the ServiceEntries applied (here: read with the manifests),
	// only the Service missing from Nacos is left.
	out.Reset()
	so := options(srv)
	so.Files = append(so.Files, entries)
	var fe *FindingsError
	if err := Scan(ctx, so, &out, &out); !errors.As(err, &fe) || fe.N != 1 || !strings.Contains(out.String(), "missing-from-nacos: Service shop/stock") {
		t.Errorf("scan after fix = %v, want 1 finding (stock missing from Nacos):\n%s", err, out.String())
	}
}

// TestFixConcurrentEdit: a user edits the configuration between fix's
// read and its publish; the compare-and-swap fails, fix reads again and
// merges again, and the user's edit is kept.
func TestFixConcurrentEdit(t *testing.T) {
	srv := startNacos(t)
	nc := nacosClient(t, srv)
	ctx := context.Background()
	const dataID = "mesh.properties"
	if err := nc.PublishConfig(ctx, dataID, "", "# team settings\nfeature.x=1\n", "properties", ""); err != nil {
		t.Fatal(err)
	}
	const edit = "# team settings\nfeature.x=2\nfeature.y=on\n"
	o := FixOptions{Options: options(srv)}
	o.DataID = dataID
	var edits []int
	o.beforePublish = func(attempt int) {
		edits = append(edits, attempt)
		if attempt == 1 {
			if err := nc.PublishConfig(ctx, dataID, "", edit, "properties", ""); err != nil {
				t.Error(err)
			}
		}
	}
	res, _ := fix(t, o)
	if !res.Published || res.Attempts != 2 || !cmp.Equal(edits, []int{1, 2}) {
		t.Errorf("published %v after %d attempts (hook ran at %v), want 2", res.Published, res.Attempts, edits)
	}
	cfg, err := nc.GetConfig(ctx, dataID, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.Content, edit) {
		t.Errorf("the concurrent edit is lost:\n%s", cfg.Content)
	}
	got, err := springprops.Parse([]byte(cfg.Content), springprops.Properties)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range wantProps {
		if got[k] != v {
			t.Errorf("stored %s = %q, want %q", k, got[k], v)
		}
	}

	// A writer that keeps changing it: fix gives up after casAttempts.
	o.beforePublish = func(attempt int) {
		if err := nc.PublishConfig(ctx, dataID, "", edit+"n="+string(rune('0'+attempt))+"\n", "properties", ""); err != nil {
			t.Error(err)
		}
	}
	if err := nc.PublishConfig(ctx, dataID, "", edit, "properties", ""); err != nil {
		t.Fatal(err)
	}
	err = Fix(ctx, o, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, nacosclient.ErrConflict) {
		t.Errorf("Fix against a writer that never stops = %v, want ErrConflict", err)
	}
}

// TestFixCreates: without the configuration, fix creates it.
func TestFixCreates(t *testing.T) {
	srv := startNacos(t)
	nc := nacosClient(t, srv)
	o := FixOptions{Options: options(srv)}
	o.ConfigGroup = "MESH"
	res, _ := fix(t, o)
	cfg, err := nc.GetConfig(context.Background(), DefaultDataID, "MESH")
	if err != nil || !res.Published || res.MD5 != cfg.MD5 {
		t.Fatalf("published %v md5 %s; stored %v %v", res.Published, res.MD5, cfg.MD5, err)
	}
	if diff := cmp.Diff(wantProps, res.Changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

// TestFixBracketNames: a Nacos service name that needs brackets as a
// Spring map key is written with them, to a YAML configuration as to a
// .properties one, and a second fix changes nothing.
func TestFixBracketNames(t *testing.T) {
	srv := startNacos(t)
	register(t, srv, "Order.Svc", "10.1.0.5", 8082)
	nc := nacosClient(t, srv)
	pay := t.TempDir() + "/pay.yaml"
	if err := os.WriteFile(pay, []byte(`apiVersion: v1
kind: Service
metadata: {name: pay, namespace: shop}
spec:
  selector: {app: Order.Svc}
  ports: [{port: 80, targetPort: 8082}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: pay, namespace: shop}
spec:
  selector: {matchLabels: {app: Order.Svc}}
  template:
    metadata: {labels: {app: Order.Svc}}
    spec: {containers: [{name: app, image: x}]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	o := FixOptions{Options: options(srv)}
	o.Files = append(o.Files, pay)
	res, _ := fix(t, o)
	if got := res.Changes["spring.cloud.openfeign.client.config.[Order.Svc].url"]; got != "http://pay.shop.svc.cluster.local:80" {
		t.Errorf("yaml: changes %v", res.Changes)
	}
	cfg, err := nc.GetConfig(context.Background(), DefaultDataID, "")
	if err != nil || !strings.Contains(cfg.Content, "'[Order.Svc]':\n") {
		t.Errorf("yaml: stored %v:\n%s", err, cfg.Content)
	}
	if res, _ = fix(t, o); !res.Unchanged {
		t.Errorf("second fix of %s: %+v", DefaultDataID, res)
	}

	o.DataID = "mesh.properties"
	res, _ = fix(t, o)
	if got := res.Changes["spring.cloud.openfeign.client.config.[Order.Svc].url"]; got != "http://pay.shop.svc.cluster.local:80" {
		t.Errorf("properties: changes %v", res.Changes)
	}
	cfg, err = nc.GetConfig(context.Background(), "mesh.properties", "")
	if err != nil || !strings.Contains(cfg.Content, "spring.cloud.openfeign.client.config.[Order.Svc].url=http://pay.shop.svc.cluster.local:80\n") {
		t.Errorf("stored %v:\n%s", err, cfg.Content)
	}
	if res, _ = fix(t, o); !res.Unchanged {
		t.Errorf("second fix of mesh.properties: %+v", res)
	}
}

// TestFixStaleFromFiles: a ServiceEntry fix made, in the manifests -f
// reads, for a Nacos service that is gone is stale, located at its file
// and line; one for another Nacos namespace is another run's.
func TestFixStaleFromFiles(t *testing.T) {
	srv := startNacos(t)
	dir := t.TempDir()
	shop, err := os.ReadFile("testdata/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	entries := `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: nacos-gone
  namespace: shop
  labels: {app.kubernetes.io/managed-by: graylane}
  annotations: {graylane.io/nacos-service: public/DEFAULT_GROUP/gone}
spec: {hosts: [gone.nacos], addresses: [10.9.9.9], resolution: STATIC, endpoints: [{address: 10.9.9.9}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: nacos-dev
  namespace: shop
  labels: {app.kubernetes.io/managed-by: graylane}
  annotations: {graylane.io/nacos-service: dev/DEFAULT_GROUP/pay}
spec: {hosts: [pay.nacos], addresses: [10.9.9.8], resolution: STATIC, endpoints: [{address: 10.9.9.8}]}
`
	for name, b := range map[string][]byte{"shop.yaml": shop, "entries.yaml": []byte(entries)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o := FixOptions{Options: options(srv), DryRun: true}
	o.Files = []string{dir}
	res, _ := fix(t, o)
	want := []nacosscan.StaleEntry{{Namespace: "shop", Name: "nacos-gone", NacosService: "public/DEFAULT_GROUP/gone", Where: filepath.Join(dir, "entries.yaml") + ":1"}}
	if diff := cmp.Diff(want, res.StaleServiceEntries); diff != "" {
		t.Errorf("stale (-want +got):\n%s", diff)
	}
}

// TestStaleText: the line of each stale ServiceEntry says what deleting
// it did, or how to delete it where it is.
func TestStaleText(t *testing.T) {
	se := nacosscan.StaleEntry{Namespace: "shop", Name: "nacos-pg", NacosService: "public/DEFAULT_GROUP/pg", Where: "k8s/entries.yaml:3"}
	const head = "stale: ServiceEntry shop/nacos-pg (Nacos public/DEFAULT_GROUP/pg), which fix no longer makes: "
	const still = "its host still resolves to the old addresses; "
	applied := func(action, msg string) []EntryResult {
		return []EntryResult{{Namespace: "shop", Name: "nacos-web", Action: EntryUnchanged}, {Namespace: "shop", Name: "nacos-pg", Action: action, Message: msg}}
	}
	tests := []struct {
		name    string
		o       FixOptions
		dryRun  bool
		applied []EntryResult
		want    string
	}{
		{"cluster, not applying", FixOptions{}, false, nil,
			head + still + "delete it with kubectl delete serviceentry -n shop nacos-pg, or run fix again with --apply-service-entries\n"},
		{"cluster, deleted", FixOptions{ApplyServiceEntries: true}, false, applied(EntryDeleted, ""), head + "deleted\n"},
		{"cluster, dry run", FixOptions{ApplyServiceEntries: true, DryRun: true}, true, applied(EntryDeleted, ""), head + "deleted (dry run)\n"},
		{"cluster, taken over in between", FixOptions{ApplyServiceEntries: true}, false, applied(EntryKept, "changed since fix read it (resourceVersion 7): not deleted"),
			head + "kept, changed since fix read it (resourceVersion 7): not deleted\n"},
		{"local, not applying", FixOptions{Options: Options{Local: true}}, false, nil, head + still + "delete it by running fix again with --apply-service-entries\n"},
		{"local, dry run", FixOptions{Options: Options{Local: true}, ApplyServiceEntries: true, DryRun: true}, true, []EntryResult{},
			head + "not deleted (dry run; the runtime has none: nothing sent)\n"},
		{"local, gone", FixOptions{Options: Options{Local: true}, ApplyServiceEntries: true}, false, applied(EntryGone, ""), head + "gone\n"},
		{"files", FixOptions{Options: Options{Files: []string{"k8s"}}}, false, nil,
			head + still + "remove it from k8s/entries.yaml:3, and where it is applied: kubectl delete serviceentry -n shop nacos-pg\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := &FixResult{DryRun: tc.dryRun, StaleServiceEntries: []nacosscan.StaleEntry{se}, ServiceEntriesApplied: tc.applied}
			var b strings.Builder
			staleText(&b, res, &tc.o)
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

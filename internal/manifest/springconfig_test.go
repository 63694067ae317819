package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFolderSkipsSpringConfig: a folder walk leaves out Spring Boot
// configuration files (application*.yaml / bootstrap*.yaml without
// apiVersion or kind) and names them in the warnings; a file of such a
// name that is a manifest is read, and one named on the command line is
// read as a manifest (and fails as one).
func TestFolderSkipsSpringConfig(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"application.yaml":       "# the seed's Feign url\norder-service:\n  url: http://gray-order-service:8082\n",
		"sub/bootstrap-prod.yml": "spring:\n  application:\n    name: order-service\n",
		"application-k8s.yaml":   "apiVersion: v1\nkind: Service\nmetadata: {name: order}\nspec: {selector: {app: order}, ports: [{port: 80}]}\n",
		"service.yaml":           "apiVersion: v1\nkind: Service\nmetadata: {name: pay}\nspec: {selector: {app: pay}, ports: [{port: 80}]}\n",
		"values.yaml":            "replicas: 3\n",
		"myapplication.yaml.txt": "not read\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := Load(dir)
	// values.yaml is not a Spring Boot name: still an error, as before.
	if err == nil || !strings.Contains(err.Error(), "values.yaml") || strings.Contains(err.Error(), "application.yaml") {
		t.Fatalf("Load error = %v, want only values.yaml's", err)
	}
	var names []string
	for _, o := range set.Objects {
		names = append(names, o.Name)
	}
	if diff := cmp.Diff([]string{"order", "pay"}, names); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	want := []string{
		filepath.Join(dir, "application.yaml") + ": Spring Boot configuration (no apiVersion or kind), not a manifest: skipped",
		filepath.Join(dir, "sub/bootstrap-prod.yml") + ": Spring Boot configuration (no apiVersion or kind), not a manifest: skipped",
	}
	if diff := cmp.Diff(want, set.IgnoredWarnings(DoingUp, nil)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	got, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{filepath.Join(dir, "application-k8s.yaml"), filepath.Join(dir, "service.yaml"), filepath.Join(dir, "values.yaml")}
	if diff := cmp.Diff(wantFiles, got); diff != "" {
		t.Errorf("Files (-want +got):\n%s", diff)
	}
	if _, err := Load(filepath.Join(dir, "application.yaml")); err == nil || !strings.Contains(err.Error(), `missing required field "kind"`) {
		t.Errorf("Load of the file itself = %v, want it read as a manifest", err)
	}
}

package manifest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	clientnetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// summary is a comparable digest of a loaded object.
type summary struct {
	Ref   string
	Pos   string
	Index int
	Type  string
}

func summarize(objs []*Object) []summary {
	var out []summary
	for _, o := range objs {
		typ := "<nil>"
		if o.Typed != nil {
			typ = typeName(o.Typed)
		}
		out = append(out, summary{Ref: o.Ref(), Pos: o.Pos.String(), Index: o.Index, Type: typ})
	}
	return out
}

func typeName(v any) string {
	switch v.(type) {
	case *clientnetworkingv1.VirtualService:
		return "VirtualService"
	case *clientnetworkingv1.DestinationRule:
		return "DestinationRule"
	case *clientnetworkingv1.Gateway:
		return "Gateway"
	case *clientnetworkingv1.ServiceEntry:
		return "ServiceEntry"
	case *corev1.Service:
		return "Service"
	case *appsv1.Deployment:
		return "Deployment"
	case *rolloutsv1alpha1.Rollout:
		return "Rollout"
	case *rolloutsv1alpha1.AnalysisTemplate:
		return "AnalysisTemplate"
	case *rolloutsv1alpha1.ClusterAnalysisTemplate:
		return "ClusterAnalysisTemplate"
	}
	return "other"
}

func mustLoadBytes(t *testing.T, name, text string) *Set {
	t.Helper()
	s, err := LoadBytes(name, []byte(text))
	if err != nil {
		t.Fatalf("LoadBytes(%s): %v", name, err)
	}
	return s
}

func TestLoadSeedFixtures(t *testing.T) {
	tests := []struct {
		paths []string
		want  []summary
	}{{
		paths: []string{"testdata/seed004-routing.yaml"},
		want: []summary{
			{"DestinationRule default/dr-appa", "testdata/seed004-routing.yaml:1", 0, "DestinationRule"},
			{"DestinationRule default/dr-appb", "testdata/seed004-routing.yaml:18", 1, "DestinationRule"},
			{"VirtualService istio-system/vs-gateway-appa", "testdata/seed004-routing.yaml:35", 2, "VirtualService"},
			{"VirtualService default/vs-appa", "testdata/seed004-routing.yaml:56", 3, "VirtualService"},
			{"VirtualService default/vs-appb", "testdata/seed004-routing.yaml:90", 4, "VirtualService"},
		},
	}, {
		paths: []string{"testdata/seed004-header-vs.yaml"},
		want:  []summary{{"VirtualService default/vs-appa", "testdata/seed004-header-vs.yaml:2", 0, "VirtualService"}},
	}, {
		paths: []string{"testdata/seed003-destinationrules.yaml", "testdata/seed003-virtualservices.yaml", "testdata/seed003-rollout.yaml"},
		want: []summary{
			{"DestinationRule default/order-service", "testdata/seed003-destinationrules.yaml:1", 0, "DestinationRule"},
			{"DestinationRule default/payment-service", "testdata/seed003-destinationrules.yaml:12", 1, "DestinationRule"},
			{"DestinationRule default/logistics-service", "testdata/seed003-destinationrules.yaml:23", 2, "DestinationRule"},
			{"VirtualService default/order-service", "testdata/seed003-virtualservices.yaml:1", 3, "VirtualService"},
			{"VirtualService default/payment-service", "testdata/seed003-virtualservices.yaml:14", 4, "VirtualService"},
			{"VirtualService default/logistics-service", "testdata/seed003-virtualservices.yaml:27", 5, "VirtualService"},
			{"Rollout default/order-service-rollout", "testdata/seed003-rollout.yaml:1", 6, "Rollout"},
		},
	}, {
		paths: []string{"testdata/seed002-virtualservices.yaml"},
		want: []summary{
			{"Deployment gray/test-A", "testdata/seed002-virtualservices.yaml:2", 0, "Deployment"},
			{"VirtualService default/test-A", "testdata/seed002-virtualservices.yaml:25", 1, "VirtualService"},
			{"VirtualService default/test-A-whitelist", "testdata/seed002-virtualservices.yaml:38", 2, "VirtualService"},
			{"VirtualService default/test-A-percent", "testdata/seed002-virtualservices.yaml:57", 3, "VirtualService"},
		},
	}}
	for _, tt := range tests {
		s, err := Load(tt.paths...)
		if err != nil {
			t.Fatalf("Load(%v): %v", tt.paths, err)
		}
		if diff := cmp.Diff(tt.want, summarize(s.Objects)); diff != "" {
			t.Errorf("Load(%v) objects (-want +got):\n%s", tt.paths, diff)
		}
	}
}

func TestSeed002CookieRegex(t *testing.T) {
	s, err := Load("testdata/seed002-virtualservices.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vs := s.Of("VirtualService")[1].Typed.(*clientnetworkingv1.VirtualService)
	got := vs.Spec.Http[0].Match[0].Headers["cookie"].GetRegex()
	if want := ".*tenantGray=1.*"; got != want {
		t.Errorf("cookie regex = %q, want %q", got, want)
	}
	if got, want := vs.APIVersion, "networking.istio.io/v1alpha3"; got != want {
		t.Errorf("APIVersion = %q, want %q", got, want)
	}
}

func TestSeed004BrokenRouting(t *testing.T) {
	s, err := Load("testdata/seed004-routing-broken.yaml")
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Load error %v is not an ErrorList", err)
	}
	want := "testdata/seed004-routing-broken.yaml:115: invalid YAML: did not find expected '-' indicator (check the indentation)"
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	// The documents before the slip still load.
	if got, want := len(s.Objects), 4; got != want {
		t.Errorf("partial set has %d objects, want %d", got, want)
	}
}

func TestSeed004DuplicateServices(t *testing.T) {
	s, err := Load("testdata/seed004-v1.yaml", "testdata/seed004-v2.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []summary{
		{"Deployment default/appa-v1", "testdata/seed004-v1.yaml:15", 1, "Deployment"},
		{"Deployment default/appb-v1", "testdata/seed004-v1.yaml:64", 3, "Deployment"},
		{"Service default/appa", "testdata/seed004-v2.yaml:1", 4, "Service"},
		{"Deployment default/appa-v2", "testdata/seed004-v2.yaml:15", 5, "Deployment"},
		{"Service default/appb", "testdata/seed004-v2.yaml:50", 6, "Service"},
		{"Deployment default/appb-v2", "testdata/seed004-v2.yaml:64", 7, "Deployment"},
	}
	if diff := cmp.Diff(want, summarize(s.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	wantReplaced := []summary{
		{"Service default/appa", "testdata/seed004-v1.yaml:1", 0, "Service"},
		{"Service default/appb", "testdata/seed004-v1.yaml:50", 2, "Service"},
	}
	if diff := cmp.Diff(wantReplaced, summarize(s.Replaced)); diff != "" {
		t.Errorf("replaced (-want +got):\n%s", diff)
	}
	d := s.Of("Deployment")[0].Typed.(*appsv1.Deployment)
	if got, want := d.Spec.Template.Spec.ImagePullSecrets[0].Name, "default-secret"; got != want {
		t.Errorf("imagePullSecrets[0].name = %q, want %q", got, want)
	}
}

const multiDoc = `# leading comment
apiVersion: v1
kind: Service
metadata:
  name: a
  namespace: shop
spec:
  ports:
  - port: 8000
    targetPort: http
---
# only a comment
---

--- 
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db2}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
...
`

func TestMultiDocAndIgnored(t *testing.T) {
	s := mustLoadBytes(t, "multi.yaml", multiDoc)
	want := []summary{{"Service shop/a", "multi.yaml:2", 0, "Service"}}
	if diff := cmp.Diff(want, summarize(s.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	wantIgnored := []summary{
		{"StatefulSet default/db", "multi.yaml:16", 1, "<nil>"},
		{"StatefulSet default/db2", "multi.yaml:20", 2, "<nil>"},
		{"Widget default/w", "multi.yaml:24", 3, "<nil>"},
	}
	if diff := cmp.Diff(wantIgnored, summarize(s.Ignored)); diff != "" {
		t.Errorf("ignored (-want +got):\n%s", diff)
	}
	wantWarnings := []string{
		"multi.yaml:16: apps/v1 StatefulSet db is not evaluated by graylane route",
		"multi.yaml:20: apps/v1 StatefulSet db2 is not evaluated by graylane route",
		"multi.yaml:24: example.com/v1 Widget w is not evaluated by graylane route",
	}
	if diff := cmp.Diff(wantWarnings, s.IgnoredWarnings(DoingRoute, nil)); diff != "" {
		t.Errorf("IgnoredWarnings (-want +got):\n%s", diff)
	}
	svc := s.Objects[0].Typed.(*corev1.Service)
	if got, want := svc.Spec.Ports[0].TargetPort, intstr.FromString("http"); got != want {
		t.Errorf("targetPort = %v, want %v", got, want)
	}
	wantRaw := map[string]any{"name": "db"}
	if diff := cmp.Diff(wantRaw, s.Ignored[0].Raw["metadata"]); diff != "" {
		t.Errorf("raw metadata (-want +got):\n%s", diff)
	}
}

func TestJSONFileAndList(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "list.json")
	data := "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"List\",\n\t\"items\": [\n\t\t{\"apiVersion\": \"v1\", \"kind\": \"Service\",\n\t\t \"metadata\": {\"name\": \"s\"}, \"spec\": {\"ports\": [{\"port\": 80}]}},\n\t\t{\"apiVersion\": \"networking.istio.io/v1\", \"kind\": \"DestinationRule\",\n\t\t \"metadata\": {\"name\": \"dr\", \"namespace\": \"x\"},\n\t\t \"spec\": {\"host\": \"s\", \"trafficPolicy\": {\"loadBalancer\": {\"simple\": \"ROUND_ROBIN\"}}}}\n\t]\n}\n"
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	want := []summary{
		{"Service default/s", file + ":5", 0, "Service"},
		{"DestinationRule x/dr", file + ":7", 1, "DestinationRule"},
	}
	if diff := cmp.Diff(want, summarize(s.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	dr := s.Objects[1].Typed.(*clientnetworkingv1.DestinationRule)
	if got, want := dr.Spec.GetTrafficPolicy().GetLoadBalancer().GetSimple(), networkingv1alpha3.LoadBalancerSettings_ROUND_ROBIN; got != want {
		t.Errorf("simple = %v, want %v", got, want)
	}
	if got, want := s.Objects[1].PathPos("spec.trafficPolicy.loadBalancer.simple"), (Position{file, 9}); got != want {
		t.Errorf("PathPos = %v, want %v", got, want)
	}
}

func TestFolderWalkAndErrors(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"b.yaml":         "apiVersion: v1\nkind: Service\nmetadata: {name: b}\n",
		"a/z.yml":        "apiVersion: v1\nkind: Service\nmetadata: {name: z}\n",
		"a/notes.txt":    "not: [a manifest\n",
		"c.json":         `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c"}}`,
		"d/e/f.YAML":     "apiVersion: v1\nkind: Service\nmetadata: {name: f}\n",
		"d/e/README.md":  "# nothing",
		"d/e/bad.yaml":   "apiVersion: v1\nkind: Service\n",
		"d/e/nested.yml": "",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing.yaml")
	s, err := Load(dir, missing)
	var names []string
	for _, o := range s.Objects {
		names = append(names, o.Name)
	}
	if diff := cmp.Diff([]string{"z", "b", "c", "f"}, names); diff != "" {
		t.Errorf("walk order (-want +got):\n%s", diff)
	}
	wantErr := filepath.Join(dir, "d/e/bad.yaml") + `:1: missing required field "metadata.name"` + "\n" +
		missing + ": no such file or directory"
	if err == nil || err.Error() != wantErr {
		t.Errorf("error = %v, want %s", err, wantErr)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
}

func TestStdin(t *testing.T) {
	old := stdin
	defer func() { stdin = old }()
	stdin = strings.NewReader("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: x}]}\n")
	_, err := Load("-")
	want := `<stdin>:4: spec.ports[0].port: must be an integer, got string "x"`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestIstioVersions(t *testing.T) {
	for _, v := range []string{"v1alpha3", "v1beta1", "v1"} {
		text := "apiVersion: networking.istio.io/" + v + `
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [a]
  http:
  - timeout: 5s
    route:
    - destination: {host: a, port: {number: 8000}}
`
		s := mustLoadBytes(t, v+".yaml", text)
		vs, ok := s.Objects[0].Typed.(*clientnetworkingv1.VirtualService)
		if !ok {
			t.Fatalf("%s: Typed is %T", v, s.Objects[0].Typed)
		}
		if got, want := vs.APIVersion, "networking.istio.io/"+v; got != want {
			t.Errorf("APIVersion = %q, want %q", got, want)
		}
		if got, want := vs.Spec.Http[0].Timeout.AsDuration(), 5*time.Second; got != want {
			t.Errorf("%s: timeout = %v, want %v", v, got, want)
		}
		if got, want := vs.Spec.Http[0].Route[0].Destination.GetPort().GetNumber(), uint32(8000); got != want {
			t.Errorf("%s: port = %v, want %v", v, got, want)
		}
	}
}

func TestPathPos(t *testing.T) {
	s, err := Load("testdata/seed004-routing.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vs := s.Of("VirtualService")[2]
	tests := []struct {
		path string
		want int
	}{
		{"spec.http[2].route[0].destination", 116},
		{"spec.http[2].route[0].destination.host", 117},
		{"spec.http[1].match[0].sourceLabels.version", 113},
		{"spec.http[2].route[0].destination.port.number", 116}, // nearest ancestor
		{"spec.http[9]", 97},
		{"", 90},
		{"metadata.labels[\"app.kubernetes.io/name\"]", 92},
	}
	for _, tt := range tests {
		if got := vs.PathPos(tt.path); got != (Position{"testdata/seed004-routing.yaml", tt.want}) {
			t.Errorf("PathPos(%q) = %v, want line %d", tt.path, got, tt.want)
		}
	}
	// Keys with dots use the ["key"] form, and proto fields are indexed by
	// their JSON name even when written with their proto name.
	o := mustLoadBytes(t, "k.yaml", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: vs
  labels:
    app.kubernetes.io/name: x
spec:
  http:
  - match:
    - source_labels: {app: a}
`).Objects[0]
	for path, want := range map[string]int{`metadata.labels["app.kubernetes.io/name"]`: 6, "spec.http[0].match[0].sourceLabels": 10} {
		if got := o.PathPos(path).Line; got != want {
			t.Errorf("PathPos(%q) = %d, want %d", path, got, want)
		}
	}
}

func TestRolloutSeed003(t *testing.T) {
	s, err := Load("testdata/seed003-rollout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ro := s.Objects[0].Typed.(*rolloutsv1alpha1.Rollout)
	var weights []int32
	pauses := 0
	for _, st := range ro.Spec.Strategy.Canary.Steps {
		if st.SetWeight != nil {
			weights = append(weights, *st.SetWeight)
		}
		if st.Pause != nil {
			pauses++
		}
	}
	if diff := cmp.Diff([]int32{10, 25, 50, 75, 100}, weights); diff != "" {
		t.Errorf("weights (-want +got):\n%s", diff)
	}
	if pauses != 4 {
		t.Errorf("pauses = %d, want 4", pauses)
	}
	if got, want := *ro.Spec.Strategy.Canary.MaxUnavailable, intstr.FromInt32(0); got != want {
		t.Errorf("maxUnavailable = %v, want %v", got, want)
	}
}

func TestClusterScopedAndAnalysis(t *testing.T) {
	s := mustLoadBytes(t, "a.yaml", `apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: error-rate}
spec:
  args: [{name: service}]
  metrics:
  - name: error-rate
    interval: 1m
    successCondition: result[0] < 0.05
    provider:
      prometheus:
        address: http://prometheus:9090
        query: sum(rate(x[1m]))
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: probe, namespace: shop}
spec:
  metrics:
  - name: probe
    provider:
      web: {url: "http://x/healthz", jsonPath: "{$.ok}"}
`)
	want := []summary{
		{"ClusterAnalysisTemplate error-rate", "a.yaml:1", 0, "ClusterAnalysisTemplate"},
		{"AnalysisTemplate shop/probe", "a.yaml:15", 1, "AnalysisTemplate"},
	}
	if diff := cmp.Diff(want, summarize(s.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
}

package render

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGolden renders every Release example and compares with testdata/.
func TestGolden(t *testing.T) {
	examples, err := filepath.Glob("../../examples/kubernetes/*.yaml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, ex := range examples {
		name := strings.TrimSuffix(filepath.Base(ex), ".yaml")
		t.Run(name, func(t *testing.T) {
			set, err := manifest.Load(ex)
			if err != nil {
				t.Fatal(err)
			}
			rels := Releases(set)
			objs, err := Render(rels...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := EncodeAll(objs)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", name+".golden.yaml"), got)
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestRenderedLoads checks that the output of every example loads back
// into the typed objects without errors (field names and types are right).
func TestRenderedLoads(t *testing.T) {
	examples, err := filepath.Glob("../../examples/kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := manifest.Load(examples...)
	if err != nil {
		t.Fatal(err)
	}
	rels := Releases(set)
	objs, err := Render(rels...)
	if err != nil {
		t.Fatal(err)
	}
	data, err := EncodeAll(objs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := manifest.LoadBytes("rendered.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(back.Objects)+len(back.Ignored), len(objs); got != want {
		t.Errorf("loaded %d objects, rendered %d", got, want)
	}
	if again, _ := EncodeAll(objs); string(again) != string(data) {
		t.Error("rendering twice gives different output")
	}
}

// TestValidationErrors checks that bad Releases give located errors.
func TestValidationErrors(t *testing.T) {
	const head = "apiVersion: graylane.io/v1alpha1\nkind: Release\nmetadata:\n  name: r\nspec:\n"
	tests := []struct {
		name, spec string
		want       []string
	}{
		{"unknown field", "  services:\n  - name: a\n    image: x\n    imgae: y\n",
			[]string{`r.yaml:9: spec.services[0]: unknown field "imgae"`}},
		{"wrong type", "  services:\n  - name: a\n    image: x\n    replicas: three\n",
			[]string{`r.yaml:9: spec.services[0].replicas: must be an integer, got string "three"`}},
		{"weight over 100", "  services:\n  - name: a\n    image: x\n  steps:\n  - setWeight: 120\n",
			[]string{"r.yaml:10: spec.steps[0].setWeight: Invalid value: 120: must be between 0 and 100"}},
		{"bad duration", "  services:\n  - name: a\n    image: x\n  steps:\n  - setWeight: 10\n  - pause: {duration: 5 minutes}\n",
			[]string{`r.yaml:11: spec.steps[1].pause.duration: Invalid value: "5 minutes": want a duration such as 30s, 5m, 1h or a number of seconds`}},
		{"two actions", "  services:\n  - name: a\n    image: x\n  steps:\n  - setWeight: 10\n    pause: {}\n",
			[]string{`r.yaml:10: spec.steps[0]: Invalid value: "": a step needs exactly one of setWeight, pause and analysis`}},
		{"no workload", "  services:\n  - name: a\n",
			[]string{`r.yaml:7: spec.services[0]: Invalid value: "a": give exactly one of image, template and workloadRef`}},
		{"bad layout", "  layout: hosts\n  services:\n  - name: a\n    image: x\n",
			[]string{`r.yaml:6: spec.layout: Unsupported value: "hosts": supported values: "subsets", "services"`}},
		{"analysis step without analysis", "  services:\n  - name: a\n    image: x\n  steps:\n  - analysis: {}\n",
			[]string{`r.yaml:10: spec.steps[0].analysis: Invalid value: "": an analysis step needs spec.analysis`}},
		{"gateways without hosts", "  services:\n  - name: a\n    image: x\n  gateways: [gw]\n",
			[]string{`r.yaml:5: spec.hosts: Required value: the external host names the gateways serve for these services`}},
		{"uppercase header", "  services:\n  - name: a\n    image: x\n  headerRoute: {header: X-Canary}\n",
			[]string{`r.yaml:9: spec.headerRoute.header: Invalid value: "X-Canary": want a lowercase HTTP header name (Istio matches lowercase names)`}},
		{"duplicate service", "  services:\n  - name: a\n    image: x\n  - name: a\n    image: y\n",
			[]string{`r.yaml:9: spec.services[1].name: Duplicate value: "a"`}},
		{"canary property the container sets", "  services:\n  - name: a\n    image: x\n    env: [{name: FEATURE_X, value: \"1\"}]\n    canaryConfig:\n      properties:\n        feature.x: \"2\"\n",
			[]string{`r.yaml:11: spec.services[0].canaryConfig.properties[feature.x]: Invalid value: "feature.x": its environment variable FEATURE_X is already set by container a; set the value once, here or there`}},
		{"canary properties with one variable", "  services:\n  - name: a\n    image: x\n    canaryConfig:\n      properties: {a.b-c: \"1\", a.bc: \"2\"}\n      nacos: {dataId: a.json}\n",
			[]string{`r.yaml:10: spec.services[0].canaryConfig.properties[a.bc]: Duplicate value: "a.bc maps to environment variable A_BC, as a.b-c does"`,
				`r.yaml:11: spec.services[0].canaryConfig.nacos.dataId: Invalid value: "a.json": want a Nacos data id (letters, digits, '-', '_', '.', ':') ending in .yaml, .yml or .properties (its format)`}},
		{"bad success rate", "  services:\n  - name: a\n    image: x\n  analysis:\n    successRate: {min: \"99\"}\n",
			[]string{`r.yaml:10: spec.analysis.successRate.min: Invalid value: "99": want a number in (0, 1], such as 0.99`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := manifest.LoadBytes("r.yaml", []byte(head+tc.spec))
			if err == nil {
				t.Fatal("no error")
			}
			var got []string
			for _, e := range err.(manifest.ErrorList) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

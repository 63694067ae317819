package render_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/render"
)

// goldenFile compares got with path, or rewrites it with -update (the
// flag of the package's internal tests, in the same test binary).
func goldenFile(t *testing.T, path string, got []byte) {
	t.Helper()
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
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

func loadSeed004(t *testing.T) *manifest.Set {
	t.Helper()
	set, err := manifest.Load("../../examples/seed004/v1.yaml", "../../examples/seed004/v2.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func deployment(t *testing.T, set *manifest.Set, name string) *appsv1.Deployment {
	t.Helper()
	for _, o := range set.Of("Deployment") {
		if o.Name == name {
			return o.Typed.(*appsv1.Deployment)
		}
	}
	t.Fatalf("no Deployment %s", name)
	return nil
}

// TestConvertSeed004 converts seed 004's one-Deployment-per-version layout
// (v1.yaml, v2.yaml): one Rollout per service with v2's template, v1 as
// the stable, the success-rate analysis and (--judge) the judge; the first-apply
// output differs only by the Rollouts' template (v1's). Both lint clean.
func TestConvertSeed004(t *testing.T) {
	set := loadSeed004(t)
	conv := convert(t, set, render.ConvertOptions{Judge: true})
	data, err := render.EncodeAll(conv.Objects)
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, filepath.Join("testdata", "seed004-convert.golden.yaml"), data)
	lintClean(t, conv.Objects)

	want := []render.ConvertedService{
		{Namespace: "default", Rollout: "appa", Service: "appa", Deployments: []string{"appa-v1", "appa-v2"}, Template: "appa-v2",
			Canary: &render.ConvertedVersion{Version: "v2", Deployment: "appa-v2"}, Stable: &render.ConvertedVersion{Version: "v1", Deployment: "appa-v1"},
			Analysis: []string{"graylane-success-rate", "graylane-judge"}},
		{Namespace: "default", Rollout: "appb", Service: "appb", Deployments: []string{"appb-v1", "appb-v2"}, Template: "appb-v2",
			Canary: &render.ConvertedVersion{Version: "v2", Deployment: "appb-v2"}, Stable: &render.ConvertedVersion{Version: "v1", Deployment: "appb-v1"},
			Analysis: []string{"graylane-success-rate", "graylane-judge"}},
	}
	if diff := cmp.Diff(want, conv.Services); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	for _, name := range []string{"appa", "appb"} {
		ro := find[*rollouts.Rollout](t, conv.Objects, "Rollout", name)
		if diff := cmp.Diff(deployment(t, set, name+"-v2").Spec.Template, ro.Spec.Template); diff != "" {
			t.Errorf("%s: template is not v2's (-v2 +rollout):\n%s", name, diff)
		}
	}

	first := convert(t, set, render.ConvertOptions{FirstApply: true, Judge: true})
	lintClean(t, first.Objects)
	if len(first.Objects) != len(conv.Objects) {
		t.Fatalf("first apply: %d objects, want %d", len(first.Objects), len(conv.Objects))
	}
	for i, o := range first.Objects {
		got, want := o, conv.Objects[i]
		if o.Kind == "Rollout" {
			ro, canary := o.Value.(*rollouts.Rollout).DeepCopy(), want.Value.(*rollouts.Rollout).DeepCopy()
			if diff := cmp.Diff(deployment(t, set, o.Name+"-v1").Spec.Template, ro.Spec.Template); diff != "" {
				t.Errorf("first apply: %s's template is not v1's (-v1 +rollout):\n%s", o.Name, diff)
			}
			ro.Spec.Template, canary.Spec.Template = corev1.PodTemplateSpec{}, corev1.PodTemplateSpec{}
			got.Value, want.Value = ro, canary
		}
		// Compared as written (Istio's objects hold protobuf state).
		g, err := render.Encode(got)
		if err != nil {
			t.Fatal(err)
		}
		w, err := render.Encode(want)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(w), string(g)); diff != "" {
			t.Errorf("first apply changes %s beyond the Rollout's template (-canary +first apply):\n%s", o.Ref(), diff)
		}
	}
	if got := first.Services[0].Template; got != "appa-v1" {
		t.Errorf("first apply: template %s, want appa-v1", got)
	}
}

// TestConvertTargetPort: a Service port without targetPort gets its port
// (the API server's default), never 0, in the callers' Service and in the
// stable and canary Services; a named targetPort is kept.
func TestConvertTargetPort(t *testing.T) {
	in := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: x, ports: [{containerPort: 8000, name: http}, {containerPort: 9090, name: metrics}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8000}, {name: http-metrics, port: 9090, targetPort: metrics}]
`
	conv := convert(t, load(t, "web.yaml", []byte(in)), render.ConvertOptions{Spec: v1alpha1.ReleaseSpec{Layout: v1alpha1.LayoutServices}})
	want := []intstr.IntOrString{intstr.FromInt32(8000), intstr.FromString("metrics")}
	for _, name := range []string{"web", "web-stable", "web-canary"} {
		svc := find[*corev1.Service](t, conv.Objects, "Service", name)
		var got []intstr.IntOrString
		for _, p := range svc.Spec.Ports {
			got = append(got, p.TargetPort)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Service %s target ports (-want +got):\n%s", name, diff)
		}
	}
	data, err := render.EncodeAll(conv.Objects)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "targetPort: 0") {
		t.Errorf("output has targetPort: 0:\n%s", data)
	}
}

// TestConvertAnalysisOptions: the default analysis (success rate), --judge
// (the judge where versions are labelled), --no-analysis, --prometheus and
// a --release analysis.
func TestConvertAnalysisOptions(t *testing.T) {
	const prom = "http://prometheus.monitoring:9090"
	tests := []struct {
		name      string
		opts      render.ConvertOptions
		templates []string // AnalysisTemplates of the output
		rollout   []string // the Rollout's background analysis
		address   string   // Prometheus of every template
	}{
		{"default", render.ConvertOptions{}, []string{"graylane-success-rate"}, []string{"graylane-success-rate"}, v1alpha1.DefaultPrometheus},
		{"judge", render.ConvertOptions{Judge: true}, []string{"graylane-success-rate", "graylane-judge"}, []string{"graylane-success-rate", "graylane-judge"}, v1alpha1.DefaultPrometheus},
		{"no analysis", render.ConvertOptions{NoAnalysis: true, Spec: v1alpha1.ReleaseSpec{Analysis: &v1alpha1.Analysis{SuccessRate: &v1alpha1.SuccessRate{}}}}, nil, nil, ""},
		{"prometheus", render.ConvertOptions{Prometheus: prom, Name: "shop", Judge: true}, []string{"shop-success-rate", "shop-judge"}, []string{"shop-success-rate", "shop-judge"}, prom},
		{"release analysis", render.ConvertOptions{Judge: true, Spec: v1alpha1.ReleaseSpec{Analysis: &v1alpha1.Analysis{Latency: &v1alpha1.Latency{MaxP99Milliseconds: 300}, Prometheus: prom}}},
			[]string{"graylane-latency", "graylane-judge"}, []string{"graylane-latency", "graylane-judge"}, prom},
		{"release analysis not in background", render.ConvertOptions{Judge: true, Spec: v1alpha1.ReleaseSpec{Analysis: &v1alpha1.Analysis{SuccessRate: &v1alpha1.SuccessRate{}, Background: new(bool)}}},
			[]string{"graylane-success-rate", "graylane-judge"}, []string{"graylane-judge"}, v1alpha1.DefaultPrometheus},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conv := convert(t, loadSeed004(t), tc.opts)
			var templates []string
			for _, o := range conv.Objects {
				if o.Kind != "AnalysisTemplate" {
					continue
				}
				templates = append(templates, o.Name)
				at := o.Value.(*rollouts.AnalysisTemplate)
				p := at.Spec.Metrics[0].Provider
				addr := ""
				switch {
				case p.Prometheus != nil:
					addr = p.Prometheus.Address
				case p.Plugin != nil:
					addr = strings.Split(strings.Split(string(p.Plugin["graylane.io/judge"]), `"address":"`)[1], `"`)[0]
				}
				if addr != tc.address {
					t.Errorf("%s queries %q, want %q", o.Name, addr, tc.address)
				}
			}
			if diff := cmp.Diff(tc.templates, templates); diff != "" {
				t.Errorf("AnalysisTemplates (-want +got):\n%s", diff)
			}
			ro := find[*rollouts.Rollout](t, conv.Objects, "Rollout", "appa")
			var bg []string
			if a := ro.Spec.Strategy.Canary.Analysis; a != nil {
				for _, ref := range a.Templates {
					bg = append(bg, ref.TemplateName)
				}
			}
			if diff := cmp.Diff(tc.rollout, bg); diff != "" {
				t.Errorf("background analysis (-want +got):\n%s", diff)
			}
			lintClean(t, conv.Objects)
		})
	}
}

// versionsInput is one Service and a Deployment per version of pay, the
// Deployments named pay-VERSION.
func versionsInput(versions ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Service\nmetadata: {name: pay, namespace: shop}\nspec: {selector: {app: pay}, ports: [{name: http, port: 8080}]}\n")
	for _, v := range versions {
		b.WriteString("---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: pay-" + v + ", namespace: shop}\nspec:\n  selector: {matchLabels: {app: pay, version: " + v + "}}\n" +
			"  template:\n    metadata: {labels: {app: pay, version: " + v + "}}\n    spec: {containers: [{name: pay, image: pay:" + v + "}]}\n")
	}
	return b.String()
}

// TestConvertChooseVersions: the highest version (semver-aware) is the
// canary and the highest of the others the stable, unless chosen; the
// Rollout has the canary's template (the stable's with FirstApply).
func TestConvertChooseVersions(t *testing.T) {
	vc := func(svc, v string) []render.VersionChoice { return []render.VersionChoice{{Service: svc, Version: v}} }
	tests := []struct {
		name     string
		versions []string
		opts     render.ConvertOptions
		canary   string
		stable   string
		template string
		left     []string
	}{
		{"semver order", []string{"v2", "v10", "v9"}, render.ConvertOptions{}, "v10", "v9", "pay-v10", []string{"v2"}},
		{"pre-release below release", []string{"1.2.0", "1.2.0-rc.1", "1.1.9"}, render.ConvertOptions{}, "1.2.0", "1.2.0-rc.1", "pay-1.2.0", []string{"1.1.9"}},
		{"names in string order", []string{"green", "blue"}, render.ConvertOptions{}, "green", "blue", "pay-green", nil},
		{"first apply", []string{"v1", "v2"}, render.ConvertOptions{FirstApply: true}, "v2", "v1", "pay-v1", nil},
		{"canary chosen", []string{"v1", "v2", "v3"}, render.ConvertOptions{Canary: vc("", "v2")}, "v2", "v3", "pay-v2", []string{"v1"}},
		{"both chosen by service", []string{"v1", "v2", "v3"}, render.ConvertOptions{Canary: vc("pay", "v3"), Stable: vc("shop/pay", "v1")}, "v3", "v1", "pay-v3", []string{"v2"}},
		{"specific choice wins", []string{"v1", "v2", "v3"}, render.ConvertOptions{Canary: []render.VersionChoice{{Service: "shop/pay", Version: "v1"}, {Version: "v3"}}}, "v1", "v3", "pay-v1", []string{"v2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conv := convert(t, load(t, "pay.yaml", []byte(versionsInput(tc.versions...))), tc.opts)
			if len(conv.Services) != 1 {
				t.Fatalf("services: %+v", conv.Services)
			}
			cs := conv.Services[0]
			var left []string
			for _, v := range cs.NotConverted {
				left = append(left, v.Version)
			}
			got := []any{cs.Canary.Version, cs.Stable.Version, cs.Template, left}
			want := []any{tc.canary, tc.stable, tc.template, tc.left}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("canary, stable, template, not converted (-want +got):\n%s", diff)
			}
			ro := find[*rollouts.Rollout](t, conv.Objects, "Rollout", "pay")
			if img := ro.Spec.Template.Spec.Containers[0].Image; img != "pay:"+strings.TrimPrefix(tc.template, "pay-") {
				t.Errorf("Rollout image %s, want the template of %s", img, tc.template)
			}
			if diff := cmp.Diff(map[string]string{"app": "pay"}, ro.Spec.Selector.MatchLabels); diff != "" {
				t.Errorf("selector (-want +got):\n%s", diff)
			}
			lintClean(t, conv.Objects)
		})
	}
}

// TestConvertVersionErrors: Deployments that are not versions of one
// service, and version choices that do not fit, are located errors with a
// hint.
func TestConvertVersionErrors(t *testing.T) {
	const pay = "apiVersion: v1\nkind: Service\nmetadata: {name: pay}\nspec: {selector: {tier: pay}, ports: [{name: http, port: 8080}]}\n"
	dep := func(name, labels string) string {
		return "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name + "}\nspec:\n  selector: {matchLabels: {tier: pay}}\n" +
			"  template:\n    metadata: {labels: {tier: pay" + labels + "}}\n    spec: {containers: [{name: c, image: x}]}\n"
	}
	tests := []struct {
		name string
		in   string
		opts render.ConvertOptions
		want string
	}{
		{"same version", pay + dep("pay-a", ", version: v1") + dep("pay-b", ", version: v1"), render.ConvertOptions{},
			"in.yaml:21: spec.template.metadata.labels.version: Deployment default/pay-b: version \"v1\", the same as Deployment default/pay-a (in.yaml:6), which shares Service pay with it: " +
				"the Deployments behind one Service become one Rollout, one Deployment per version: give each version's pod template a distinct version label, or give each Deployment its own Service in the input"},
		{"no version", pay + dep("pay-a", ", version: v1") + dep("pay-b", ""), render.ConvertOptions{},
			"in.yaml:21: spec.template.metadata.labels: Deployment default/pay-b: its pod template has no version label, and Deployment default/pay-a (in.yaml:6) shares Service pay with it: " +
				"the Deployments behind one Service become one Rollout, one Deployment per version: give each version's pod template a distinct version label, or give each Deployment its own Service in the input"},
		{"different apps", pay + dep("cart", ", app: cart, version: v1") + dep("order", ", app: order, version: v1"), render.ConvertOptions{},
			"in.yaml:21: spec.template.metadata.labels.app: Deployment default/order: app \"order\", but Deployment default/cart (in.yaml:6), which shares Service pay with it, is app \"cart\": they are different services; give each its own Service in the input"},
		{"workload ref", pay + dep("pay-a", ", version: v1") + dep("pay-b", ", version: v2"), render.ConvertOptions{WorkloadRef: true},
			"in.yaml:6: Deployment default/pay-a: it shares Service pay with Deployment default/pay-b: they are the versions of one service, and a Rollout references one Deployment: convert them without --workload-ref"},
		{"unknown version", versionsInput("v1", "v2"), render.ConvertOptions{Canary: []render.VersionChoice{{Version: "v3"}}},
			"--canary-version v3: service shop/pay has no version \"v3\" (its versions: v1, v2)"},
		{"stable is the canary", versionsInput("v1", "v2"), render.ConvertOptions{Stable: []render.VersionChoice{{Service: "pay", Version: "v2"}}},
			"--stable-version pay=v2: version v2 of service shop/pay is its canary: the stable must be another version (v1, v2)"},
		{"no such service", versionsInput("v1", "v2"), render.ConvertOptions{Canary: []render.VersionChoice{{Service: "cart", Version: "v2"}}},
			"--canary-version cart=v2: no service cart has one Deployment per version (versions are told apart by the pods' version label)"},
		{"name collision", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: pay, namespace: shop}\nspec:\n  selector: {matchLabels: {run: pay}}\n" +
			"  template:\n    metadata: {labels: {run: pay}}\n    spec: {containers: [{name: c, image: x, ports: [{containerPort: 80}]}]}\n---\n" + versionsInput("v1", "v2"), render.ConvertOptions{},
			"Service shop/pay would be generated both for Deployment shop/pay and for Deployments shop/pay-v1, pay-v2: rename one of them, or give each its own Service in the input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render.Convert(load(t, "in.yaml", []byte(tc.in)), tc.opts)
			if err == nil {
				t.Fatal("no error")
			}
			if got := strings.Split(err.Error(), "\n")[0]; got != tc.want {
				t.Errorf("error:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestSortVersions(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"v10", "v2", "v1"}, []string{"v1", "v2", "v10"}},
		{[]string{"v1.0.0", "v1", "v0.9"}, []string{"v0.9", "v1", "v1.0.0"}},
		{[]string{"2.0.0", "2.0.0-rc.2", "2.0.0-rc.10", "2.0.0-alpha", "1.99.0"}, []string{"1.99.0", "2.0.0-alpha", "2.0.0-rc.2", "2.0.0-rc.10", "2.0.0"}},
		{[]string{"v2", "canary", "v1"}, []string{"canary", "v1", "v2"}},
		{[]string{"v1.2.3+b2", "v1.2.3+b1"}, []string{"v1.2.3+b1", "v1.2.3+b2"}},
		{[]string{"99999999999999999999", "100000000000000000000"}, []string{"99999999999999999999", "100000000000000000000"}},
	}
	for _, tc := range tests {
		got := append([]string(nil), tc.in...)
		render.SortVersions(got)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("SortVersions(%v) (-want +got):\n%s", tc.in, diff)
		}
	}
}

// FuzzSortVersions: any versions sort to the same order whatever their
// input order (a total order), and sorting keeps every value.
func FuzzSortVersions(f *testing.F) {
	for _, s := range []string{"v1,v2,v10", "1.0.0-rc.1,1.0.0,1.0.0-rc.1.x", "v1,v1.0,v1.0.0", "a,v1,0.0.0-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		vs := strings.Split(s, ",")
		a := append([]string(nil), vs...)
		b := append([]string(nil), vs...)
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		render.SortVersions(a)
		render.SortVersions(b)
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("order depends on the input order:\n%s", diff)
		}
		for _, v := range vs {
			if !strings.Contains(","+strings.Join(a, ",")+",", ","+v+",") {
				t.Errorf("%q lost: %v", v, a)
			}
		}
	})
}

// TestConvertAppLabelWithoutService: without a Service in the input,
// Deployments with the same app label are the versions of one service when
// their version labels differ (one Rollout and a generated Service named
// after the app), and separate services otherwise (as before).
func TestConvertAppLabelWithoutService(t *testing.T) {
	dep := func(name, labels string) string {
		return "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name + "}\nspec:\n  selector: {matchLabels: {app: web" + labels + "}}\n" +
			"  template:\n    metadata: {labels: {app: web" + labels + "}}\n    spec: {containers: [{name: c, image: x, ports: [{containerPort: 8080}]}]}\n"
	}
	tests := []struct {
		name string
		in   string
		want []string // Rollout: Service
	}{
		{"versions", dep("web-v1", ", version: v1") + dep("web-v2", ", version: v2"), []string{"web: web"}},
		{"components", dep("web-api", ", component: api") + dep("web-ui", ", component: ui"), []string{"web-api: web-api", "web-ui: web-ui"}},
		{"same version", dep("web-api", ", component: api, version: v1") + dep("web-ui", ", component: ui, version: v1"), []string{"web-api: web-api", "web-ui: web-ui"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conv := convert(t, load(t, "in.yaml", []byte(tc.in)), render.ConvertOptions{})
			var got []string
			for _, cs := range conv.Services {
				got = append(got, cs.Rollout+": "+cs.Service)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Rollouts (-want +got):\n%s", diff)
			}
			lintClean(t, conv.Objects)
		})
	}
}

// TestConvertVersionsReplicas: the Rollout of a service with one
// Deployment per version has the larger of their replicas (unset is 1).
func TestConvertVersionsReplicas(t *testing.T) {
	tests := []struct {
		v1, v2 string // replicas lines, "" = unset
		want   int32
	}{
		{"", "", 1},
		{"  replicas: 4\n", "", 4},
		{"  replicas: 0\n", "  replicas: 3\n", 3},
		{"  replicas: 0\n", "  replicas: 0\n", 0},
		{"  replicas: 0\n", "", 1},
	}
	for _, tc := range tests {
		in := versionsInput("v1", "v2")
		in = strings.Replace(in, "metadata: {name: pay-v1, namespace: shop}\nspec:\n", "metadata: {name: pay-v1, namespace: shop}\nspec:\n"+tc.v1, 1)
		in = strings.Replace(in, "metadata: {name: pay-v2, namespace: shop}\nspec:\n", "metadata: {name: pay-v2, namespace: shop}\nspec:\n"+tc.v2, 1)
		conv := convert(t, load(t, "pay.yaml", []byte(in)), render.ConvertOptions{})
		if got := *find[*rollouts.Rollout](t, conv.Objects, "Rollout", "pay").Spec.Replicas; got != tc.want {
			t.Errorf("replicas %q and %q: Rollout has %d, want %d", tc.v1, tc.v2, got, tc.want)
		}
	}
}

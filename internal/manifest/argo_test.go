package manifest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// unsafeRollout is the Rollout of issue #14: a weight above 100 and a pause
// that does not parse. Argo's controller marks it InvalidSpec.
const unsafeRollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: order}}
  template:
    metadata: {labels: {app: order}}
    spec: {containers: [{name: order, image: order:v2}]}
  strategy:
    canary:
      steps:
      - setWeight: 150
      - pause: {duration: abc}
      - setWeight: 50
`

// TestArgoRefused: Rollouts and analysis templates that Argo Rollouts
// finds invalid are refused at load, each problem at its own line, in the
// style of the errors of Graylane's own kinds.
func TestArgoRefused(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"setWeight 150 and pause abc", unsafeRollout,
			"e.yaml:13: spec.strategy.canary.steps[0].setWeight: Invalid value: 150: must be between 0 and 100\n" +
				`e.yaml:14: spec.strategy.canary.steps[1].pause.duration: Invalid value: "abc": must be a number of seconds or a duration such as 30s, 5m or 1h`},
		// Paths in a List item are the item's own, as for every error.
		{"in a List", "apiVersion: v1\nkind: List\nitems:\n" + indentItem(unsafeRollout),
			"e.yaml:16: spec.strategy.canary.steps[0].setWeight: Invalid value: 150: must be between 0 and 100\n" +
				`e.yaml:17: spec.strategy.canary.steps[1].pause.duration: Invalid value: "abc": must be a number of seconds or a duration such as 30s, 5m or 1h`},
		{"selector and strategy", `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order}
spec:
  selector: {matchLabels: {app: order}}
  template:
    metadata:
      labels: {app: orders}
    spec: {containers: [{name: order, image: x}]}
`, "e.yaml:8: spec.template.metadata.labels: Invalid value: \"app=orders\": spec.selector (app=order) does not match the template's labels\n" +
			"e.yaml:4: spec.strategy: Required value: one of canary and blueGreen"},
		{"analysis template", `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  metrics:
  - name: rate
    interval: 1 minute
    count: 3
    provider: {prometheus: {query: up}}
  - name: rate
    provider: {web: {url: http://x/}, prometheus: {query: up}}
---
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: empty}
spec: {}
`, "e.yaml:7: spec.metrics[0].interval: Invalid value: \"1 minute\": must be a duration such as 30s, 5m or 1h\n" +
			"e.yaml:10: spec.metrics[1].name: Duplicate value: \"rate\"\n" +
			"e.yaml:11: spec.metrics[1].provider: Invalid value: \"prometheus, web\": give exactly one metric provider\n" +
			"e.yaml:16: spec.metrics: Required value: at least one metric (or templates to include)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadBytes("e.yaml", []byte(tt.text))
			if err == nil {
				t.Fatal("loaded")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func indentItem(doc string) string {
	lines := strings.Split(strings.TrimSuffix(doc, "\n"), "\n")
	for i, l := range lines {
		if i == 0 {
			lines[i] = "- " + l
		} else {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestArgoFeaturesLoad: what Argo accepts loads, even what `graylane up`
// does not run (it refuses that itself, and lint lists it).
func TestArgoFeaturesLoad(t *testing.T) {
	s := mustLoadBytes(t, "ok.yaml", `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: bg}
spec:
  selector: {matchLabels: {app: bg}}
  template:
    metadata: {labels: {app: bg}}
    spec: {containers: [{name: bg, image: x}]}
  strategy:
    blueGreen: {activeService: bg-active, previewService: bg-preview}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: ref}
spec:
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: ref}
  strategy:
    canary:
      steps:
      - experiment: {templates: [{name: baseline, specRef: stable}]}
      - pause: {duration: 1h}
`)
	if len(s.Objects) != 2 {
		t.Errorf("loaded %d objects, want 2", len(s.Objects))
	}
}

// TestIgnoredWarnings: every document of a kind the loader does not decode
// gets a located warning, with a "did you mean" for near misses.
func TestIgnoredWarnings(t *testing.T) {
	s := mustLoadBytes(t, "in.yaml", `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
---
apiVersion: networking.istio.io/v1
kind: VirtualServce
metadata: {name: order}
---
apiVersion: networking.istio.io/v1beta2
kind: VirtualService
metadata: {name: order}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: shop, namespace: argocd}
`)
	got := s.IgnoredWarnings(DoingLint, func(o *Object) bool { return o.Kind == "Application" })
	want := []string{
		"in.yaml:1: apps/v1 StatefulSet shop/db is not checked by graylane lint",
		"in.yaml:5: networking.istio.io/v1 VirtualServce order is not checked by graylane lint; did you mean networking.istio.io/v1 VirtualService?",
		"in.yaml:9: networking.istio.io/v1beta2 VirtualService order is not checked by graylane lint; did you mean networking.istio.io/v1 VirtualService?",
		"in.yaml:13: example.com/v1 Widget w is not checked by graylane lint",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct{ apiVersion, kind, want string }{
		{"networking.istio.io/v1beta2", "VirtualService", "networking.istio.io/v1 VirtualService"},
		{"networking.istio.io/v1", "VirtualServce", "networking.istio.io/v1 VirtualService"},
		{"networking.istio.io/v1alpha3", "virtualservice", "networking.istio.io/v1alpha3 VirtualService"},
		{"networking.istio.io/v1", "Destinationrule", "networking.istio.io/v1 DestinationRule"},
		{"networking.istio.i/v1", "Gateway", "networking.istio.io/v1 Gateway"},
		{"argoproj.io/v1", "Rollout", "argoproj.io/v1alpha1 Rollout"},
		{"argoproj.io/v1alpha1", "Rollouts", "argoproj.io/v1alpha1 Rollout"},
		{"argoproj.io/v1alpha1", "AnalysisTemplates", "argoproj.io/v1alpha1 AnalysisTemplate"},
		{"v1alpha1", "Rollout", "argoproj.io/v1alpha1 Rollout"},
		{"v1", "Deployment", "apps/v1 Deployment"},
		{"extensions/v1beta1", "Deployment", "apps/v1 Deployment"},
		{"apps/v1beta2", "Deployment", "apps/v1 Deployment"},
		{"v2", "Service", "v1 Service"},
		{"graylane.io/v1alpha1", "Lanes", "graylane.io/v1alpha1 Lane"},
		// Not near misses: other kinds, and other products' kinds of the
		// same name.
		{"apps/v1", "StatefulSet", ""},
		{"example.com/v1", "Widget", ""},
		{"v1", "Namespace", ""},
		{"v1", "Secret", ""},
		{"argoproj.io/v1alpha1", "Application", ""},
		{"argoproj.io/v1alpha1", "Experiment", ""},
		{"appmesh.k8s.aws/v1beta2", "VirtualService", ""},
		{"gateway.networking.k8s.io/v1", "Gateway", ""},
		{"networking.istio.io/v1", "Sidecar", ""},
		{"security.istio.io/v1", "AuthorizationPolicy", ""},
	}
	for _, tt := range tests {
		if got := Suggest(tt.apiVersion, tt.kind); got != tt.want {
			t.Errorf("Suggest(%q, %q) = %q, want %q", tt.apiVersion, tt.kind, got, tt.want)
		}
	}
}

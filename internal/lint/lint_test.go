package lint_test

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/lint"
	"github.com/graylane/graylane/internal/manifest"
)

// base is a correct seed-001 set: Service, DestinationRule, VirtualService
// (header route above the weighted route), Rollout.
const base = `apiVersion: v1
kind: Service
metadata: {name: order}
spec:
  selector: {app: order}
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: order}
spec:
  host: order
  subsets:
  - {name: stable, labels: {app: order}}
  - {name: canary, labels: {app: order}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: order}
spec:
  hosts: [order]
  http:
  - name: canary-header
    match: [{headers: {x-canary: {exact: "true"}}}]
    route: [{destination: {host: order, subset: canary}}]
  - name: primary
    route:
    - {destination: {host: order, subset: stable}, weight: 100}
    - {destination: {host: order, subset: canary}, weight: 0}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order}
spec:
  selector: {matchLabels: {app: order}}
  template:
    metadata: {labels: {app: order}}
    spec: {containers: [{name: order, image: x}]}
  strategy:
    canary:
      trafficRouting:
        istio:
          virtualService: {name: order, routes: [primary]}
          destinationRule: {name: order, canarySubsetName: canary, stableSubsetName: stable}
      steps: [{setWeight: 10}, {pause: {}}]
`

// unnamedWeighted is base with a weighted route without a name, which the
// Rollout does not name either: Argo Rollouts sets the weights of the
// first route without a name.
var unnamedWeighted = strings.NewReplacer(
	"  - name: primary\n    route:", "  - route:",
	"virtualService: {name: order, routes: [primary]}", "virtualService: {name: order}",
	"      trafficRouting:\n", "      trafficRouting:\n        managedRoutes: [{name: canary-header}]\n",
).Replace(base)

const app = `---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: shop, namespace: argocd}
spec:
  project: default
  destination: {server: "https://kubernetes.default.svc", namespace: default}
  source: {repoURL: "https://git.example.com/x.git", path: shop}
  ignoreDifferences:
`

// canarySvc selects a label (track) the Rollout's pods do not have.
const canarySvc = `---
apiVersion: v1
kind: Service
metadata: {name: order-canary}
spec:
  selector: {app: order, track: canary}
  ports: [{name: http, port: 8080}]
`

// analysisSteps run an AnalysisTemplate and a ClusterAnalysisTemplate.
const analysisSteps = `steps:
      - setWeight: 10
      - analysis:
          templates: [{templateName: success-rate}]
          args: [{name: service, value: order}]
      - analysis:
          templates: [{templateName: latency, clusterScope: true}]`

const templates = `---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: service}]
  metrics:
  - name: success-rate
    provider: {prometheus: {query: 'sum(rate(istio_requests_total{destination_service_name="{{args.service}}"}[1m]))'}}
---
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: latency}
spec:
  metrics:
  - name: p99
    provider: {web: {url: "http://probe/latency"}}
`

const blueGreen = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order}
spec:
  selector: {matchLabels: {app: order}}
  template:
    metadata: {labels: {app: order}}
    spec: {containers: [{name: order, image: x}]}
  strategy:
    blueGreen: {activeService: order}
---
apiVersion: v1
kind: Service
metadata: {name: order}
spec:
  selector: {app: order}
`

func TestLint(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // "check where"
	}{
		{"clean", base, nil},
		{"subset missing from the DestinationRule",
			strings.Replace(base, "{name: canary, labels: {app: order}}", "{name: canary-x, labels: {app: order}}", 1),
			// in.yaml:15: Argo Rollouts would also drop canary-x.
			[]string{"rollout-ref in.yaml:15", "routing in.yaml:25", "routing in.yaml:29", "rollout-ref in.yaml:44"}},
		{"extra subset in a Rollout's DestinationRule",
			strings.Replace(base, "{name: canary, labels: {app: order}}", "{name: canary, labels: {app: order}}\n  - {name: legacy, labels: {app: order, version: v0}}", 1),
			[]string{"rollout-ref in.yaml:16"}},
		{"rollout route name missing",
			strings.Replace(base, "routes: [primary]", "routes: [main]", 1),
			[]string{"rollout-ref in.yaml:43"}},
		{"weights not summing to 100 are relative, as in Istio since 1.15",
			strings.Replace(base, "weight: 0}", "weight: 10}", 1), nil},
		{"negative weight",
			strings.Replace(base, "weight: 0}", "weight: -10}", 1),
			[]string{"routing in.yaml:29"}},
		{"several destinations, all weights 0",
			strings.Replace(base, "weight: 100}", "weight: 0}", 1),
			[]string{"routing in.yaml:27"}},
		{"catch-all above other routes and header route below the weighted route",
			strings.Replace(base, `  - name: canary-header
    match: [{headers: {x-canary: {exact: "true"}}}]
    route: [{destination: {host: order, subset: canary}}]
  - name: primary
    route:
    - {destination: {host: order, subset: stable}, weight: 100}
    - {destination: {host: order, subset: canary}, weight: 0}
`, `  - name: primary
    route:
    - {destination: {host: order, subset: stable}, weight: 100}
    - {destination: {host: order, subset: canary}, weight: 0}
  - name: canary-header
    match: [{headers: {x-canary: {exact: "true"}}}]
    route: [{destination: {host: order, subset: canary}}]
`, 1),
			[]string{"catch-all in.yaml:23", "header-order in.yaml:27"}},
		{"service selector matches no pod template",
			strings.Replace(base, "selector: {app: order}", "selector: {app: orders}", 1),
			[]string{"selector in.yaml:5"}},
		{"application without ignoreDifferences", base + app,
			[]string{"argocd in.yaml:54", "argocd in.yaml:54"}},
		{"application with the Argo docs' jsonPointers /spec/http/1 and the DR jq", base + app + `  - group: networking.istio.io
    kind: VirtualService
    jsonPointers: [/spec/http/1]
  - group: networking.istio.io
    kind: DestinationRule
    jqPathExpressions: ['.spec.subsets[].labels["rollouts-pod-template-hash"]']
`, nil},
		// The header route is Argo's (managedRoutes, as setHeaderRoute
		// puts it on top), the weighted route has no name.
		{"routes not named: Argo sets the first unnamed route (index 1), /spec/http/1 covers it",
			unnamedWeighted + app + `  - group: networking.istio.io
    kind: VirtualService
    jsonPointers: [/spec/http/0, /spec/http/1]
  - group: networking.istio.io
    kind: DestinationRule
    managedFieldsManagers: [rollouts-controller]
`, nil},
		{"routes not named: /spec/http/0 is the header route, not the weighted one",
			unnamedWeighted + app + `  - group: networking.istio.io
    kind: VirtualService
    jsonPointers: [/spec/http/0]
  - group: networking.istio.io
    kind: DestinationRule
    managedFieldsManagers: [rollouts-controller]
`, []string{"argocd in.yaml:54"}},
		{"application ignoring the wrong route", base + app + `  - group: networking.istio.io
    kind: VirtualService
    jsonPointers: [/spec/http/0]
  - group: networking.istio.io
    kind: DestinationRule
    managedFieldsManagers: [rollouts-controller]
`, []string{"argocd in.yaml:54"}},
		{"VirtualService named as name.namespace (graylane up matches names only)", strings.Replace(base, "virtualService: {name: order,", "virtualService: {name: order.default,", 1),
			[]string{"local in.yaml:43"}},
		{"VirtualService in a namespace that has none", strings.Replace(base, "virtualService: {name: order,", "virtualService: {name: order.shop,", 1),
			[]string{"rollout-ref in.yaml:43", "local in.yaml:43"}},
		{"canary Service selecting a label the pods lack", strings.Replace(base, "      trafficRouting:", "      stableService: order\n      canaryService: order-canary\n      trafficRouting:", 1) + canarySvc,
			[]string{"rollout-ref in.yaml:42", "selector in.yaml:53"}},
		{"analysis templates present, arguments given", strings.Replace(base, "steps: [{setWeight: 10}, {pause: {}}]", analysisSteps, 1) + templates, nil},
		{"analysis template missing, cluster template missing", strings.Replace(base, "steps: [{setWeight: 10}, {pause: {}}]", analysisSteps, 1),
			[]string{"analysis-ref in.yaml:48", "analysis-ref in.yaml:51"}},
		{"analysis argument not given", strings.Replace(strings.Replace(base, "steps: [{setWeight: 10}, {pause: {}}]", analysisSteps, 1), "args: [{name: service, value: order}]", "args: []", 1) + templates,
			[]string{"analysis-ref in.yaml:47"}},
		{"blueGreen is not run locally", blueGreen, []string{"local in.yaml:10"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := manifest.LoadBytes("in.yaml", []byte(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range lint.Lint(set) {
				got = append(got, f.Check+" "+f.Where)
				if f.Hint == "" || f.Message == "" {
					t.Errorf("finding without message or hint: %+v", f)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s\nall: %v", diff, lint.Lint(set))
			}
		})
	}
}

// TestLintUpstreamExperimentPreview lints argo-rollouts'
// examples/rollout-canary-preview.yaml (a copy under testdata/, see its
// README.md): its preview Service selects the pods of the experiment step,
// whose template relabels them, so the selector check has nothing to say.
// Without the template's labels the experiment's pods are the Rollout's,
// and the preview Service selects none.
func TestLintUpstreamExperimentPreview(t *testing.T) {
	const file = "testdata/argo-rollouts/examples/rollout-canary-preview.yaml"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	unlabelled := strings.Replace(string(data), `            metadata:
              labels:
                app: rollout-canary-preview
`, "", 1)
	if unlabelled == string(data) {
		t.Fatal("the example's experiment template labels are not where the test expects them")
	}
	tests := []struct {
		name  string
		input string
		want  []string // "check where: message"
	}{
		{"as upstream", string(data), nil},
		{"experiment template without labels", unlabelled, []string{
			"selector " + file + ":49: selector app=rollout-canary-preview matches no pod template in namespace default (Rollout default/rollout-canary-preview {app=rollout-canary-production})",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := manifest.LoadBytes(file, []byte(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range lint.Lint(set) {
				if f.Check == lint.CheckSelector {
					got = append(got, f.Check+" "+f.Where+": "+f.Message)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("selector findings (-want +got):\n%s", diff)
			}
		})
	}
}

package kubeapply

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/rollouttraffic"
)

// everything namespaced except Namespace and ClusterAnalysisTemplate
func testScope(gvk schema.GroupVersionKind) (bool, error) {
	return gvk.Kind != "Namespace" && gvk.Kind != "ClusterAnalysisTemplate", nil
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    []string // "apiVersion Kind namespace/name @line"
		wantErr string
	}{
		{
			name: "apply order and namespace defaulting",
			yaml: `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec: {selector: {matchLabels: {app: r}}, template: {metadata: {labels: {app: r}}, spec: {containers: [{name: r, image: r}]}}, strategy: {canary: {}}}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vs, namespace: other}
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: dr}
---
apiVersion: v1
kind: Service
metadata: {name: svc}
---
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: cat}
spec: {metrics: [{name: m, provider: {web: {url: "http://x/"}}}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
`,
			want: []string{
				"v1 Namespace /shop @23",
				"v1 Service shop/svc @14",
				"networking.istio.io/v1 DestinationRule shop/dr @10",
				"networking.istio.io/v1 VirtualService other/vs @6",
				"argoproj.io/v1alpha1 ClusterAnalysisTemplate /cat @18",
				"argoproj.io/v1alpha1 Rollout shop/r @1",
			},
		},
		{
			name: "unknown field of a kind decoded with the scheme",
			yaml: `apiVersion: v1
kind: ConfigMap
metadata:
  name: c
datta:
  a: b
`,
			wantErr: "in.yaml:5: datta: unknown field",
		},
	}
	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := manifest.LoadBytes("in.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			items, _, err := Plan(set, scheme, testScope, "shop")
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tc.wantErr {
				t.Fatalf("error %q, want %q", gotErr, tc.wantErr)
			}
			var got []string
			for _, it := range items {
				gvk := it.GVK()
				got = append(got, gvk.GroupVersion().String()+" "+gvk.Kind+" "+it.Object.GetNamespace()+"/"+it.Object.GetName()+" @"+strconv.Itoa(it.Source.Pos.Line))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeepArgoFields(t *testing.T) {
	set, err := manifest.Load("../../examples/seed001/order.yaml")
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	items, _, err := Plan(set, scheme, testScope, "default")
	if err != nil {
		t.Fatal(err)
	}
	owned := argoFields(items)
	var vs *networkingv1.VirtualService
	var dr *networkingv1.DestinationRule
	for _, it := range items {
		switch o := it.Object.(type) {
		case *networkingv1.VirtualService:
			vs = o
		case *networkingv1.DestinationRule:
			dr = o
		}
	}
	// What the controller left mid-rollout: 90/10 on route primary (and,
	// were it there, on the unnamed header route too), hashes on the subsets.
	liveVS := vs.DeepCopy()
	liveVS.Spec.Http[0].Route[0].Weight = 77
	liveVS.Spec.Http[1].Route[0].Weight = 90
	liveVS.Spec.Http[1].Route[1].Weight = 10
	liveDR := dr.DeepCopy()
	liveDR.Spec.Subsets[0].Labels = map[string]string{"app": "order", rollouttraffic.PodTemplateHashLabel: "aaa"}
	liveDR.Spec.Subsets[1].Labels = map[string]string{"app": "order", rollouttraffic.PodTemplateHashLabel: "bbb"}

	owned.keepLive(vs, liveVS)
	owned.keepLive(dr, liveDR)
	var got []string
	for _, r := range vs.Spec.Http {
		for _, d := range r.Route {
			got = append(got, r.Name+"/"+d.Destination.Subset+"="+strconv.Itoa(int(d.Weight)))
		}
	}
	for _, s := range dr.Spec.Subsets {
		got = append(got, s.Name+" hash="+s.Labels[rollouttraffic.PodTemplateHashLabel])
	}
	want := []string{"canary-header/canary=0", "primary/stable=90", "primary/canary=10", "stable hash=aaa", "canary hash=bbb"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestKeepServiceSelectorHash: the canary and stable Services of a Rollout
// keep the pod-template-hash the controller put in their selector.
func TestKeepServiceSelectorHash(t *testing.T) {
	doc := `apiVersion: v1
kind: Service
metadata: {name: pay-stable}
spec: {selector: {app: pay}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: other}
spec: {selector: {app: pay}, ports: [{port: 80}]}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: pay}
spec:
  selector: {matchLabels: {app: pay}}
  template:
    metadata: {labels: {app: pay}}
    spec: {containers: [{name: pay, image: pay:1}]}
  strategy: {canary: {stableService: pay-stable, canaryService: pay-canary}}
`
	set, err := manifest.LoadBytes("s.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	items, _, err := Plan(set, scheme, testScope, "default")
	if err != nil {
		t.Fatal(err)
	}
	owned := argoFields(items)
	var got []string
	for _, it := range items {
		svc, ok := it.Object.(*corev1.Service)
		if !ok {
			continue
		}
		live := svc.DeepCopy()
		live.Spec.Selector[rollouttraffic.PodTemplateHashLabel] = "abc"
		owned.keepLive(svc, live)
		got = append(got, svc.Name+" hash="+svc.Spec.Selector[rollouttraffic.PodTemplateHashLabel])
	}
	if diff := cmp.Diff([]string{"pay-stable hash=abc", "other hash="}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

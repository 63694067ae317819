package bench

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/graylane/graylane/internal/kubeapply"
	"github.com/graylane/graylane/internal/kubetest"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/render"
)

// BenchmarkRenderValidate1000 renders the 1,000-service fleet and has a
// real kube-apiserver (with the upstream Istio and Argo Rollouts CRDs)
// validate every object by server-side apply in dry-run mode, one request
// per object as `graylane apply --dry-run=server` sends them. The Argo CD
// Application (no API type in the apply client) is left out.
func BenchmarkRenderValidate1000(b *testing.B) {
	env := kubetest.Start(b)
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		b.Fatal(err)
	}
	scheme, err := kubeapply.NewScheme()
	if err != nil {
		b.Fatal(err)
	}
	kc, err := kubeapply.NewClient(env.Config, scheme)
	if err != nil {
		b.Fatal(err)
	}
	namespaced := func(gvk schema.GroupVersionKind) (bool, error) { return gvk.Kind != "Namespace", nil }
	r := fleet(1000)
	for b.Loop() {
		objs, err := render.Render(r)
		if err != nil {
			b.Fatal(err)
		}
		set := &manifest.Set{}
		for _, o := range objs {
			set.Objects = append(set.Objects, &manifest.Object{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, Namespace: o.Namespace, Typed: o.Value})
		}
		items, _, err := kubeapply.Plan(set, scheme, namespaced, "shop")
		if err != nil {
			b.Fatal(err)
		}
		res, err := kubeapply.Apply(ctx, kc, items, kubeapply.ApplyOptions{DryRun: true})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(res)), "objects/op")
	}
}

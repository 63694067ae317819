package bench

import (
	"fmt"
	"testing"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/render"
)

// fleet is one Release of n services with every feature on: edge gateway,
// cookie route, the four analyses, PDB and the Argo CD Application.
func fleet(n int) *v1alpha1.Release {
	r := &v1alpha1.Release{}
	r.Name, r.Namespace = "fleet", "shop"
	r.Spec = v1alpha1.ReleaseSpec{
		Layout:       v1alpha1.LayoutServices,
		Gateways:     []string{"istio-system/shop-gateway"},
		Hosts:        []string{"shop.example.com"},
		CookieRoutes: []v1alpha1.CookieRoute{{Cookie: "tenantGray", Value: "1"}},
		Analysis: &v1alpha1.Analysis{
			SuccessRate: &v1alpha1.SuccessRate{}, Latency: &v1alpha1.Latency{MaxP99Milliseconds: 500},
			RequestRate: &v1alpha1.RequestRate{Min: "1"}, Web: &v1alpha1.WebProbe{},
		},
		ArgoCD: &v1alpha1.ArgoCD{RepoURL: "https://git.example.com/deploy.git", Path: "shop"},
	}
	for i := range n {
		r.Spec.Services = append(r.Spec.Services, v1alpha1.ReleaseService{
			Name: fmt.Sprintf("svc-%04d", i), Image: fmt.Sprintf("registry.example.com/svc-%04d:1.0", i),
		})
	}
	return r
}

// BenchmarkRender1000 renders 1,000 services (9 objects each, about 9,000
// objects and 12 MB of YAML) to multi-document YAML: the time `graylane
// render` spends between loading and writing. Target: < 2 s per op.
func BenchmarkRender1000(b *testing.B) {
	r := fleet(1000)
	b.ReportAllocs()
	for b.Loop() {
		objs, err := render.Render(r)
		if err != nil {
			b.Fatal(err)
		}
		out, err := render.EncodeAll(objs)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

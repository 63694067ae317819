package v1alpha1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/graylane/graylane/internal/springprops"
)

func TestValidate(t *testing.T) {
	w := func(n int32) *int32 { return &n }
	tests := []struct {
		name   string
		mutate func(*Release)
		want   []string
	}{
		{"valid", func(*Release) {}, nil},
		{"weight", func(r *Release) { r.Spec.Steps = []Step{{SetWeight: w(101)}} }, []string{"spec.steps[0].setWeight"}},
		{"negative weight", func(r *Release) { r.Spec.Steps = []Step{{SetWeight: w(-1)}} }, []string{"spec.steps[0].setWeight"}},
		{"pause duration", func(r *Release) { r.Spec.Steps = []Step{{Pause: &Pause{Duration: "1d"}}} }, []string{"spec.steps[0].pause.duration"}},
		{"empty step", func(r *Release) { r.Spec.Steps = []Step{{}} }, []string{"spec.steps[0]"}},
		{"name too long", func(r *Release) {
			r.Spec.Services[0].Name = "a234567890123456789012345678901234567890123456789012345678"
		}, []string{"spec.services[0].name"}},
		{"port", func(r *Release) { r.Spec.Services[0].Ports[0].Port = 70000 }, []string{"spec.services[0].ports[0].port"}},
		{"pdb both", func(r *Release) { v := intstr.FromInt32(1); r.Spec.PDB.MinAvailable = &v }, []string{"spec.pdb"}},
		{"argocd", func(r *Release) { r.Spec.ArgoCD = &ArgoCD{Path: "p"} }, []string{"spec.argocd.repoURL"}},
		{"mesh off without gateways", func(r *Release) { f := false; r.Spec.Mesh = &f }, []string{"spec.mesh"}},
		{"cookie value", func(r *Release) { r.Spec.CookieRoutes = []CookieRoute{{Cookie: "g", Value: "a;b"}} }, []string{"spec.cookieRoutes[0].value"}},
		{"unknown analysis", func(r *Release) {
			r.Spec.Analysis = &Analysis{Web: &WebProbe{}}
			r.Spec.Analysis.Default()
			r.Spec.Steps = []Step{{Analysis: &StepAnalysis{Templates: []string{"latency"}}}}
		}, []string{"spec.steps[0].analysis.templates[0]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Release{Spec: ReleaseSpec{Services: []ReleaseService{{Name: "a", Image: "x"}}}}
			r.Name = "r"
			r.Default()
			tc.mutate(r)
			var got []string
			for _, e := range r.Validate() {
				got = append(got, e.Field)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("error fields (-want +got):\n%s", diff)
			}
		})
	}
}

// Every property name Validate accepts maps to an environment variable a
// container can have (letters, digits and '_', not starting with a digit),
// whatever the name: the name pattern guarantees it.
func FuzzCanaryPropertyEnvName(f *testing.F) {
	for _, k := range []string{"feature.discount-rate", "my.hosts[0].name", "a", "a..b", "a.-b", "a[x]", "spring.cloud.openfeign.client.config.order-service.url", "1a", "a_b.C-d[12]"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		c := &CanaryConfig{Properties: map[string]string{k: "v"}, Container: "app"}
		errs := c.Validate(field.NewPath("canaryConfig"), []corev1.Container{{Name: "app"}})
		if len(errs) == 0 && !springprops.ValidEnvName(springprops.EnvName(k)) {
			t.Errorf("property %q is accepted but maps to %q, not a valid environment variable name", k, springprops.EnvName(k))
		}
	})
}

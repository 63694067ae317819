package v1alpha1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDefault(t *testing.T) {
	r := &Release{Spec: ReleaseSpec{
		Services: []ReleaseService{{Name: "a", Image: "x", Ports: []Port{{Port: 80}, {Port: 9090}}}, {Name: "b", WorkloadRef: &WorkloadRef{Name: "b"}}},
		Analysis: &Analysis{SuccessRate: &SuccessRate{}, Web: &WebProbe{}},
	}}
	r.Default()
	two, five, one := int32(2), int32(5), int32(1)
	maxUnavailable := intstr.FromInt32(1)
	want := ReleaseSpec{
		Layout: LayoutSubsets,
		Services: []ReleaseService{
			{Name: "a", Image: "x", Ports: []Port{{Name: "http", Port: 80, TargetPort: 80}, {Name: "http-9090", Port: 9090, TargetPort: 9090}}, Replicas: &two},
			{Name: "b", WorkloadRef: &WorkloadRef{Name: "b", MatchLabels: map[string]string{"app": "b"}, ScaleDown: "progressively"}, Ports: []Port{{Name: "http", Port: 8080, TargetPort: 8080}}, Replicas: &two},
		},
		Steps:       DefaultSteps(),
		HeaderRoute: &HeaderRoute{Header: "x-canary", Value: "true"},
		Analysis: &Analysis{Prometheus: DefaultPrometheus, Interval: "1m", Window: "2m", Count: &five, FailureLimit: &one,
			SuccessRate: &SuccessRate{Min: "0.99"}, Web: &WebProbe{Path: "/actuator/health", JSONPath: "{$.status}", Expect: "UP"}},
		PDB: &PDB{MaxUnavailable: &maxUnavailable},
	}
	if diff := cmp.Diff(want, r.Spec); diff != "" {
		t.Errorf("defaulted spec (-want +got):\n%s", diff)
	}
	if r.Namespace != "default" {
		t.Errorf("namespace = %q", r.Namespace)
	}
	if errs := r.Validate(); len(errs) != 1 || errs[0].Field != "metadata.name" {
		t.Errorf("Validate() = %v, want only the missing name", errs)
	}
}

// An empty list of steps gets the default steps, like a missing one.
func TestDefaultEmptySteps(t *testing.T) {
	for _, steps := range [][]Step{nil, {}} {
		s := ReleaseSpec{Steps: steps}
		s.Default()
		if diff := cmp.Diff(DefaultSteps(), s.Steps); diff != "" {
			t.Errorf("steps %#v defaulted (-want +got):\n%s", steps, diff)
		}
	}
}

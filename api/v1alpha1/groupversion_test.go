package v1alpha1

import (
	"testing"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		obj  runtime.Object
		kind string
	}{{&Lane{}, "Lane"}, {&LaneList{}, "LaneList"}, {&Release{}, "Release"}, {&ReleaseList{}, "ReleaseList"}} {
		gvks, _, err := s.ObjectKinds(tc.obj)
		if err != nil {
			t.Fatalf("%T: %v", tc.obj, err)
		}
		want := []schema.GroupVersionKind{GroupVersion.WithKind(tc.kind)}
		if diff := cmp.Diff(want, gvks); diff != "" {
			t.Errorf("%T kinds (-want +got):\n%s", tc.obj, diff)
		}
	}
}

// DeepCopy shares no memory with the original: changing every nested
// pointer, slice and map of the copy leaves the original as it was.
func TestDeepCopyShares(t *testing.T) {
	lane := &Lane{
		ObjectMeta: metav1.ObjectMeta{Name: "gray", Labels: map[string]string{"a": "b"}},
		Spec: LaneSpec{
			Members: []LaneMember{{Service: "order", Labels: map[string]string{"version": "v2"}, Stable: &VersionRef{Workload: "order-v1"}}},
			Entry:   LaneEntry{Whitelist: &Whitelist{Users: []string{"alice"}}, Percentage: &Percentage{Weight: 10, AnonymousWeight: ptr(int32(5))}},
			Plan: &LanePlan{Steps: []rolloutsv1alpha1.CanaryStep{{SetWeight: ptr(int32(10))}},
				Analysis: &rolloutsv1alpha1.RolloutAnalysisBackground{StartingStep: ptr(int32(0))}, Judge: ptr(true)},
		},
		Status: LaneStatus{Conditions: []metav1.Condition{{Type: ConditionReady, Status: metav1.ConditionTrue}}},
	}
	one := intstr.FromInt32(1)
	rel := &Release{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: ReleaseSpec{
			Services: []ReleaseService{{Name: "order", Env: []corev1.EnvVar{{Name: "A"}}, Replicas: ptr(int32(2)),
				WorkloadRef: &WorkloadRef{Name: "order", MatchLabels: Labels{"app": "order"}},
				Template:    &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}}},
			Steps:          []Step{{SetWeight: ptr(int32(10))}, {Analysis: &StepAnalysis{Templates: []string{"web"}}}},
			Mesh:           ptr(true),
			Analysis:       &Analysis{Count: ptr(int32(5)), Web: &WebProbe{Path: "/"}},
			PDB:            &PDB{MaxUnavailable: &one},
			CanaryMetadata: &PodMetadata{Labels: Labels{"v": "c"}, Annotations: map[string]string{"a": "b"}},
		},
	}
	laneWant, relWant := lane.DeepCopy(), rel.DeepCopy()
	if diff := cmp.Diff(lane, laneWant); diff != "" {
		t.Fatalf("lane copy differs:\n%s", diff)
	}
	if diff := cmp.Diff(rel, relWant); diff != "" {
		t.Fatalf("release copy differs:\n%s", diff)
	}

	lc := lane.DeepCopyObject().(*Lane)
	lc.Labels["a"] = "x"
	m := &lc.Spec.Members[0]
	m.Labels["version"] = "x"
	m.Stable.Workload = "x"
	lc.Spec.Entry.Whitelist.Users[0] = "x"
	*lc.Spec.Entry.Percentage.AnonymousWeight = 99
	*lc.Spec.Plan.Steps[0].SetWeight = 99
	*lc.Spec.Plan.Analysis.StartingStep = 9
	*lc.Spec.Plan.Judge = false
	lc.Status.Conditions[0].Status = metav1.ConditionFalse
	if diff := cmp.Diff(laneWant, lane); diff != "" {
		t.Errorf("changing the copy changed the lane:\n%s", diff)
	}

	rc := rel.DeepCopyObject().(*Release)
	s := &rc.Spec.Services[0]
	s.Env[0].Name = "x"
	*s.Replicas = 9
	s.WorkloadRef.MatchLabels["app"] = "x"
	s.Template.Spec.Containers[0].Name = "x"
	*rc.Spec.Steps[0].SetWeight = 99
	rc.Spec.Steps[1].Analysis.Templates[0] = "x"
	*rc.Spec.Mesh = false
	*rc.Spec.Analysis.Count = 9
	rc.Spec.Analysis.Web.Path = "x"
	*rc.Spec.PDB.MaxUnavailable = intstr.FromInt32(9)
	rc.Spec.CanaryMetadata.Labels["v"] = "x"
	rc.Spec.CanaryMetadata.Annotations["a"] = "x"
	if diff := cmp.Diff(relWant, rel); diff != "" {
		t.Errorf("changing the copy changed the release:\n%s", diff)
	}

	list := &ReleaseList{Items: []Release{*rel}}
	lcopy := list.DeepCopyObject().(*ReleaseList)
	lcopy.Items[0].Spec.Services[0].Name = "x"
	if list.Items[0].Spec.Services[0].Name != "order" {
		t.Errorf("changing a copied list changed the list")
	}
}

package v1alpha1_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/kubetest"
)

// The CRDs of config/crd/bases against a real kube-apiserver: they install,
// the examples are stored as written, invalid objects are refused with the
// field errors Validate gives, and status is written through its own
// subresource. One control plane serves every subtest.
func TestCRDsOnAPIServer(t *testing.T) {
	env := kubetest.Start(t, kubetest.WithGraylaneCRDs())
	ctx := t.Context()
	t.Run("examples", func(t *testing.T) { testExamples(ctx, t, env.Client) })
	t.Run("invalid-release", func(t *testing.T) { testInvalidReleaseExample(ctx, t, env.Client) })
	t.Run("rules", func(t *testing.T) { testRules(ctx, t, env.Client) })
	t.Run("status", func(t *testing.T) { testStatus(ctx, t, env.Client) })
}

// graylaneDocs reads the graylane.io objects of a YAML file as written.
func graylaneDocs(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if u.GroupVersionKind().Group == v1alpha1.Group {
			out = append(out, u)
		}
	}
	return out
}

func ensureNamespace(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// Every Lane and Release of the examples is accepted and stored as written:
// nothing is pruned as unknown.
func testExamples(ctx context.Context, t *testing.T, c client.Client) {
	root, err := kubetest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"examples/lanes/lane.yaml", "examples/kubernetes/seed000.yaml", "examples/kubernetes/seed001.yaml", "examples/kubernetes/canary-config.yaml"}
	kinds := map[string]int{}
	for _, f := range files {
		for _, u := range graylaneDocs(t, filepath.Join(root, f)) {
			kinds[u.GetKind()]++
			ensureNamespace(ctx, t, c, u.GetNamespace())
			want := u.DeepCopy()
			if err := c.Create(ctx, u); err != nil {
				t.Errorf("%s: create %s %s: %v", f, u.GetKind(), u.GetName(), err)
				continue
			}
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(u.GroupVersionKind())
			if err := c.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
				t.Fatalf("get %s %s: %v", u.GetKind(), u.GetName(), err)
			}
			if diff := cmp.Diff(want.Object["spec"], got.Object["spec"]); diff != "" {
				t.Errorf("%s: %s %s stored differently (-written +stored):\n%s", f, u.GetKind(), u.GetName(), diff)
			}
		}
	}
	if diff := cmp.Diff(map[string]int{"Lane": 1, "Release": 3}, kinds); diff != "" {
		t.Errorf("objects in the examples (-want +got):\n%s", diff)
	}
}

// The Release that `graylane render` refuses with three located errors is
// refused by the API server at the same three fields.
func testInvalidReleaseExample(ctx context.Context, t *testing.T, c client.Client) {
	root, err := kubetest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	docs := graylaneDocs(t, filepath.Join(root, "examples/kubernetes/testdata/invalid-release.yaml"))
	if len(docs) != 1 {
		t.Fatalf("want one Release, got %d", len(docs))
	}
	u := docs[0]
	u.SetNamespace("default")
	err = c.Create(ctx, u)
	want := []string{"spec.headerRoute.header", "spec.steps[0].setWeight", "spec.steps[1].pause.duration"}
	if diff := cmp.Diff(want, causeFields(err)); diff != "" {
		t.Errorf("fields refused (-want +got):\n%s\nerror: %v", diff, err)
	}
}

// causeFields lists the fields of an Invalid answer of the API server,
// sorted and without repeats; nil for any other error.
func causeFields(err error) []string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsInvalid(err) || status.Status().Details == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range status.Status().Details.Causes {
		if !seen[c.Field] {
			seen[c.Field] = true
			out = append(out, c.Field)
		}
	}
	slices.Sort(out)
	return out
}

// Status is written through the status subresource only: an update of the
// object leaves it alone and does not count as a new generation.
func testStatus(ctx context.Context, t *testing.T, c client.Client) {
	ensureNamespace(ctx, t, c, "status")
	for _, tc := range []struct {
		obj    client.Object
		status func(client.Object) (*[]metav1.Condition, *int64)
	}{
		{&v1alpha1.Lane{ObjectMeta: metav1.ObjectMeta{Name: "gray", Namespace: "status"}, Spec: validLaneSpec()},
			func(o client.Object) (*[]metav1.Condition, *int64) {
				s := &o.(*v1alpha1.Lane).Status
				return &s.Conditions, &s.ObservedGeneration
			}},
		{&v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "status"}, Spec: validReleaseSpec()},
			func(o client.Object) (*[]metav1.Condition, *int64) {
				s := &o.(*v1alpha1.Release).Status
				return &s.Conditions, &s.ObservedGeneration
			}},
	} {
		obj := tc.obj
		kind := reflectName(obj)
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("create %s: %v", kind, err)
		}
		gen := obj.GetGeneration()
		var want []metav1.Condition
		for _, cond := range []metav1.Condition{
			{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonApplied, Message: "every object is applied"},
			{Type: v1alpha1.ConditionProgressing, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonPaused, Message: "step 1 waits for promote"},
			{Type: v1alpha1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonHealthy},
		} {
			cond.ObservedGeneration = gen
			cond.LastTransitionTime = metav1.Now().Rfc3339Copy()
			meta.SetStatusCondition(&want, cond)
		}

		// An update of the object does not write status.
		plain := obj.DeepCopyObject().(client.Object)
		conds, observed := tc.status(plain)
		*conds, *observed = want, gen
		plain.SetLabels(map[string]string{"touched": "yes"})
		if err := c.Update(ctx, plain); err != nil {
			t.Fatalf("update %s: %v", kind, err)
		}
		if conds, observed := tc.status(plain); len(*conds) != 0 || *observed != 0 {
			t.Errorf("%s: an update of the object wrote status: %v, observedGeneration %d", kind, *conds, *observed)
		}

		conds, observed = tc.status(plain)
		*conds, *observed = want, gen
		if err := c.Status().Update(ctx, plain); err != nil {
			t.Fatalf("status update %s: %v", kind, err)
		}
		got := obj.DeepCopyObject().(client.Object)
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
			t.Fatalf("get %s: %v", kind, err)
		}
		gotConds, gotObserved := tc.status(got)
		if diff := cmp.Diff(want, *gotConds); diff != "" {
			t.Errorf("%s conditions (-want +got):\n%s", kind, diff)
		}
		if *gotObserved != gen || got.GetGeneration() != gen {
			t.Errorf("%s: generation %d, observedGeneration %d, want both %d", kind, got.GetGeneration(), *gotObserved, gen)
		}

		// The schema of metav1.Condition applies: a reason is a CamelCase word.
		bad := got.DeepCopyObject().(client.Object)
		badConds, _ := tc.status(bad)
		(*badConds)[0].Reason = "not a reason"
		err := c.Status().Update(ctx, bad)
		if diff := cmp.Diff([]string{"status.conditions[0].reason"}, causeFields(err)); diff != "" {
			t.Errorf("%s: bad reason refused at (-want +got):\n%s\nerror: %v", kind, diff, err)
		}
	}
}

func reflectName(o client.Object) string {
	switch o.(type) {
	case *v1alpha1.Lane:
		return "Lane"
	case *v1alpha1.Release:
		return "Release"
	}
	return "object"
}

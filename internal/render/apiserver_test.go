package render_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/graylane/graylane/internal/kubetest"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/render"
)

// argoCDModule holds the Application CRD (manifests/crds/application-crd.yaml).
// It is not a dependency of the repository (it requires k8s.io/kubernetes);
// the test downloads it into the module cache with `go mod download`.
const argoCDModule = "github.com/argoproj/argo-cd/v2@v2.14.21"

func applicationCRD(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", argoCDModule)
	cmd.Dir = t.TempDir() // outside the repository: go.mod and go.sum stay as they are
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", argoCDModule, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", argoCDModule, err, out)
	}
	return filepath.Join(mod.Dir, "manifests", "crds", "application-crd.yaml")
}

// TestAPIServerAcceptsOutput server-side applies the rendered examples and
// the conversion of 60 generated Deployments to a real kube-apiserver with
// the upstream Istio, Argo Rollouts and Argo CD CRDs: every object must be
// accepted by the real schema validation, every kind expected must be
// among them, and the server must store each spec as written.
func TestAPIServerAcceptsOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	env := kubetest.Start(t, kubetest.WithCRDPaths(applicationCRD(t)))
	ctx := context.Background()

	examples, err := filepath.Glob("../../examples/kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := manifest.Load(examples...)
	if err != nil {
		t.Fatal(err)
	}
	rels := render.Releases(set)
	objs, err := render.Render(rels...)
	if err != nil {
		t.Fatal(err)
	}
	var fleet []byte
	for i := range 60 {
		fleet = append(fleet, render.GeneratedService(i)+"---\n"...)
	}
	fset, err := manifest.LoadBytes("fleet.yaml", fleet)
	if err != nil {
		t.Fatal(err)
	}
	objs = append(objs, convert(t, fset, render.ConvertOptions{}).Objects...)
	// Seed 004's one Deployment per version, at both stages.
	seed004, err := manifest.Load("../../examples/seed004/v1.yaml", "../../examples/seed004/v2.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs = append(objs, convert(t, seed004, render.ConvertOptions{FirstApply: true}).Objects...)
	objs = append(objs, convert(t, seed004, render.ConvertOptions{}).Objects...)

	namespaces := map[string]bool{}
	for _, o := range objs {
		if !namespaces[o.Namespace] {
			namespaces[o.Namespace] = true
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.Namespace}}
			if err := env.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
	}
	applied := map[string]*unstructured.Unstructured{} // by Ref: the last write wins
	for _, o := range objs {
		u, err := serverSideApply(ctx, env.Client, o)
		if err != nil {
			t.Errorf("%s %s: %v", o.APIVersion, o.Ref(), err)
			continue
		}
		applied[o.Ref()] = u
	}
	kinds := map[string]int{}
	for _, u := range applied {
		kinds[u.GetKind()]++
	}
	// Every kind the examples and the conversion produce reached the
	// server (a rendering that silently stopped making one fails here).
	for _, kind := range []string{"Service", "Rollout", "VirtualService", "DestinationRule", "AnalysisTemplate", "PodDisruptionBudget", "Application"} {
		if kinds[kind] == 0 {
			t.Errorf("no %s applied (applied: %v)", kind, kinds)
		}
	}
	// What the server stored is what Graylane wrote: read back, each
	// object's spec holds every field written with the value written (the
	// server may add defaults, never drop or change a field).
	for ref, want := range applied {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(want.GroupVersionKind())
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(want), got); err != nil {
			t.Errorf("read back %s: %v", ref, err)
			continue
		}
		if missing := lostFields("spec", want.Object["spec"], got.Object["spec"]); len(missing) > 0 {
			t.Errorf("%s: the server did not keep %v", ref, missing)
		}
	}
	t.Logf("applied: %v", kinds)
}

// lostFields lists the paths under path where got lacks or differs from
// what want has: maps are compared key by key (got may hold more), lists
// element by element, values as JSON numbers and strings.
func lostFields(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path}
		}
		var out []string
		for k, v := range w {
			out = append(out, lostFields(path+"."+k, v, g[k])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{path}
		}
		var out []string
		for i := range w {
			out = append(out, lostFields(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	}
	if fmt.Sprint(want) != fmt.Sprint(got) {
		return []string{fmt.Sprintf("%s (wrote %v, stored %v)", path, want, got)}
	}
	return nil
}

// serverSideApply applies the YAML Graylane writes for o (what a user
// applies), as field manager graylane, with strict field validation: an
// unknown or misspelt field is an error, not silently pruned.
// It returns the object as written.
func serverSideApply(ctx context.Context, c client.Client, o render.Object) (*unstructured.Unstructured, error) {
	doc, err := render.Encode(o)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(doc, &u.Object); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	written := u.DeepCopy()
	if err := c.Patch(ctx, u, client.Apply, client.FieldOwner("graylane"), client.ForceOwnership, client.FieldValidation("Strict")); err != nil {
		return nil, err
	}
	return written, nil
}

package kubetest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	networkingapi "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/graylane/graylane/internal/kubeapply"
)

// The CRDs installed come from the module versions the main module uses.
func TestVersionsMatchGoMod(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			got[f[0]] = f[1]
		}
	}
	want := map[string]string{"istio.io/api": IstioAPIVersion, "github.com/argoproj/argo-rollouts": RolloutsVersion}
	for path, v := range want {
		if got[path] != v {
			t.Errorf("%s: go.mod has %q, kubetest installs the CRDs of %q", path, got[path], v)
		}
	}
}

func TestStart(t *testing.T) {
	env := Start(t)
	ctx := context.Background()

	for _, gvk := range []schema.GroupVersionKind{
		{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"},
		{Group: "networking.istio.io", Version: "v1beta1", Kind: "DestinationRule"},
		{Group: "argoproj.io", Version: "v1alpha1", Kind: "Rollout"},
		{Group: "argoproj.io", Version: "v1alpha1", Kind: "AnalysisTemplate"},
	} {
		if _, err := env.Client.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			t.Errorf("%s not served: %v", gvk, err)
		}
	}

	vs := &networkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Name: "order", Namespace: "default"},
		Spec: networkingapi.VirtualService{Hosts: []string{"order"}, Http: []*networkingapi.HTTPRoute{{
			Route: []*networkingapi.HTTPRouteDestination{{Destination: &networkingapi.Destination{Host: "order"}, Weight: 100}},
		}}},
	}
	if err := env.Client.Create(ctx, vs); err != nil {
		t.Fatalf("create VirtualService: %v", err)
	}

	// The kubeconfig file works for a separate client.
	cfg, ns, err := kubeapply.ClientConfig(env.Kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := kubeapply.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	var got networkingv1.VirtualService
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "order"}, &got); err != nil {
		t.Fatalf("read back through the kubeconfig: %v", err)
	}
	if diff := cmp.Diff([]string{"order"}, got.Spec.Hosts); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
}

// With the controllers, a ReplicaSet's pods on the fake node become Ready.
func TestStartControllers(t *testing.T) {
	env := Start(t)
	ctrl := StartControllers(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	labels := map[string]string{"app": "demo"}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{NodeName: ctrl.Node, Containers: []corev1.Container{{Name: "demo", Image: "demo:1"}}},
			},
		},
	}
	if err := env.Client.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rs), rs); err != nil {
			return false, err
		}
		return rs.Status.ReadyReplicas == 2, nil
	})
	if err != nil {
		t.Fatalf("ReplicaSet never had 2 ready replicas (status %+v): %v", rs.Status, err)
	}
}

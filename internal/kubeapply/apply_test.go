package kubeapply_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	networkingapi "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/kubeapply"
	"github.com/graylane/graylane/internal/kubetest"
)

const seed001 = "../../examples/seed001/order.yaml"

// apply runs kubeapply.Run with JSON output and returns the report.
func apply(t *testing.T, env *kubetest.Env, o kubeapply.Options) (kubeapply.Report, error) {
	t.Helper()
	o.Kubeconfig, o.Output = env.Kubeconfig, "json"
	var stdout, stderr bytes.Buffer
	err := kubeapply.Run(context.Background(), o, &stdout, &stderr)
	var rep kubeapply.Report
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil && err == nil {
		t.Fatalf("decode report %q: %v", stdout.String(), jerr)
	}
	return rep, err
}

// actions renders a report as "Kind ns/name action" lines.
func actions(rep kubeapply.Report) []string {
	var out []string
	for _, r := range rep.Objects {
		out = append(out, r.Ref()+" "+r.Action)
	}
	return out
}

func createNamespace(t *testing.T, env *kubetest.Env, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestApply's subtests share one API server; each works in namespaces of
// its own and sets up what it needs, so any one runs alone.
func TestApply(t *testing.T) {
	env := kubetest.Start(t)
	t.Run("seed001", func(t *testing.T) { testSeed001(t, env) })
	t.Run("seed004", func(t *testing.T) { testSeed004(t, env) })
	t.Run("rejected", func(t *testing.T) { testRejected(t, env) })
	t.Run("conflict", func(t *testing.T) { testConflict(t, env) })
	t.Run("dry-run", func(t *testing.T) { testDryRun(t, env) })
	t.Run("namespace-order", func(t *testing.T) { testNamespaceOrder(t, env) })
	t.Run("wait-timeout", func(t *testing.T) { testWaitTimeout(t, env) })
	t.Run("graylane-kinds", func(t *testing.T) { testGraylaneKinds(t, env) })
	t.Run("builtin-untyped", func(t *testing.T) { testBuiltinUntyped(t, env) })
}

// testBuiltinUntyped: built-in kinds without a Go type in the binary
// (RBAC, autoscaling) are applied as written, re-applied unchanged, and an
// unknown field in one is refused by the API server (strict field
// validation) as bad input, located at its document.
func testBuiltinUntyped(t *testing.T, env *kubetest.Env) {
	createNamespace(t, env, "untyped")
	doc := `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: order
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: order}
  minReplicas: 1
  maxReplicas: 3
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: graylane-untyped-test
rules: []
`
	p := writeFile(t, "untyped.yaml", doc)
	o := kubeapply.Options{Files: []string{p}, Namespace: "untyped"}
	rep, err := apply(t, env, o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Role untyped/reader created", "ClusterRole graylane-untyped-test created", "HorizontalPodAutoscaler untyped/order created"}
	if diff := cmp.Diff(want, actions(rep)); diff != "" {
		t.Errorf("first apply (-want +got):\n%s", diff)
	}
	var role rbacv1.Role
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "untyped", Name: "reader"}, &role); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"get", "list"}, role.Rules[0].Verbs); diff != "" {
		t.Errorf("stored role verbs (-want +got):\n%s", diff)
	}
	rep, err = apply(t, env, o)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"Role untyped/reader unchanged", "ClusterRole graylane-untyped-test unchanged", "HorizontalPodAutoscaler untyped/order unchanged"}
	if diff := cmp.Diff(want, actions(rep)); diff != "" {
		t.Errorf("second apply (-want +got):\n%s", diff)
	}

	bad := writeFile(t, "bad.yaml", `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: bad
rulez: []
`)
	_, err = apply(t, env, kubeapply.Options{Files: []string{bad}, Namespace: "untyped"})
	var in *cli.InputError
	if want := bad + ":5: rulez: Role untyped/bad: field not declared in schema"; !errors.As(err, &in) || err.Error() != want {
		t.Errorf("error %v: want an InputError %q", err, want)
	}
}

// testGraylaneKinds: a Lane is applied as what it compiles to, a Release
// as its rendered set, and what has no API type here (the Argo CD
// Application) is reported as skipped, never dropped silently.
func testGraylaneKinds(t *testing.T, env *kubetest.Env) {
	createNamespace(t, env, "shop")
	rep, err := apply(t, env, kubeapply.Options{Files: []string{"../../examples/lanes"}})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(actions(rep), "\n")
	for _, want := range []string{"DestinationRule shop/graylane-order created", "VirtualService shop/graylane-logistics created", "VirtualService shop/shop-edge created"} {
		if !strings.Contains(got, want) {
			t.Errorf("lanes: %q missing from\n%s", want, got)
		}
	}
	var vs networkingv1.VirtualService
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "shop-edge"}, &vs); err != nil {
		t.Fatal(err)
	}
	if name := vs.Spec.Http[0].GetName(); name != "graylane-gray-order" {
		t.Errorf("shop-edge's first route is %q, want the lane's", name)
	}
	rep, err = apply(t, env, kubeapply.Options{Files: []string{"../../examples/kubernetes/seed001.yaml"}, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Objects) == 0 || len(rep.Skipped) != 1 || rep.Skipped[0].Kind != "Application" {
		t.Errorf("release: objects %v, skipped %+v", actions(rep), rep.Skipped)
	}
}

// Without an Argo Rollouts controller nothing observes the Rollout: --wait
// gives up at the timeout with a failure (not bad input) and says where it was.
func testWaitTimeout(t *testing.T, env *kubetest.Env) {
	createNamespace(t, env, "wait")
	rep, err := apply(t, env, kubeapply.Options{Files: []string{seed001}, Namespace: "wait", Wait: true, Timeout: time.Second, PollInterval: 100 * time.Millisecond})
	var in *cli.InputError
	if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &in) {
		t.Fatalf("error %v: want a deadline failure", err)
	}
	want := []kubeapply.RolloutStatus{{Namespace: "wait", Name: "order", Phase: "Progressing", Message: "waiting for the Argo Rollouts controller to observe the rollout"}}
	if diff := cmp.Diff(want, rep.Rollouts); diff != "" {
		t.Errorf("rollouts (-want +got):\n%s", diff)
	}
}

// seed001 applied into a namespace: created in apply order, then unchanged,
// then one object configured.
func testSeed001(t *testing.T, env *kubetest.Env) {
	createNamespace(t, env, "seed001")
	o := kubeapply.Options{Files: []string{seed001}, Namespace: "seed001"}
	rep, err := apply(t, env, o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Service seed001/order created",
		"Gateway seed001/shop-gateway created",
		"DestinationRule seed001/order created",
		"VirtualService seed001/order created",
		"Rollout seed001/order created",
	}
	if diff := cmp.Diff(want, actions(rep)); diff != "" {
		t.Errorf("first apply (-want +got):\n%s", diff)
	}
	if got, want := rep.Objects[0].Source, seed001+":6"; got != want {
		t.Errorf("source of the Service = %q, want %q", got, want)
	}

	rep, err = apply(t, env, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i] = strings.Replace(want[i], " created", " unchanged", 1)
	}
	if diff := cmp.Diff(want, actions(rep)); diff != "" {
		t.Errorf("second apply (-want +got):\n%s", diff)
	}

	data, err := os.ReadFile(seed001)
	if err != nil {
		t.Fatal(err)
	}
	changed := writeFile(t, "order.yaml", strings.Replace(string(data), "replicas: 4", "replicas: 3", 1))
	rep, err = apply(t, env, kubeapply.Options{Files: []string{changed}, Namespace: "seed001"})
	if err != nil {
		t.Fatal(err)
	}
	want[len(want)-1] = "Rollout seed001/order configured"
	if diff := cmp.Diff(want, actions(rep)); diff != "" {
		t.Errorf("apply with 3 replicas (-want +got):\n%s", diff)
	}

	// The VirtualService is stored as written, under field manager graylane.
	var vs networkingv1.VirtualService
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "seed001", Name: "order"}, &vs); err != nil {
		t.Fatal(err)
	}
	var weights []int32
	for _, d := range vs.Spec.Http[1].Route {
		weights = append(weights, d.Weight)
	}
	if diff := cmp.Diff([]int32{100, 0}, weights); diff != "" {
		t.Errorf("weights (-want +got):\n%s", diff)
	}
	if m := vs.ManagedFields; len(m) != 1 || m[0].Manager != kubeapply.FieldManager || m[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("managed fields = %+v, want one Apply entry of %q", m, kubeapply.FieldManager)
	}
}

// The seed 004 set, with its explicit istio-system namespaces.
func testSeed004(t *testing.T, env *kubetest.Env) {
	createNamespace(t, env, "istio-system")
	createNamespace(t, env, "seed004")
	rep, err := apply(t, env, kubeapply.Options{Files: []string{"../../examples/seed004"}, Namespace: "seed004"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Service seed004/appa created", "Service seed004/appb created",
		"Deployment seed004/appa-v1 created", "Deployment seed004/appb-v1 created",
		"Deployment seed004/appa-v2 created", "Deployment seed004/appb-v2 created",
		"Gateway istio-system/app-gw created",
		"DestinationRule seed004/dr-appa created", "DestinationRule seed004/dr-appb created",
		"VirtualService istio-system/vs-gateway-appa created",
		"VirtualService seed004/vs-appa created", "VirtualService seed004/vs-appb created",
	}
	got := actions(rep)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// An object the loader accepts but the API server rejects is reported at
// the line of the offending field; the other objects are still applied.
func testRejected(t *testing.T, env *kubetest.Env) {
	p := writeFile(t, "bad.yaml", `apiVersion: v1
kind: Service
metadata:
  name: good
spec:
  ports:
  - port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: bad
spec:
  ports:
  - name: http
    port: 70000
`)
	rep, err := apply(t, env, kubeapply.Options{Files: []string{p}, Namespace: "default"})
	var in *cli.InputError
	if !errors.As(err, &in) {
		t.Fatalf("error %v: want an InputError (exit 2)", err)
	}
	if want := p + ":16: spec.ports[0].port: Service default/bad: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q: want prefix %q", err, want)
	}
	want := []string{"Service default/good created", "Service default/bad failed"}
	if diff := cmp.Diff(want, actions(rep)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Fields another manager owns are a conflict (exit 1, not bad input) until
// --force-conflicts takes them over.
func testConflict(t *testing.T, env *kubetest.Env) {
	ctx := context.Background()
	createNamespace(t, env, "conflict")
	vs := &networkingv1.VirtualService{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "VirtualService"},
		ObjectMeta: metav1.ObjectMeta{Name: "order", Namespace: "conflict"},
		Spec:       networkingapi.VirtualService{Hosts: []string{"other"}, Gateways: []string{"shop-gateway"}},
	}
	if err := env.Client.Patch(ctx, vs, client.Apply, client.FieldOwner("kubectl")); err != nil {
		t.Fatal(err)
	}
	o := kubeapply.Options{Files: []string{seed001}, Namespace: "conflict"}
	rep, err := apply(t, env, o)
	var in *cli.InputError
	var rej *kubeapply.RejectedError
	if err == nil || errors.As(err, &in) || !errors.As(err, &rej) || !rej.Conflict {
		t.Fatalf("error %v: want a conflict, not an InputError", err)
	}
	for _, want := range []string{seed001 + ":47: spec.hosts: VirtualService conflict/order: conflict with \"kubectl\"", "--force-conflicts"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if got := actions(rep)[3]; got != "VirtualService conflict/order failed" {
		t.Errorf("VirtualService: %q", got)
	}

	o.ForceConflicts = true
	rep, err = apply(t, env, o)
	if err != nil {
		t.Fatalf("with --force-conflicts: %v", err)
	}
	if got := actions(rep)[3]; got != "VirtualService conflict/order configured" {
		t.Errorf("VirtualService with --force-conflicts: %q", got)
	}
}

// A server dry run reports what would happen and stores nothing.
func testDryRun(t *testing.T, env *kubetest.Env) {
	createNamespace(t, env, "dry")
	rep, err := apply(t, env, kubeapply.Options{Files: []string{seed001}, Namespace: "dry", DryRun: "server"})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.DryRun || len(rep.Objects) != 5 || rep.Objects[4].Action != kubeapply.Created {
		t.Errorf("report %+v: want a dry run creating 5 objects", rep)
	}
	err = env.Client.Get(context.Background(), client.ObjectKey{Namespace: "dry", Name: "order"}, &networkingv1.VirtualService{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("after a dry run, get VirtualService: %v, want NotFound", err)
	}

	// Over the same objects stored with 3 replicas: only the Rollout would
	// change, and it stays as it was.
	createNamespace(t, env, "dry-stored")
	data, err := os.ReadFile(seed001)
	if err != nil {
		t.Fatal(err)
	}
	three := writeFile(t, "order.yaml", strings.Replace(string(data), "replicas: 4", "replicas: 3", 1))
	if _, err := apply(t, env, kubeapply.Options{Files: []string{three}, Namespace: "dry-stored"}); err != nil {
		t.Fatal(err)
	}
	rep, err = apply(t, env, kubeapply.Options{Files: []string{seed001}, Namespace: "dry-stored", DryRun: "server"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Service dry-stored/order unchanged",
		"Gateway dry-stored/shop-gateway unchanged",
		"DestinationRule dry-stored/order unchanged",
		"VirtualService dry-stored/order unchanged",
		"Rollout dry-stored/order configured",
	}
	if diff := cmp.Diff(want, actions(rep)); diff != "" {
		t.Errorf("dry run over existing objects (-want +got):\n%s", diff)
	}
	var ro rolloutsv1alpha1.Rollout
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "dry-stored", Name: "order"}, &ro); err != nil {
		t.Fatal(err)
	}
	if *ro.Spec.Replicas != 3 {
		t.Errorf("after a dry run, replicas = %d, want 3 as stored before", *ro.Spec.Replicas)
	}
}

// A Namespace (a kind the loader ignores, decoded with the scheme) is
// applied before what lives in it, whatever the file order; kinds nobody
// knows are skipped and reported.
func testNamespaceOrder(t *testing.T, env *kubetest.Env) {
	p := writeFile(t, "ns.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: later
data:
  color: gray
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
---
apiVersion: v1
kind: Namespace
metadata:
  name: later
`)
	rep, err := apply(t, env, kubeapply.Options{Files: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Namespace later created", "ConfigMap later/settings created"}
	if diff := cmp.Diff(want, actions(rep)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	wantSkipped := []kubeapply.Skipped{{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", Source: p + ":9"}}
	if diff := cmp.Diff(wantSkipped, rep.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
}

// An unreachable cluster is a failure (exit 1), not bad input.
func TestRunUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more
	kc := writeFile(t, "kubeconfig", `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://`+addr+`"}
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
users:
- name: u
  user: {token: x}
`)
	var stdout, stderr bytes.Buffer
	err = kubeapply.Run(context.Background(), kubeapply.Options{Files: []string{seed001}, Kubeconfig: kc}, &stdout, &stderr)
	var in *cli.InputError
	if err == nil || errors.As(err, &in) || !strings.HasPrefix(err.Error(), "reach the cluster at https://"+addr+": ") {
		t.Errorf("error %v: want a failure to reach the cluster, not an InputError", err)
	}
}

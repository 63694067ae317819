package kubeapply

import (
	"flag"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

var update = flag.Bool("update", false, "rewrite builtin-kinds.txt")

// TestBuiltinKinds checks builtin-kinds.txt against client-go's scheme of
// every built-in API group: the kinds with object metadata.
func TestBuiltinKinds(t *testing.T) {
	objectType := reflect.TypeFor[metav1.Object]()
	var lines []string
	for gvk, typ := range clientgoscheme.Scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal || !reflect.PointerTo(typ).Implements(objectType) {
			continue
		}
		lines = append(lines, gvk.GroupVersion().String()+" "+gvk.Kind)
	}
	sort.Strings(lines)
	want := strings.Join(lines, "\n") + "\n"
	if *update {
		if err := os.WriteFile("builtin-kinds.txt", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(want, builtinKinds); diff != "" {
		t.Errorf("builtin-kinds.txt (-want +got), run go test -run TestBuiltinKinds -update:\n%s", diff)
	}
	// Every kind of the narrow scheme is built in or one of the CRDs.
	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	for gvk, typ := range scheme.AllKnownTypes() {
		if gvk.Group == "" || gvk.Group == "apps" || gvk.Group == "batch" || gvk.Group == "policy" {
			if reflect.PointerTo(typ).Implements(objectType) && !BuiltinKind(gvk) {
				t.Errorf("%v of the scheme is not in builtin-kinds.txt", gvk)
			}
		}
	}
	for _, kind := range []string{"v1 Namespace", "rbac.authorization.k8s.io/v1 ClusterRole", "autoscaling/v2 HorizontalPodAutoscaler", "networking.k8s.io/v1 Ingress"} {
		if !strings.Contains(builtinKinds, "\n"+kind+"\n") && !strings.HasPrefix(builtinKinds, kind+"\n") {
			t.Errorf("builtin-kinds.txt lacks %s", kind)
		}
	}
}

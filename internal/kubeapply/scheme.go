package kubeapply

import (
	_ "embed"
	"fmt"
	"strings"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	graylanev1alpha1 "github.com/graylane/graylane/api/v1alpha1"
)

// NewScheme returns a scheme that knows the Go types of the built-in
// Kubernetes groups core/v1, apps/v1, batch/v1 and policy/v1, Istio
// networking v1, v1beta1 and v1alpha3, Argo Rollouts v1alpha1 and Graylane's
// own graylane.io/v1alpha1. Other
// built-in kinds (BuiltinKind) are applied without a Go type: linking every
// API group (client-go's kubernetes/scheme) would add some 20 MB to the
// binary.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme,
		appsv1.AddToScheme,
		batchv1.AddToScheme,
		policyv1.AddToScheme,
		networkingv1.AddToScheme,
		networkingv1beta1.AddToScheme,
		networkingv1alpha3.AddToScheme,
		rolloutsv1alpha1.AddToScheme,
		graylanev1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	return s, nil
}

// ClientConfig loads a kubeconfig with the usual client-go rules: the file
// named by kubeconfig, else $KUBECONFIG, else ~/.kube/config; kubeContext
// overrides the current context. It returns the REST config and the
// context's namespace ("default" when the context names none).
func ClientConfig(kubeconfig, kubeContext string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("load kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("read namespace of the kubeconfig context: %w", err)
	}
	return cfg, ns, nil
}

// builtinKinds lists the kinds with object metadata of every built-in
// Kubernetes API group version, one "group/version Kind" a line ("v1 Kind"
// for core), as client-go's kubernetes/scheme registers them;
// TestBuiltinKinds checks it against that scheme (go test -update rewrites
// it).
//
//go:embed builtin-kinds.txt
var builtinKinds string

var builtinSet = func() map[schema.GroupVersionKind]bool {
	set := map[schema.GroupVersionKind]bool{}
	for _, line := range strings.Split(builtinKinds, "\n") {
		if apiVersion, kind, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			set[schema.FromAPIVersionAndKind(apiVersion, kind)] = true
		}
	}
	return set
}()

// BuiltinKind reports whether gvk is a kind of a built-in Kubernetes API
// group version (Namespace, ClusterRole, HorizontalPodAutoscaler, ...).
func BuiltinKind(gvk schema.GroupVersionKind) bool { return builtinSet[gvk] }

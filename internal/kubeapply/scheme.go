package kubeapply

import (
	"fmt"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	graylanev1alpha1 "github.com/graylane/graylane/api/v1alpha1"
)

// NewScheme returns a scheme that knows the built-in Kubernetes types (core,
// apps, policy, ...), Istio networking v1, v1beta1 and v1alpha3, Argo
// Rollouts v1alpha1 and Graylane's own graylane.io/v1alpha1.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
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

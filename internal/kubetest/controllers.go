package kubetest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NodeAnnotation marks the Node objects kwok manages.
const NodeAnnotation = "kwok.x-k8s.io/node"

// Controllers are the components StartControllers runs against an Env.
type Controllers struct {
	// Node is the name of the one fake Node. There is no scheduler: pod
	// templates set spec.nodeName to it.
	Node string
}

// StartControllers runs, against env, the real Argo Rollouts controller,
// kube-controller-manager (replicaset, garbagecollector and namespace
// controllers) and kwok, which plays the kubelet of one fake Node: pods bound
// to it become Running and Ready. The processes stop in t.Cleanup; their logs
// go to t.Log when the test failed. Without the binaries it skips the test
// (fails it when CI=true).
func StartControllers(t testing.TB, env *Env, opts ...ControllerOption) *Controllers {
	t.Helper()
	var o controllerOptions
	for _, opt := range opts {
		opt(&o)
	}
	bin, err := BinDir()
	if err == nil {
		err = haveBinaries(bin, "kube-controller-manager", "kwok", "rollouts-controller")
	}
	if err != nil {
		missing(t, err)
	}
	c := &Controllers{Node: "kwok-node-0"}
	kc := "--kubeconfig=" + env.Kubeconfig
	startProcess(t, filepath.Join(bin, "kube-controller-manager"), kc,
		"--controllers=replicaset,garbagecollector,namespace", "--leader-elect=false",
		"--use-service-account-credentials=false", "--secure-port=0")
	startProcess(t, filepath.Join(bin, "kwok"), kc, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+NodeAnnotation+"=fake",
		"--cidr=10.0.0.1/24", "--node-ip=10.0.0.1")
	rolloutsKC := kc
	if o.rolloutsProxy != nil {
		rolloutsKC = "--kubeconfig=" + o.rolloutsProxy.Kubeconfig
	}
	startRollouts(t, filepath.Join(bin, "rollouts-controller"), rolloutsKC)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := createNode(ctx, env.Client, c.Node); err != nil {
		t.Fatal(err)
	}
	if err := waitNodeReady(ctx, env.Client, c.Node); err != nil {
		t.Fatalf("fake node %s: %v", c.Node, err)
	}
	return c
}

// ControllerOption changes how StartControllers runs the controllers.
type ControllerOption func(*controllerOptions)

type controllerOptions struct {
	rolloutsProxy *APIProxy
}

// RolloutsThrough makes the Argo Rollouts controller reach the API server
// through p.
func RolloutsThrough(p *APIProxy) ControllerOption {
	return func(o *controllerOptions) { o.rolloutsProxy = p }
}

func createNode(ctx context.Context, c client.Client, name string) error {
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{NodeAnnotation: "fake"},
			Labels:      map[string]string{"kubernetes.io/hostname": name, "type": "kwok"},
		},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
	}
	if err := c.Create(ctx, node); err != nil {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	return nil
}

func waitNodeReady(ctx context.Context, c client.Client, name string) error {
	return wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var node corev1.Node
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &node); err != nil {
			return false, nil
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

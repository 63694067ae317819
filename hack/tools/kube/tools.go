//go:build tools

// Package tools pins the Kubernetes control-plane commands that
// hack/build-kube-tools.sh builds for the test harness.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)

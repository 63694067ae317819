//go:build tools

// Package tools pins the Argo Rollouts controller, which
// hack/build-kube-tools.sh builds for the end-to-end tests.
package tools

import (
	_ "github.com/argoproj/argo-rollouts/cmd/rollouts-controller"
)

//go:build tools

// Package tools pins controller-gen, which hack/build-tools.sh builds for
// `make generate` (DeepCopy methods and the CRDs of api/v1alpha1).
package tools

import (
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)

//go:build tools

// Package tools pins kwok, which hack/build-kube-tools.sh builds for the test harness.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)

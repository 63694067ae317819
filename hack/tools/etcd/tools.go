//go:build tools

// Package tools pins etcd, which hack/build-kube-tools.sh builds for the test harness.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)

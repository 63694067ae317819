// Package v1alpha1 holds Graylane's own API types, group graylane.io,
// version v1alpha1. They are read by the manifest loader next to the
// Kubernetes, Istio and Argo Rollouts objects they compile to.
package v1alpha1

import "k8s.io/apimachinery/pkg/runtime/schema"

// Group and Version of every kind in this package.
const (
	Group   = "graylane.io"
	Version = "v1alpha1"
)

// GroupVersion is graylane.io/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

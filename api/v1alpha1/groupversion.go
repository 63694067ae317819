// Package v1alpha1 holds Graylane's own API types, group graylane.io,
// version v1alpha1. They are read by the manifest loader next to the
// Kubernetes, Istio and Argo Rollouts objects they compile to, and are
// served by a Kubernetes API server as custom resources (config/crd/bases,
// generated from the markers of this package by `make generate`).
//
// Every kind has the same layout: <kind>_types.go holds the types and the
// markers of their CRD schema, <kind>_defaults.go its Default methods and
// <kind>_validation.go its Validate methods. Default fills the documented
// defaults in place; Validate checks a defaulted object and returns every
// problem as a field error whose path starts at the object's root (for
// example spec.steps[2].setWeight). The CRD schema refuses the same things
// wherever a schema can express them (see docs/architecture.md).
//
// +kubebuilder:object:generate=true
// +groupName=graylane.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group and Version of every kind in this package.
const (
	Group   = "graylane.io"
	Version = "v1alpha1"
)

// GroupVersion is graylane.io/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

var (
	// SchemeBuilder registers the kinds of this package (Lane, LaneList,
	// Release, ReleaseList) with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the kinds of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Lane{}, &LaneList{}, &Release{}, &ReleaseList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

package v1alpha1

import (
	"encoding/json"
	"fmt"
)

// CanaryConfig is canary-only Spring Boot configuration of one service, a
// Release service's or a Lane member's (see LaneMember.CanaryConfig; seed
// 000 §3.3, "configuration isolation during the canary"): while the
// release runs, the properties are environment variables of the new
// version's pod template only - Spring Boot's relaxed binding lets an
// environment variable override the YAML and Nacos configuration - so the
// stable pods, which keep their own template, never see them. Once the
// release is fully promoted, and only then, the properties are written
// into the Nacos configuration nacos names (compare-and-swap, nothing
// else in it changes), so later versions read them from there; an aborted
// release publishes nothing.
//
//	canaryConfig:
//	  container: order                 # default: the first container
//	  properties:
//	    feature.discount-rate: "0.2"   # -> FEATURE_DISCOUNTRATE=0.2 on the canary
//	  nacos: {dataId: order.yaml, group: DEFAULT_GROUP}
type CanaryConfig struct {
	// Properties are Spring property names (feature.discount-rate,
	// spring.datasource.url, my.hosts[0]) and the values the new version
	// runs with. Each becomes the environment variable Spring's relaxed
	// binding reads for it: '.' -> '_', '-' removed, [N] -> _N, upper case
	// (feature.discount-rate -> FEATURE_DISCOUNTRATE). Two names may not
	// map to the same variable, nor to one the container already sets.
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=100
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[A-Za-z][-A-Za-z0-9_]*([.][A-Za-z0-9][-A-Za-z0-9_]*|\\\\[[0-9]+\\\\])*$'))",message="a Spring property name: elements of letters, digits, '-' and '_' separated by '.', each starting with a letter or digit (the first with a letter), and indexes [N]"
	Properties map[string]string `json:"properties"`
	// Container is the name of the container that gets the environment
	// variables. Default: the first container of the pod template (the
	// service's name when the service gives an image).
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Container string `json:"container,omitempty"`
	// Nacos is the configuration the properties are published to once the
	// release is fully promoted. Absent: the properties stay environment
	// variables of the new version, and nothing is published.
	// +optional
	Nacos *NacosConfigRef `json:"nacos,omitempty"`
}

// NacosConfigRef names one configuration of a Nacos config center.
type NacosConfigRef struct {
	// DataID is the configuration's data id; its extension gives the
	// format the properties are written in: .yaml or .yml (YAML) or
	// .properties. Nacos' characters: letters, digits, '-', '_', '.', ':'.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[-A-Za-z0-9_.:]*[.]([Yy][Aa][Mm][Ll]|[Yy][Mm][Ll]|[Pp][Rr][Oo][Pp][Ee][Rr][Tt][Ii][Ee][Ss])$`
	DataID string `json:"dataId"`
	// Group of the configuration. Default DEFAULT_GROUP.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[-A-Za-z0-9_.:]*$`
	// +optional
	Group string `json:"group,omitempty"`
	// Namespace is the Nacos namespace id. Default: the one the publisher
	// is given (graylane up / apply --nacos-namespace), else public.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[-A-Za-z0-9_.:]*$`
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// CanaryConfigAnnotation is the annotation of a Rollout rendered from a
// Release service with a canaryConfig: the defaulted CanaryConfig as JSON
// (EncodeCanaryConfig). Whoever sees the Rollout fully promoted - graylane
// up, graylane apply --wait, a cluster controller - reads from it what to
// publish; a Rollout without it publishes nothing.
const CanaryConfigAnnotation = "graylane.io/canary-config"

// DefaultNacosGroup is the group of a NacosConfigRef without one (Nacos'
// own default group).
const DefaultNacosGroup = "DEFAULT_GROUP"

// MaxCanaryProperties is the most properties of a canaryConfig.
const MaxCanaryProperties = 100

// EncodeCanaryConfig is the value of CanaryConfigAnnotation for c: JSON,
// keys sorted (so the annotation is deterministic).
func EncodeCanaryConfig(c *CanaryConfig) string {
	b, _ := json.Marshal(c) // strings and maps of strings: it cannot fail
	return string(b)
}

// DecodeCanaryConfig reads a CanaryConfigAnnotation value.
func DecodeCanaryConfig(s string) (*CanaryConfig, error) {
	var c CanaryConfig
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", CanaryConfigAnnotation, err)
	}
	return &c, nil
}

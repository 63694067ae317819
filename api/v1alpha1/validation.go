package v1alpha1

import (
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits on the sizes of lists and maps. The CRD schema declares them
// (maxItems, maxProperties, maxLength) so that the API server can bound the
// cost of its CEL rules; Validate checks the same limits.
const (
	// MaxMembers is the most members a Lane has.
	MaxMembers = 100
	// MaxSteps is the most steps of a Lane plan or a Release.
	MaxSteps = 100
	// MaxServices is the most services a Release has.
	MaxServices = 100
	// MaxPorts is the most ports of a Release service.
	MaxPorts = 64
	// MaxGateways is the most gateways of a Release.
	MaxGateways = 64
	// MaxGatewayName is the longest NAMESPACE/NAME of a gateway (63 + 1 + 253).
	MaxGatewayName = 317
	// MaxStepTemplates is the most templates of a Release analysis step.
	MaxStepTemplates = 16
	// MaxLabels is the most labels of canaryMetadata, stableMetadata and
	// workloadRef.matchLabels.
	MaxLabels = 64
)

// tooMany reports a list or map longer than its limit.
func tooMany(n, limit int, p *field.Path) field.ErrorList {
	if n > limit {
		return field.ErrorList{field.TooMany(p, n, limit)}
	}
	return nil
}

func validWeight(w int32) bool { return w >= 0 && w <= 100 }

func validateWeight(w int32, p *field.Path) field.ErrorList {
	if !validWeight(w) {
		return field.ErrorList{field.Invalid(p, w, "must be between 0 and 100")}
	}
	return nil
}

func validateLabels(l map[string]string, p *field.Path) field.ErrorList {
	errs := tooMany(len(l), MaxLabels, p)
	for _, k := range slices.Sorted(maps.Keys(l)) {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(p.Key(k), k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(l[k]) {
			errs = append(errs, field.Invalid(p.Key(k), l[k], msg))
		}
	}
	return errs
}

package analysis

import (
	"fmt"
	"math"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/expr-lang/expr"
)

// assess evaluates the metric's conditions on a measured value, with
// Argo's rules: success and failure conditions decide; when both are set
// and neither holds the measurement is inconclusive; with only one, its
// negation decides the other way.
func assess(m *rolloutsv1alpha1.Metric, value any) (Phase, string) {
	env := map[string]any{
		"result":  value,
		"isNaN":   math.IsNaN,
		"isInf":   func(f float64) bool { return math.IsInf(f, 0) },
		"asInt":   asInt,
		"asFloat": asFloat,
		"default": func(v, d any) any {
			if v == nil {
				return d
			}
			return v
		},
	}
	eval := func(cond string) (bool, error) {
		out, err := expr.Eval(cond, env)
		if err != nil {
			return false, err
		}
		b, ok := out.(bool)
		if !ok {
			return false, fmt.Errorf("condition %q gave %T, want a bool", cond, out)
		}
		return b, nil
	}
	var ok, failed bool
	var err error
	if m.SuccessCondition != "" {
		if ok, err = eval(m.SuccessCondition); err != nil {
			return Error, err.Error()
		}
	}
	if m.FailureCondition != "" {
		if failed, err = eval(m.FailureCondition); err != nil {
			return Error, err.Error()
		}
	}
	switch {
	case m.SuccessCondition == "" && m.FailureCondition == "":
		return Successful, ""
	case failed:
		return Failed, fmt.Sprintf("failureCondition %q holds for %v", m.FailureCondition, value)
	case m.SuccessCondition != "" && !ok && m.FailureCondition == "":
		return Failed, fmt.Sprintf("successCondition %q does not hold for %v", m.SuccessCondition, value)
	case ok || m.SuccessCondition == "":
		return Successful, ""
	}
	return Inconclusive, fmt.Sprintf("neither condition holds for %v", value)
}

func asInt(v any) (int64, error) {
	switch t := v.(type) {
	case float64:
		return int64(t), nil
	case int:
		return int64(t), nil
	case int64:
		return t, nil
	case string:
		var i int64
		_, err := fmt.Sscan(t, &i)
		return i, err
	}
	return 0, fmt.Errorf("asInt: %T", v)
}

func asFloat(v any) (float64, error) {
	switch t := v.(type) {
	case float64:
		return t, nil
	case int:
		return float64(t), nil
	case int64:
		return float64(t), nil
	case string:
		var f float64
		_, err := fmt.Sscan(t, &f)
		return f, err
	}
	return 0, fmt.Errorf("asFloat: %T", v)
}

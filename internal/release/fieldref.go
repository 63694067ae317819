package release

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
)

// fieldPathSep splits a field path as Argo Rollouts does for analysis
// arguments outside metadata (utils/analysis extractValueFromRollout):
// "spec.template.metadata.labels.version", "spec.template.spec.containers[0].image".
var fieldPathSep = regexp.MustCompile(`[.\[\]]+`)

// rolloutField is the value at a field path of the Rollout, as Argo
// Rollouts resolves a fieldRef argument whose path does not start with
// metadata; ok is false when the path leads nowhere or to an object or list.
func rolloutField(ro *rolloutsv1alpha1.Rollout, path string) (string, bool) {
	if ro == nil || strings.HasPrefix(path, "metadata") {
		return "", false
	}
	data, err := json.Marshal(ro)
	if err != nil {
		return "", false
	}
	var v any
	if json.Unmarshal(data, &v) != nil {
		return "", false
	}
	for _, sec := range fieldPathSep.Split(path, -1) {
		if sec == "" {
			continue
		}
		switch t := v.(type) {
		case []any:
			i, err := strconv.Atoi(sec)
			if err != nil || i < 0 || i >= len(t) {
				return "", false
			}
			v = t[i]
		case map[string]any:
			v = t[sec]
		default:
			return "", false
		}
	}
	switch v.(type) {
	case nil, []any, map[string]any:
		return "", false
	}
	return fmt.Sprint(v), true
}

package kubeapply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/graylane/graylane/internal/canaryconfig"
)

// CanaryConfigManager is the field manager of the annotation that records
// a published canary configuration: not "graylane", so that applying the
// rendered Rollout again (which does not carry it) keeps it.
const CanaryConfigManager = "graylane-canaryconfig"

// CanaryConfigResult is what `apply --wait` did with the canary
// configuration of one Rollout (a Release service's canaryConfig).
type CanaryConfigResult struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// DataID, Group and NacosNamespace name the Nacos configuration.
	DataID         string `json:"dataId"`
	Group          string `json:"group"`
	NacosNamespace string `json:"nacosNamespace,omitempty"`
	// State is Published (written now), Unchanged (already held the
	// values), AlreadyPublished (recorded on the Rollout for its stable
	// template by an earlier run), NotPublished (aborted) or Failed.
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
}

// States of CanaryConfigResult.
const (
	CanaryPublished        = "Published"
	CanaryUnchanged        = "Unchanged"
	CanaryAlreadyPublished = "AlreadyPublished"
	CanaryNotPublished     = "NotPublished"
	CanaryFailed           = "Failed"
)

// String is "Rollout ns/name: canary configuration STATE - message".
func (r CanaryConfigResult) String() string {
	return fmt.Sprintf("Rollout %s/%s: canary configuration %s - %s", r.Namespace, r.Name, r.State, r.Message)
}

// ErrCanaryConfig is wrapped by Run's error when a fully promoted
// Rollout's canary configuration could not be published.
var ErrCanaryConfig = errors.New("canary configuration not published")

// publishCanaryConfigs reads each Rollout of keys (the waited-for ones
// with the annotation v1alpha1.CanaryConfigAnnotation) once more and, for
// each with a canary configuration that is fully promoted, publishes it
// (canaryconfig.Decide and Publish) and records the published template's
// hash in the Rollout's annotation canaryconfig.PublishedAnnotation, so a
// later `apply --wait` does not publish it again; an aborted one publishes
// nothing. connect is called only when something is to be published.
func publishCanaryConfigs(ctx context.Context, c Client, keys []types.NamespacedName, connect canaryconfig.Connect) ([]CanaryConfigResult, error) {
	var out []CanaryConfigResult
	var errs []error
	for _, key := range keys {
		var ro rolloutsv1alpha1.Rollout
		if err := c.Get(ctx, key, &ro); err != nil {
			errs = append(errs, fmt.Errorf("get rollout %s: %w", key, err))
			continue
		}
		phase, _ := Phase(&ro)
		d, err := canaryconfig.Decide(&ro, canaryconfig.Observe(&ro, phase))
		if err == nil && (d.Config == nil || d.Config.Nacos == nil) {
			continue
		}
		res := CanaryConfigResult{Namespace: key.Namespace, Name: key.Name}
		if d.Config != nil && d.Config.Nacos != nil {
			n := d.Config.Nacos
			res.DataID, res.Group, res.NacosNamespace = n.DataID, n.Group, n.Namespace
		}
		switch {
		case err != nil:
			res.State, res.Message = CanaryFailed, err.Error()
		case d.Action == canaryconfig.ActionDiscard:
			res.State, res.Message = CanaryNotPublished, d.Reason
		case d.Action != canaryconfig.ActionPublish:
			res.State, res.Message = CanaryNotPublished, "the rollout is "+phase+", not fully promoted"
		case ro.Annotations[canaryconfig.PublishedAnnotation] == d.Hash:
			res.State, res.Message = CanaryAlreadyPublished, "published for pod template "+d.Hash+" by an earlier apply --wait"
		default:
			res.State, res.Message, err = publishOne(ctx, c, &ro, d, connect)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rollout %s: %w: %w", key, ErrCanaryConfig, err))
		}
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// publishOne publishes and records one fully promoted Rollout's canary
// configuration.
func publishOne(ctx context.Context, c Client, ro *rolloutsv1alpha1.Rollout, d canaryconfig.Decision, connect canaryconfig.Connect) (string, string, error) {
	store, err := connect(ctx, d.Config.Nacos.Namespace)
	if err != nil {
		return CanaryFailed, err.Error(), err
	}
	defer store.Close()
	res, err := canaryconfig.Publish(ctx, store, d.Config)
	if err != nil {
		return CanaryFailed, err.Error(), err
	}
	state := CanaryPublished
	if !res.Changed {
		state = CanaryUnchanged
	}
	if err := recordPublished(ctx, c, ro, d.Hash); err != nil {
		return state, res.String() + "; not recorded on the rollout: " + err.Error(), nil
	}
	return state, res.String(), nil
}

// recordPublished sets the Rollout's annotation canaryconfig.PublishedAnnotation
// to hash, by server-side apply as CanaryConfigManager.
func recordPublished(ctx context.Context, c Client, ro *rolloutsv1alpha1.Rollout, hash string) error {
	patch := map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": ro.Name, "namespace": ro.Namespace,
			"annotations": map[string]string{canaryconfig.PublishedAnnotation: hash}},
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	return c.Apply(ctx, ro, body, PatchOptions{FieldManager: CanaryConfigManager})
}

package kubeapply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"k8s.io/apimachinery/pkg/types"
)

// RolloutStatus is the state of one Rollout, as `kubectl argo rollouts
// status` shows it.
type RolloutStatus struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Phase     string `json:"phase"` // Healthy, Degraded, Progressing, Paused
	Message   string `json:"message,omitempty"`
}

// String returns "Rollout ns/name: Phase - message".
func (s RolloutStatus) String() string {
	out := "Rollout " + s.Namespace + "/" + s.Name + ": " + s.Phase
	if s.Message != "" {
		out += " - " + s.Message
	}
	return out
}

// Done reports whether the Rollout reached a final phase.
func (s RolloutStatus) Done() bool {
	return s.Phase == string(rolloutsv1alpha1.RolloutPhaseHealthy) || s.Phase == string(rolloutsv1alpha1.RolloutPhaseDegraded)
}

// Phase returns the phase and message of a Rollout the way the Argo
// Rollouts CLI computes them (utils/rollout.GetRolloutPhase of v1.8.3): the
// controller's status.phase and status.message once it has observed the
// current generation and any unpause, Progressing before. Aborts, InvalidSpec
// and progress deadlines are Degraded (the controller sets that phase).
func Phase(ro *rolloutsv1alpha1.Rollout) (string, string) {
	if !generationObserved(ro) {
		return string(rolloutsv1alpha1.RolloutPhaseProgressing), "waiting for rollout spec update to be observed"
	}
	if ro.Status.ControllerPause && len(ro.Status.PauseConditions) == 0 {
		return string(rolloutsv1alpha1.RolloutPhaseProgressing), "waiting for rollout to unpause"
	}
	if ro.Status.Phase == "" {
		return string(rolloutsv1alpha1.RolloutPhaseProgressing), "waiting for the Argo Rollouts controller to observe the rollout"
	}
	return string(ro.Status.Phase), ro.Status.Message
}

// generationObserved: status.observedGeneration is a number equal to (or,
// for very old hashes, above) metadata.generation. A non-numeric value
// (controllers before v0.10) counts as observed, as upstream does.
func generationObserved(ro *rolloutsv1alpha1.Rollout) bool {
	observed, err := strconv.ParseInt(ro.Status.ObservedGeneration, 10, 64)
	if err != nil {
		return true
	}
	return observed >= ro.Generation
}

// ErrDegraded is wrapped by Wait's error when a Rollout ended Degraded.
var ErrDegraded = errors.New("rollout degraded")

// Wait polls the Rollouts every interval until each is Healthy or Degraded,
// for at most timeout. Every change of a Rollout's phase or message is
// written to progress (nil: none). It returns the last status of each; the
// error wraps ErrDegraded when one is Degraded, context.DeadlineExceeded when
// the time ran out first.
func Wait(ctx context.Context, c Client, rollouts []types.NamespacedName, timeout, every time.Duration, progress io.Writer) ([]RolloutStatus, error) {
	statuses := make([]RolloutStatus, len(rollouts))
	for i, key := range rollouts {
		statuses[i] = RolloutStatus{Namespace: key.Namespace, Name: key.Name}
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		pending, err := poll(ctx, c, rollouts, statuses, progress)
		if err != nil {
			return statuses, err
		}
		if pending == 0 {
			return statuses, degraded(statuses)
		}
		select {
		case <-ctx.Done():
			return statuses, unfinished(statuses, ctx.Err())
		case <-deadline.C:
			return statuses, unfinished(statuses, fmt.Errorf("--timeout %v: %w", timeout, context.DeadlineExceeded))
		case <-tick.C:
		}
	}
}

// poll reads every unfinished Rollout once and returns how many are
// still unfinished.
func poll(ctx context.Context, c Client, rollouts []types.NamespacedName, statuses []RolloutStatus, progress io.Writer) (int, error) {
	pending := 0
	for i, key := range rollouts {
		if statuses[i].Done() {
			continue
		}
		var ro rolloutsv1alpha1.Rollout
		if err := c.Get(ctx, key, &ro); err != nil {
			return 0, fmt.Errorf("get rollout %s: %w", key, err)
		}
		phase, msg := Phase(&ro)
		if phase != statuses[i].Phase || msg != statuses[i].Message {
			statuses[i].Phase, statuses[i].Message = phase, msg
			if progress != nil {
				fmt.Fprintln(progress, statuses[i])
			}
		}
		if !statuses[i].Done() {
			pending++
		}
	}
	return pending, nil
}

// unfinished names the Rollouts still neither Healthy nor Degraded.
func unfinished(statuses []RolloutStatus, cause error) error {
	var errs []error
	for _, s := range statuses {
		if !s.Done() {
			errs = append(errs, fmt.Errorf("%s: not Healthy or Degraded in time: %w", s, cause))
		}
	}
	return errors.Join(errs...)
}

func degraded(statuses []RolloutStatus) error {
	var errs []error
	for _, s := range statuses {
		if s.Phase == string(rolloutsv1alpha1.RolloutPhaseDegraded) {
			errs = append(errs, fmt.Errorf("%s: %w", s, ErrDegraded))
		}
	}
	return errors.Join(errs...)
}

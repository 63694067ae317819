package rollouttraffic

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in      string
		want    Target
		wantErr string
	}{
		{in: "order=2", want: Target{Name: "order", Index: 2, Value: "order=2"}},
		{in: "shop/order=0", want: Target{Namespace: "shop", Name: "order", Value: "shop/order=0"}},
		{in: "order", wantErr: `--rollout-step "order": want [NAMESPACE/]NAME=INDEX, e.g. shop/order=2`},
		{in: "=1", wantErr: `--rollout-step "=1": want [NAMESPACE/]NAME=INDEX, e.g. shop/order=2`},
		{in: "/order=1", wantErr: `--rollout-step "/order=1": want [NAMESPACE/]NAME=INDEX, e.g. shop/order=2`},
		{in: "a/b/c=1", wantErr: `--rollout-step "a/b/c=1": want [NAMESPACE/]NAME=INDEX, e.g. shop/order=2`},
		{in: "order=-1", wantErr: `--rollout-step "order=-1": step index "-1" is not a number 0 or more (status.currentStepIndex)`},
		{in: "order=two", wantErr: `--rollout-step "order=two": step index "two" is not a number 0 or more (status.currentStepIndex)`},
	}
	for _, tc := range tests {
		got, err := ParseTarget(tc.in)
		if gotErr := errString(err); gotErr != tc.wantErr {
			t.Errorf("ParseTarget(%q) error %q, want %q", tc.in, gotErr, tc.wantErr)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseTarget(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestAtStepsErrors(t *testing.T) {
	other := `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: rollouts-demo, namespace: shop}
spec:
  selector: {matchLabels: {app: rollouts-demo}}
  template:
    metadata: {labels: {app: rollouts-demo}}
    spec: {containers: [{name: demo, image: argoproj/rollouts-demo:blue}]}
  strategy: {blueGreen: {activeService: a}}`
	tests := []struct {
		docs   []string
		values []string
		want   string
	}{
		{[]string{hostRollout}, []string{"rollouts-demo=9"}, `test.yaml:18: spec.strategy.canary.steps: --rollout-step "rollouts-demo=9": step index 9 is out of range: the Rollout has 8 steps, so currentStepIndex is 0..8 (8: every step done)`},
		{[]string{hostRollout}, []string{"payments=1"}, `--rollout-step "payments=1": no Rollout payments in the manifests (Rollouts: default/rollouts-demo)`},
		{[]string{hostRollout}, []string{"shop/rollouts-demo=1"}, `--rollout-step "shop/rollouts-demo=1": no Rollout shop/rollouts-demo in the manifests (Rollouts: default/rollouts-demo)`},
		{nil, []string{"order=1"}, `--rollout-step "order=1": the manifests have no Rollout`},
		{[]string{hostRollout}, []string{"rollouts-demo=1", "default/rollouts-demo=2"}, `--rollout-step "default/rollouts-demo=2": rollout default/rollouts-demo already set at a step by "rollouts-demo=1"`},
		{[]string{hostRollout, other}, []string{"rollouts-demo=1"}, `--rollout-step "rollouts-demo=1": 2 Rollouts are named rollouts-demo: give NAMESPACE/rollouts-demo`},
		{[]string{hostRollout, other}, []string{"shop/rollouts-demo=0"}, `test.yaml:40: spec.strategy.canary.steps: --rollout-step "shop/rollouts-demo=0": the Rollout has no canary strategy: it has no steps`},
		{[]string{hostRollout}, []string{"x"}, `--rollout-step "x": want [NAMESPACE/]NAME=INDEX, e.g. shop/order=2`},
	}
	for _, tc := range tests {
		var docs []string
		if tc.docs == nil {
			docs = []string{argoVS}
		} else {
			docs = tc.docs
		}
		in, ros := loadYAML(t, docs...)
		_, err := AtSteps(&in, ros, tc.values)
		if got := errString(err); got != tc.want {
			t.Errorf("AtSteps(%q):\n got %s\nwant %s", tc.values, got, tc.want)
		}
	}
	var ie *IndexError
	in, ros := loadYAML(t, hostRollout)
	if _, err := AtSteps(&in, ros, []string{"rollouts-demo=9"}); !errors.As(err, &ie) || ie.Index != 9 || ie.Steps != 8 {
		t.Errorf("out of range: %v is not an *IndexError{9, 8}", err)
	}
}

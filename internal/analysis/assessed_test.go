package analysis

import (
	"encoding/json"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
)

// judgeTemplate is a metric answered by a plugin provider (Graylane's
// judge), with arguments inside its JSON configuration.
const judgeTemplate = `
args: [{name: service}, {name: version}]
metrics:
- name: judge
  interval: 1s
  count: 2
  provider:
    plugin:
      graylane.io/judge:
        canary: 'destination_service_name="{{args.service}}",destination_version="{{ args.version }}"'
`

func TestPluginArgs(t *testing.T) {
	r, err := New([]*rolloutsv1alpha1.AnalysisTemplateSpec{template(t, judgeTemplate)},
		map[string]string{"service": "order", "version": `v2"\`}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(r.Metrics[0].Provider.Plugin["graylane.io/judge"], &got); err != nil {
		t.Fatalf("the substituted configuration is not JSON: %v", err)
	}
	want := map[string]string{"canary": `destination_service_name="order",destination_version="v2"\"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("-want +got:\n%s", diff)
	}
}

// A provider's own phase decides the measurement: Running is kept but not
// counted, Successful counts towards count, Failed fails with the
// provider's message.
func TestAssessed(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name      string
		phases    []Phase
		wantPhase Phase
		wantCount int
		wantMsg   string
	}{
		{"running is not counted", []Phase{Running, Running, Successful}, Running, 1, ""},
		{"count successes", []Phase{Running, Successful, Successful}, Successful, 2, ""},
		{"failed", []Phase{Running, Failed}, Failed, 1, `metric "judge" assessed Failed: 1 failed measurements exceed failureLimit 0 (canary worse)`},
		{"inconclusive", []Phase{Inconclusive}, Inconclusive, 1, `metric "judge" assessed Inconclusive: 1 inconclusive measurements exceed inconclusiveLimit 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New([]*rolloutsv1alpha1.AnalysisTemplateSpec{template(t, judgeTemplate)}, map[string]string{"service": "s", "version": "v"}, t0)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range tc.phases {
				r.Record(0, t0.Add(time.Duration(i)*time.Second), Assessed{Phase: p, Value: `{"phase":"` + string(p) + `"}`, Message: "canary worse"}, nil)
			}
			st := r.Status[0]
			got := []any{st.Phase, st.Count, st.Message, len(st.Measurements), st.Measurements[0].Value}
			want := []any{tc.wantPhase, tc.wantCount, tc.wantMsg, len(tc.phases), `{"phase":"` + string(tc.phases[0]) + `"}`}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("phase, count, message, measurements, first value -want +got:\n%s", diff)
			}
		})
	}
}

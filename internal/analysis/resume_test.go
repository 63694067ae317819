package analysis

import (
	"encoding/json"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
)

// A run saved (as JSON) after one of its three measurements and resumed
// by a new process later: the measurement counts, the next one is due an
// interval after it, and two more decide the run - none is taken twice
// and none is skipped.
func TestResume(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	specs := []*rolloutsv1alpha1.AnalysisTemplateSpec{template(t, successRate)}
	args := map[string]string{"service": "order.shop.svc.cluster.local"}
	r, err := New(specs, args, t0)
	if err != nil {
		t.Fatal(err)
	}
	r.Record(0, t0, []float64{0.99}, nil)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var saved Run
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}

	later := t0.Add(4 * time.Second) // the new process starts
	resumed, err := New(specs, args, later)
	if err != nil {
		t.Fatal(err)
	}
	if err := resumed.Resume(&saved); err != nil {
		t.Fatal(err)
	}
	type when struct {
		Due  []int
		Wake time.Time
	}
	due, wake := resumed.Due(later)
	if diff := cmp.Diff(when{nil, t0.Add(10 * time.Second)}, when{due, wake}); diff != "" {
		t.Errorf("at restart (-want +got):\n%s", diff)
	}
	due, _ = resumed.Due(t0.Add(10 * time.Second))
	if diff := cmp.Diff([]int{0}, due); diff != "" {
		t.Errorf("an interval after the saved measurement (-want +got):\n%s", diff)
	}
	resumed.Record(0, t0.Add(10*time.Second), []float64{0.98}, nil)
	if resumed.Phase != Running {
		t.Fatalf("after 2 of 3 measurements: %s", resumed.Phase)
	}
	resumed.Record(0, t0.Add(20*time.Second), []float64{0.97}, nil)
	if resumed.Phase != Successful || resumed.Status[0].Count != 3 || !resumed.Started.Equal(t0) {
		t.Errorf("after 3 measurements: %s, count %d, started %v", resumed.Phase, resumed.Status[0].Count, resumed.Started)
	}
}

// A run that had no measurement yet waits its initialDelay from its
// first start; one whose metrics are not the templates' is refused.
func TestResumeChecks(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	delayed := template(t, `
metrics:
- name: m
  initialDelay: 30s
  interval: 10s
  provider: {prometheus: {address: http://p:9090, query: vector(1)}}
`)
	r, _ := New([]*rolloutsv1alpha1.AnalysisTemplateSpec{delayed}, nil, t0)
	resumed, _ := New([]*rolloutsv1alpha1.AnalysisTemplateSpec{delayed}, nil, t0.Add(20*time.Second))
	if err := resumed.Resume(r); err != nil {
		t.Fatal(err)
	}
	if _, wake := resumed.Due(t0.Add(20 * time.Second)); !wake.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("next measurement at %v, want the initial delay after the first start (%v)", wake, t0.Add(30*time.Second))
	}
	other, _ := New([]*rolloutsv1alpha1.AnalysisTemplateSpec{template(t, successRate)}, map[string]string{"service": "x"}, t0)
	if err := other.Resume(r); err == nil {
		t.Error("a run of other metrics was resumed")
	}
}

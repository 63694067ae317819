package plan

import (
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

func spec(t *testing.T, doc string) *rolloutsv1alpha1.RolloutSpec {
	t.Helper()
	var s rolloutsv1alpha1.RolloutSpec
	if err := yaml.UnmarshalStrict([]byte(doc), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// seed001 is seed 001's plan: 10% -> pause -> 30% -> 50% -> 100%, with
// Istio traffic routing.
const seed001 = `
replicas: 10
strategy:
  canary:
    trafficRouting:
      istio:
        virtualService: {name: shop, routes: [primary]}
        destinationRule: {name: shop, canarySubsetName: canary, stableSubsetName: stable}
    steps:
    - setWeight: 10
    - pause: {}
    - setWeight: 30
    - pause: {duration: 30s}
    - setWeight: 50
    - pause: {duration: 1m}
    - setWeight: 100
`

// view is the part of the state a test checks.
type view struct {
	Phase           Phase
	Step            int
	Weight          int32
	Stable, Canary  int32
	StableHash      string
	Aborted, Paused bool
}

func look(st Status, d Desired) view {
	return view{Phase: st.Phase, Step: st.StepIndex, Weight: d.CanaryWeight, Stable: d.StableReplicas, Canary: d.CanaryReplicas,
		StableHash: st.StableHash, Aborted: st.Aborted, Paused: !st.PausedAt.IsZero() || st.UserPaused || st.InconclusivePause}
}

func TestSeed001Plan(t *testing.T) {
	s := spec(t, seed001)
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	calls := []struct {
		name string
		in   Input
		want view
	}{
		{"first deploy is stable at once", Input{Now: t0, TemplateHash: "v1"}, view{Phase: Healthy, Step: 7, Stable: 10, StableHash: "v1"}},
		{"new template: 10%, waiting for the canary replica", Input{Now: t0, TemplateHash: "v2"},
			view{Phase: Progressing, Step: 0, Weight: 10, Stable: 10, Canary: 1, StableHash: "v1"}},
		{"canary ready: pause until promoted", Input{Now: t0, TemplateHash: "v2", CanaryAvailable: 1},
			view{Phase: Paused, Step: 1, Weight: 10, Stable: 10, Canary: 1, StableHash: "v1", Paused: true}},
		{"still paused later", Input{Now: t0.Add(time.Hour), TemplateHash: "v2", CanaryAvailable: 1},
			view{Phase: Paused, Step: 1, Weight: 10, Stable: 10, Canary: 1, StableHash: "v1", Paused: true}},
		{"promote: 30%, 3 canary replicas wanted", Input{Now: t0.Add(time.Hour), TemplateHash: "v2", CanaryAvailable: 1, Command: Promote},
			view{Phase: Progressing, Step: 2, Weight: 30, Stable: 10, Canary: 3, StableHash: "v1"}},
		{"replicas ready: timed pause", Input{Now: t0.Add(time.Hour), TemplateHash: "v2", CanaryAvailable: 3},
			view{Phase: Paused, Step: 3, Weight: 30, Stable: 10, Canary: 3, StableHash: "v1", Paused: true}},
		{"pause over: 50%", Input{Now: t0.Add(time.Hour + 31*time.Second), TemplateHash: "v2", CanaryAvailable: 3},
			view{Phase: Progressing, Step: 4, Weight: 50, Stable: 10, Canary: 5, StableHash: "v1"}},
		{"50% ready: 1m pause", Input{Now: t0.Add(time.Hour + 32*time.Second), TemplateHash: "v2", CanaryAvailable: 5},
			view{Phase: Paused, Step: 5, Weight: 50, Stable: 10, Canary: 5, StableHash: "v1", Paused: true}},
		{"100%: full canary wanted", Input{Now: t0.Add(time.Hour + 93*time.Second), TemplateHash: "v2", CanaryAvailable: 5},
			view{Phase: Progressing, Step: 6, Weight: 100, Stable: 10, Canary: 10, StableHash: "v1"}},
		{"all canary replicas ready: canary becomes stable", Input{Now: t0.Add(time.Hour + 94*time.Second), TemplateHash: "v2", CanaryAvailable: 10},
			view{Phase: Healthy, Step: 7, Weight: 0, Stable: 10, Canary: 0, StableHash: "v2"}},
	}
	var st Status
	for _, c := range calls {
		var d Desired
		st, d = Reconcile(s, st, c.in)
		if diff := cmp.Diff(c.want, look(st, d)); diff != "" {
			t.Fatalf("%s (-want +got):\n%s\nmessage: %s", c.name, diff, st.Message)
		}
	}
}

func TestAbortRetryAndAnalysis(t *testing.T) {
	s := spec(t, `
replicas: 4
strategy:
  canary:
    abortScaleDownDelaySeconds: 10
    trafficRouting: {istio: {virtualService: {name: vs}}}
    analysis:
      templates: [{templateName: success-rate}]
      startingStep: 1
    steps:
    - setWeight: 25
    - setHeaderRoute: {name: qa, match: [{headerName: x-canary, headerValue: {exact: "true"}}]}
    - analysis: {templates: [{templateName: smoke}]}
    - setWeight: 50
`)
	t0 := time.Unix(1_800_000_000, 0)
	st, _ := Reconcile(s, Status{}, Input{Now: t0, TemplateHash: "a"})
	st, d := Reconcile(s, st, Input{Now: t0, TemplateHash: "b", CanaryAvailable: 1})
	if st.StepIndex != 2 || d.StepAnalysis == nil || d.StepAnalysis.Templates[0].TemplateName != "smoke" {
		t.Fatalf("want the step analysis running at step 2: %+v %+v", st, d)
	}
	if d.BackgroundAnalysis == nil || len(d.HeaderRoutes) != 1 || d.HeaderRoutes[0].Name != "qa" {
		t.Fatalf("want background analysis and the header route: %+v", d)
	}
	// The background analysis fails: abort, weight 0, routes gone, canary kept 10s.
	st, d = Reconcile(s, st, Input{Now: t0.Add(time.Second), TemplateHash: "b", CanaryAvailable: 1, BackgroundAnalysis: AnalysisFailed, AnalysisMessage: "success-rate 0.80 < 0.95"})
	want := view{Phase: Degraded, Step: 2, Weight: 0, Stable: 4, Canary: 1, StableHash: "a", Aborted: true}
	if diff := cmp.Diff(want, look(st, d)); diff != "" {
		t.Fatalf("abort (-want +got):\n%s", diff)
	}
	if st.Message != "RolloutAborted: Rollout aborted update to revision b: background analysis Failed: success-rate 0.80 < 0.95" {
		t.Errorf("message %q", st.Message)
	}
	if d.HeaderRoutes != nil || d.StepAnalysis != nil || d.BackgroundAnalysis != nil || d.RequeueAfter != 10*time.Second {
		t.Errorf("after abort: %+v", d)
	}
	_, d = Reconcile(s, st, Input{Now: t0.Add(11 * time.Second), TemplateHash: "b", CanaryAvailable: 1})
	if d.CanaryReplicas != 0 {
		t.Errorf("canary not scaled down after the delay: %+v", d)
	}
	// Retry starts again from step 0.
	st, d = Reconcile(s, st, Input{Now: t0.Add(20 * time.Second), TemplateHash: "b", Command: Retry})
	if diff := cmp.Diff(view{Phase: Progressing, Step: 0, Weight: 25, Stable: 4, Canary: 1, StableHash: "a"}, look(st, d)); diff != "" {
		t.Fatalf("retry (-want +got):\n%s", diff)
	}
	// A failed step analysis aborts too; inconclusive pauses until promoted.
	st, _ = Reconcile(s, st, Input{Now: t0.Add(21 * time.Second), TemplateHash: "b", CanaryAvailable: 1, StepAnalysis: AnalysisInconclusive})
	if st.Phase != Paused || !st.InconclusivePause {
		t.Fatalf("inconclusive: %+v", st)
	}
	st, d = Reconcile(s, st, Input{Now: t0.Add(22 * time.Second), TemplateHash: "b", CanaryAvailable: 1, Command: Promote})
	if st.StepIndex != 3 || d.CanaryWeight != 50 {
		t.Fatalf("promote after inconclusive: %+v %+v", st, d)
	}
}

func TestCommandsAndTemplateChanges(t *testing.T) {
	s := spec(t, seed001)
	t0 := time.Unix(1_800_000_000, 0)
	st, _ := Reconcile(s, Status{}, Input{Now: t0, TemplateHash: "v1"})
	st, _ = Reconcile(s, st, Input{Now: t0, TemplateHash: "v2", CanaryAvailable: 1})
	// User pause holds the rollout even past a promote of the step.
	st, _ = Reconcile(s, st, Input{Now: t0, TemplateHash: "v2", CanaryAvailable: 1, Command: Pause})
	if st.Phase != Paused || !st.UserPaused {
		t.Fatalf("pause: %+v", st)
	}
	st, _ = Reconcile(s, st, Input{Now: t0, TemplateHash: "v2", CanaryAvailable: 1, Command: Resume})
	if st.UserPaused || st.StepIndex != 1 {
		t.Fatalf("resume: %+v", st)
	}
	// promote --full skips every remaining step.
	st, d := Reconcile(s, st, Input{Now: t0, TemplateHash: "v2", CanaryAvailable: 1, Command: PromoteFull})
	if st.StepIndex != 7 || d.CanaryWeight != 100 || d.CanaryReplicas != 10 {
		t.Fatalf("promote --full: %+v %+v", st, d)
	}
	// A third template replaces the canary and starts over.
	st, d = Reconcile(s, st, Input{Now: t0, TemplateHash: "v3"})
	if st.CanaryHash != "v3" || st.StepIndex != 0 || d.CanaryWeight != 10 || st.StableHash != "v1" {
		t.Fatalf("new template: %+v %+v", st, d)
	}
	// Going back to the stable template drops the canary without steps.
	st, d = Reconcile(s, st, Input{Now: t0, TemplateHash: "v1"})
	if st.Phase != Healthy || st.CanaryHash != "v1" || d.CanaryReplicas != 0 || d.CanaryWeight != 0 {
		t.Fatalf("revert: %+v %+v", st, d)
	}
}

func TestBasicCanaryUsesReplicas(t *testing.T) {
	s := spec(t, `
replicas: 5
strategy:
  canary:
    steps: [{setWeight: 40}, {pause: {}}]
`)
	st, _ := Reconcile(s, Status{}, Input{TemplateHash: "a"})
	_, d := Reconcile(s, st, Input{TemplateHash: "b"})
	if d.CanaryReplicas != 2 || d.StableReplicas != 3 {
		t.Errorf("basic canary at 40%% of 5: canary %d stable %d, want 2 and 3", d.CanaryReplicas, d.StableReplicas)
	}
}

func TestSetCanaryScale(t *testing.T) {
	s := spec(t, `
replicas: 10
strategy:
  canary:
    trafficRouting: {istio: {virtualService: {name: vs}}}
    steps:
    - setCanaryScale: {replicas: 3}
    - setWeight: 5
    - pause: {}
    - setCanaryScale: {matchTrafficWeight: true}
    - pause: {}
`)
	st, _ := Reconcile(s, Status{}, Input{TemplateHash: "a"})
	st, d := Reconcile(s, st, Input{TemplateHash: "b", CanaryAvailable: 3})
	if st.StepIndex != 2 || d.CanaryReplicas != 3 || d.CanaryWeight != 5 {
		t.Fatalf("setCanaryScale replicas: %+v %+v", st, d)
	}
	st, d = Reconcile(s, st, Input{TemplateHash: "b", CanaryAvailable: 3, Command: Promote})
	if st.StepIndex != 4 || d.CanaryReplicas != 1 {
		t.Fatalf("matchTrafficWeight: %+v %+v", st, d)
	}
}

func TestPauseDurationForms(t *testing.T) {
	for _, tc := range []struct {
		dur  intstr.IntOrString
		want time.Duration
	}{
		{intstr.FromInt32(30), 30 * time.Second},
		{intstr.FromString("45s"), 45 * time.Second},
		{intstr.FromString("2m"), 2 * time.Minute},
		{intstr.FromString("1h"), time.Hour},
	} {
		d := tc.dur
		s := &rolloutsv1alpha1.RolloutSpec{Strategy: rolloutsv1alpha1.RolloutStrategy{Canary: &rolloutsv1alpha1.CanaryStrategy{
			Steps: []rolloutsv1alpha1.CanaryStep{{Pause: &rolloutsv1alpha1.RolloutPause{Duration: &d}}}}}}
		t0 := time.Unix(1_800_000_000, 0)
		st, _ := Reconcile(s, Status{}, Input{Now: t0, TemplateHash: "a"})
		st, dsr := Reconcile(s, st, Input{Now: t0, TemplateHash: "b", CanaryAvailable: 1})
		if dsr.RequeueAfter != tc.want || st.Phase != Paused {
			t.Errorf("%v: requeue %v phase %s, want %v Paused", tc.dur.String(), dsr.RequeueAfter, st.Phase, tc.want)
		}
	}
}

// TestInvalidStepsStop: a weight outside 0-100 or a pause duration that
// does not parse stops the release (InvalidSpec, as Argo's controller
// marks such a spec) instead of being clamped to 100 or read as 0 s. The
// loader refuses both, so only a caller that skips it gets here.
func TestInvalidStepsStop(t *testing.T) {
	for _, tc := range []struct {
		name, steps string
		weight      int32 // the weight it stays at
		msg         string
	}{
		{"weight above 100", "[{setWeight: 150}, {pause: {}}]", 0, "InvalidSpec: step 0: setWeight 150 is not between 0 and 100"},
		{"negative weight", "[{setWeight: -5}]", 0, "InvalidSpec: step 0: setWeight -5 is not between 0 and 100"},
		{"duration that does not parse", "[{setWeight: 10}, {pause: {duration: abc}}, {setWeight: 50}]", 10,
			`InvalidSpec: step 1: pause duration "abc" is not a number of seconds or a duration such as 30s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spec(t, "replicas: 2\nstrategy:\n  canary:\n    trafficRouting: {istio: {virtualService: {name: vs}}}\n    steps: "+tc.steps+"\n")
			st, _ := Reconcile(s, Status{}, Input{TemplateHash: "a"})
			st, d := Reconcile(s, st, Input{TemplateHash: "b", CanaryAvailable: 2})
			got := view{Phase: st.Phase, Weight: d.CanaryWeight}
			want := view{Phase: Degraded, Weight: tc.weight}
			if diff := cmp.Diff(want, got); diff != "" || st.Message != tc.msg {
				t.Errorf("(-want +got):\n%s\nmessage %q, want %q", diff, st.Message, tc.msg)
			}
		})
	}
}

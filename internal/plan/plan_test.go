package plan

import (
	"errors"
	"strings"
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
	Weight, Set     int32
	Stable, Canary  int32
	StableHash      string
	Aborted, Paused bool
}

func look(st Status, d Desired) view {
	return view{Phase: st.Phase, Step: st.StepIndex, Weight: d.CanaryWeight, Set: d.SetWeight, Stable: d.StableReplicas, Canary: d.CanaryReplicas,
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
		{"new template: 10% asked, no traffic until the canary replica is available", Input{Now: t0, TemplateHash: "v2"},
			view{Phase: Progressing, Step: 0, Weight: 0, Set: 10, Stable: 10, Canary: 1, StableHash: "v1"}},
		{"canary ready: 10%, pause until promoted", Input{Now: t0, TemplateHash: "v2", CanaryAvailable: 1},
			view{Phase: Paused, Step: 1, Weight: 10, Set: 10, Stable: 10, Canary: 1, StableHash: "v1", Paused: true}},
		{"still paused later", Input{Now: t0.Add(time.Hour), TemplateHash: "v2", CanaryAvailable: 1},
			view{Phase: Paused, Step: 1, Weight: 10, Set: 10, Stable: 10, Canary: 1, StableHash: "v1", Paused: true}},
		{"promote: 30% asked, traffic stays at 10% until 3 canary replicas are available", Input{Now: t0.Add(time.Hour), TemplateHash: "v2", CanaryAvailable: 1, Command: Promote},
			view{Phase: Progressing, Step: 2, Weight: 10, Set: 30, Stable: 10, Canary: 3, StableHash: "v1"}},
		{"2 of 3: still 10%", Input{Now: t0.Add(time.Hour), TemplateHash: "v2", CanaryAvailable: 2},
			view{Phase: Progressing, Step: 2, Weight: 10, Set: 30, Stable: 10, Canary: 3, StableHash: "v1"}},
		{"replicas ready: 30%, timed pause", Input{Now: t0.Add(time.Hour), TemplateHash: "v2", CanaryAvailable: 3},
			view{Phase: Paused, Step: 3, Weight: 30, Set: 30, Stable: 10, Canary: 3, StableHash: "v1", Paused: true}},
		{"pause over: 50% asked, 30% until 5 are available", Input{Now: t0.Add(time.Hour + 31*time.Second), TemplateHash: "v2", CanaryAvailable: 3},
			view{Phase: Progressing, Step: 4, Weight: 30, Set: 50, Stable: 10, Canary: 5, StableHash: "v1"}},
		{"50% ready: 1m pause", Input{Now: t0.Add(time.Hour + 32*time.Second), TemplateHash: "v2", CanaryAvailable: 5},
			view{Phase: Paused, Step: 5, Weight: 50, Set: 50, Stable: 10, Canary: 5, StableHash: "v1", Paused: true}},
		{"100% asked: 50% until the full canary is available", Input{Now: t0.Add(time.Hour + 93*time.Second), TemplateHash: "v2", CanaryAvailable: 5},
			view{Phase: Progressing, Step: 6, Weight: 50, Set: 100, Stable: 10, Canary: 10, StableHash: "v1"}},
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
	if diff := cmp.Diff(view{Phase: Progressing, Step: 0, Weight: 0, Set: 25, Stable: 4, Canary: 1, StableHash: "a"}, look(st, d)); diff != "" {
		t.Fatalf("retry (-want +got):\n%s", diff)
	}
	// A failed step analysis aborts too; inconclusive pauses until promoted.
	st, _ = Reconcile(s, st, Input{Now: t0.Add(21 * time.Second), TemplateHash: "b", CanaryAvailable: 1, StepAnalysis: AnalysisInconclusive})
	if st.Phase != Paused || !st.InconclusivePause {
		t.Fatalf("inconclusive: %+v", st)
	}
	st, d = Reconcile(s, st, Input{Now: t0.Add(22 * time.Second), TemplateHash: "b", CanaryAvailable: 1, Command: Promote})
	if st.StepIndex != 3 || d.SetWeight != 50 || d.CanaryWeight != 25 {
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
	// promote --full skips every remaining step; the weight stays at 10%
	// until the whole canary is available.
	st, d := Reconcile(s, st, Input{Now: t0, TemplateHash: "v2", CanaryAvailable: 1, Command: PromoteFull})
	if st.StepIndex != 7 || d.CanaryWeight != 10 || d.SetWeight != 100 || d.CanaryReplicas != 10 || !st.PromoteFull {
		t.Fatalf("promote --full: %+v %+v", st, d)
	}
	if _, d := Reconcile(s, st, Input{Now: t0, TemplateHash: "v2", CanaryAvailable: 9}); d.CanaryWeight != 10 {
		t.Fatalf("promote --full with 9 of 10: weight %d, want 10", d.CanaryWeight)
	}
	// A third template replaces the canary and starts over.
	st, d = Reconcile(s, st, Input{Now: t0, TemplateHash: "v3"})
	if st.CanaryHash != "v3" || st.StepIndex != 0 || d.SetWeight != 10 || d.CanaryWeight != 0 || st.StableHash != "v1" || st.PromoteFull {
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
		weight      int32 // the weight it stays at: what traffic had before this reconcile
		msg         string
	}{
		{"weight above 100", "[{setWeight: 150}, {pause: {}}]", 0, "InvalidSpec: step 0: setWeight 150 is not between 0 and 100"},
		{"negative weight", "[{setWeight: -5}]", 0, "InvalidSpec: step 0: setWeight -5 is not between 0 and 100"},
		{"duration that does not parse", "[{setWeight: 10}, {pause: {duration: abc}}, {setWeight: 50}]", 0,
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

// issue15 is the plan of issue #15's reproduction (seed 001 with 4
// replicas): 10% -> pause -> 30% -> pause 2m -> 50% -> pause 2m.
const issue15 = `
replicas: 4
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
    - pause: {duration: 2m}
    - setWeight: 50
    - pause: {duration: 2m}
    - setHeaderRoute: {name: qa, match: [{headerName: x-qa, headerValue: {exact: "1"}}]}
    - pause: {}
`

// A weight moves only when the canary has the replicas it needs
// available, as Argo's reconcileTrafficRouting: until then traffic keeps
// the weight of the setWeight step before the current one (none while no
// canary replica is available), and managed routes are withdrawn while no
// canary replica is available.
func TestWeightWaitsForReplicas(t *testing.T) {
	s := spec(t, issue15)
	t0 := time.Unix(1_800_000_000, 0)
	at := func(step int, weight int32) Status {
		return Status{StableHash: "v1", CanaryHash: "v2", StepIndex: step, Phase: Progressing, CanaryWeight: weight}
	}
	qa := []HeaderRoute{{Name: "qa"}}
	type want struct {
		Step          int
		Weight, Set   int32
		Canary        int32
		HeaderRoutes  int
		StableHash    string
		MessagePrefix string
		StatusWeight  int32
	}
	for _, tc := range []struct {
		name      string
		st        Status
		available int32
		want      want
	}{
		{"10%, canary 0 of 1: no traffic", at(0, 0), 0,
			want{Step: 0, Weight: 0, Set: 10, Canary: 1, StableHash: "v1", MessagePrefix: "waiting for canary replicas: 0 of 1 available (traffic stays at 0% until then)"}},
		{"10%, canary 1 of 1: 10% and on to the pause", at(0, 0), 1,
			want{Step: 1, Weight: 10, Set: 10, Canary: 1, StableHash: "v1", MessagePrefix: "CanaryPauseStep"}},
		{"30% needs 2: with 1 traffic stays at 10%", at(2, 10), 1,
			want{Step: 2, Weight: 10, Set: 30, Canary: 2, StableHash: "v1", MessagePrefix: "waiting for canary replicas: 1 of 2 available (traffic stays at 10% until then)"}},
		{"50% needs 2: with 1 traffic stays at 30%", at(4, 30), 1,
			want{Step: 4, Weight: 30, Set: 50, Canary: 2, StableHash: "v1", MessagePrefix: "waiting for canary replicas: 1 of 2 available (traffic stays at 30% until then)"}},
		{"50% with 2 of 2", at(4, 30), 2,
			want{Step: 5, Weight: 50, Set: 50, Canary: 2, StableHash: "v1", MessagePrefix: "CanaryPauseStep"}},
		{"a replica lost during the pause after 50%: the weight of the step before stays", at(5, 50), 1,
			want{Step: 5, Weight: 50, Set: 50, Canary: 2, StableHash: "v1", MessagePrefix: "CanaryPauseStep"}},
		{"no canary replica left: no traffic", at(5, 50), 0,
			want{Step: 5, Weight: 0, Set: 50, Canary: 2, StableHash: "v1", MessagePrefix: "CanaryPauseStep"}},
		{"steps done, 100% needs 4: with 2 traffic stays at 50%", at(8, 50), 2,
			want{Step: 8, Weight: 50, Set: 100, Canary: 4, StableHash: "v1", MessagePrefix: "promoting: waiting for canary replicas: 2 of 4 available (traffic stays at 50% until then)"}},
		{"steps done, 4 of 4: the canary is the stable", at(8, 50), 4,
			want{Step: 8, Weight: 0, Set: 0, Canary: 0, StableHash: "v2", MessagePrefix: ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, d := Reconcile(s, tc.st, Input{Now: t0, TemplateHash: "v2", CanaryAvailable: tc.available})
			got := want{Step: st.StepIndex, Weight: d.CanaryWeight, Set: d.SetWeight, Canary: d.CanaryReplicas, HeaderRoutes: len(d.HeaderRoutes),
				StableHash: st.StableHash, MessagePrefix: tc.want.MessagePrefix, StatusWeight: st.CanaryWeight}
			if !strings.HasPrefix(st.Message, tc.want.MessagePrefix) {
				got.MessagePrefix = st.Message
			}
			w := tc.want
			w.StatusWeight = w.Weight
			if diff := cmp.Diff(w, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// Managed header routes are in effect only while a canary replica is
	// available.
	st := at(7, 50)
	st.HeaderRoutes = qa
	if _, d := Reconcile(s, st, Input{Now: t0, TemplateHash: "v2", CanaryAvailable: 2}); len(d.HeaderRoutes) != 1 {
		t.Errorf("header routes with 2 canary replicas: %v", d.HeaderRoutes)
	}
	if _, d := Reconcile(s, st, Input{Now: t0, TemplateHash: "v2", CanaryAvailable: 0}); d.HeaderRoutes != nil || d.CanaryWeight != 0 {
		t.Errorf("no canary replica: header routes %v weight %d, want none and 0", d.HeaderRoutes, d.CanaryWeight)
	}
}

// Every command says what it did, or is refused with the reason, as Argo's
// kubectl plugin and controller would act.
func TestCommands(t *testing.T) {
	s := spec(t, issue15)
	t0 := time.Unix(1_800_000_000, 0)
	healthy := Status{StableHash: "v1", CanaryHash: "v1", StepIndex: 8, Phase: Healthy}
	at := func(step int, edit func(*Status)) Status {
		st := Status{StableHash: "v1", CanaryHash: "v2", StepIndex: step, Phase: Progressing, CanaryWeight: 10}
		if edit != nil {
			edit(&st)
		}
		return st
	}
	inPause := func(st *Status) { st.PausedAt, st.Phase = t0.Add(-time.Minute), Paused }
	userPaused := func(st *Status) { st.UserPaused, st.Phase = true, Paused }
	aborted := func(st *Status) {
		st.Aborted, st.AbortedAt, st.Phase, st.CanaryWeight = true, t0.Add(-time.Second), Degraded, 0
	}
	type after struct {
		Step                                     int
		UserPaused, Aborted, PromoteFull, Paused bool
	}
	for _, tc := range []struct {
		name    string
		st      Status
		cmd     Command
		msg     string
		refusal Refusal
		want    after
	}{
		{"promote in a pause step", at(1, inPause), Promote, "promoted: left the pause of step 1 (pause)", "", after{Step: 2}},
		{"promote while paused by the user inside a pause step clears both", at(1, func(st *Status) { inPause(st); userPaused(st) }), Promote,
			"promoted: cleared the manual pause and left the pause of step 1 (pause)", "", after{Step: 2}},
		{"promote while paused by the user on a setWeight step skips it too", at(2, userPaused), Promote,
			"promoted: cleared the manual pause and skipped step 2 (setWeight 30)", "", after{Step: 3}},
		{"promote on a timed pause", at(3, inPause), Promote, "promoted: left the pause of step 3 (pause 2m0s)", "", after{Step: 4}},
		{"promote with nothing in progress", healthy, Promote, "", NoUpdate, after{Step: 8}},
		{"promote a healthy rollout the user paused", func() Status { st := healthy; st.UserPaused = true; return st }(), Promote,
			"promoted: cleared the manual pause", "", after{Step: 8}},
		{"promote an aborted update", at(2, aborted), Promote, "", IsAborted, after{Step: 2, Aborted: true}},
		{"promote once every step is done", at(8, nil), Promote, "", StepsDone, after{Step: 8}},
		{"promote --full", at(1, inPause), PromoteFull,
			"fully promoting: skipped every remaining step; the canary becomes the stable once all 4 of its replicas are available", "", after{Step: 8, PromoteFull: true}},
		{"promote --full clears an abort", at(2, aborted), PromoteFull,
			"fully promoting: cleared the abort and skipped every remaining step; the canary becomes the stable once all 4 of its replicas are available", "", after{Step: 8, PromoteFull: true}},
		{"promote --full twice", at(8, func(st *Status) { st.PromoteFull = true }), PromoteFull, "", AlreadyPromoting, after{Step: 8, PromoteFull: true}},
		{"promote --full with nothing in progress", healthy, PromoteFull, "", NoUpdate, after{Step: 8}},
		{"abort", at(1, inPause), Abort, "aborted: all traffic goes back to the stable, the canary scales down after 30s", "", after{Step: 1, Aborted: true}},
		{"abort an aborted update", at(1, aborted), Abort, "", AlreadyAborted, after{Step: 1, Aborted: true}},
		{"abort with nothing in progress", healthy, Abort, "", NoUpdate, after{Step: 8}},
		{"retry", at(4, aborted), Retry, "retrying: the update starts again from step 0", "", after{Step: 0}},
		{"retry what is not aborted", at(1, inPause), Retry, "", NotAborted, after{Step: 1, Paused: true}},
		{"retry with nothing in progress", healthy, Retry, "", NotAborted, after{Step: 8}},
		{"pause", at(1, nil), Pause, "paused: holds until resumed or promoted", "", after{Step: 1, UserPaused: true, Paused: true}},
		{"pause twice", at(1, userPaused), Pause, "", AlreadyPaused, after{Step: 1, UserPaused: true, Paused: true}},
		{"resume", at(1, userPaused), Resume, "resumed", "", after{Step: 1}},
		{"resume in a pause step the user did not pause", at(1, inPause), Resume, "", NotPaused, after{Step: 1, Paused: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, msg, err := Apply(s, tc.st, tc.cmd, t0)
			var refused *RefusedError
			switch {
			case tc.refusal != "":
				if !errors.As(err, &refused) || refused.Reason != tc.refusal {
					t.Fatalf("got %q, %v; want refused %s", msg, err, tc.refusal)
				}
				if diff := cmp.Diff(tc.st, st); diff != "" {
					t.Errorf("a refused command changed the status (-before +after):\n%s", diff)
				}
			case err != nil:
				t.Fatalf("refused: %v", err)
			case msg != tc.msg:
				t.Errorf("message %q, want %q", msg, tc.msg)
			}
			got := after{Step: st.StepIndex, UserPaused: st.UserPaused, Aborted: st.Aborted, PromoteFull: st.PromoteFull,
				Paused: !st.PausedAt.IsZero() || st.InconclusivePause || st.UserPaused}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("after (-want +got):\n%s", diff)
			}
		})
	}
	// The refusals read as sentences.
	for _, tc := range []struct {
		err  *RefusedError
		want string
	}{
		{&RefusedError{Command: Abort, Reason: NoUpdate}, "nothing to abort: no update in progress"},
		{&RefusedError{Command: PromoteFull, Reason: NoUpdate}, "nothing to promote: no update in progress"},
		{&RefusedError{Command: Resume, Reason: NotPaused, Detail: "it waits at step 1 (pause): promote leaves it"},
			"nothing to resume: not paused by a user; it waits at step 1 (pause): promote leaves it"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.err, got, tc.want)
		}
	}
}

// A user pause inside a timed pause step, then promote: the pause step is
// left at once (not after its duration) and the rollout moves on.
func TestPromoteInsideUserPausedPauseStep(t *testing.T) {
	s := spec(t, issue15)
	t0 := time.Unix(1_800_000_000, 0)
	st, _ := Reconcile(s, Status{}, Input{Now: t0, TemplateHash: "v1"})
	st, _ = Reconcile(s, st, Input{Now: t0, TemplateHash: "v2", CanaryAvailable: 1})
	st, _ = Reconcile(s, st, Input{Now: t0, TemplateHash: "v2", CanaryAvailable: 2, Command: Promote})
	if st.StepIndex != 3 || st.Phase != Paused {
		t.Fatalf("want the 2m pause at step 3: %+v", st)
	}
	st, _ = Reconcile(s, st, Input{Now: t0.Add(time.Second), TemplateHash: "v2", CanaryAvailable: 2, Command: Pause})
	if !st.UserPaused || st.Message != "manually paused" {
		t.Fatalf("user pause: %+v", st)
	}
	st, msg, err := Apply(s, st, Promote, t0.Add(2*time.Second))
	if err != nil || msg != "promoted: cleared the manual pause and left the pause of step 3 (pause 2m0s)" {
		t.Fatalf("promote: %q %v", msg, err)
	}
	st, d := Reconcile(s, st, Input{Now: t0.Add(2 * time.Second), TemplateHash: "v2", CanaryAvailable: 2})
	if diff := cmp.Diff(view{Phase: Paused, Step: 5, Weight: 50, Set: 50, Stable: 4, Canary: 2, StableHash: "v1", Paused: true}, look(st, d)); diff != "" {
		t.Errorf("after promote (-want +got):\n%s", diff)
	}
}

// A step analysis holds its step while it runs, lets the rollout through
// when Successful, and aborts it when Failed or Error, with the reason.
func TestStepAnalysis(t *testing.T) {
	s := spec(t, `
replicas: 2
strategy:
  canary:
    trafficRouting: {istio: {virtualService: {name: vs}}}
    steps:
    - setWeight: 50
    - analysis: {templates: [{templateName: smoke}]}
    - pause: {}
`)
	t0 := time.Unix(1_800_000_000, 0)
	type got struct {
		View         view
		Message      string
		StepAnalysis string // the template the step asks to run, "" for none
	}
	for _, tc := range []struct {
		name  string
		phase AnalysisPhase
		want  got
	}{
		{"not started yet: the step asks for its run", AnalysisNone, got{
			view{Phase: Progressing, Step: 1, Weight: 50, Set: 50, Stable: 2, Canary: 1, StableHash: "a"}, "step 1: analysis running", "smoke"}},
		{"running: the step holds", AnalysisRunning, got{
			view{Phase: Progressing, Step: 1, Weight: 50, Set: 50, Stable: 2, Canary: 1, StableHash: "a"}, "step 1: analysis running", "smoke"}},
		{"successful: on to the next step", AnalysisSuccessful, got{
			view{Phase: Paused, Step: 2, Weight: 50, Set: 50, Stable: 2, Canary: 1, StableHash: "a", Paused: true}, "CanaryPauseStep: paused until promoted", ""}},
		{"failed: aborted, traffic back to the stable", AnalysisFailed, got{
			view{Phase: Degraded, Step: 1, Weight: 0, Set: 0, Stable: 2, Canary: 1, StableHash: "a", Aborted: true},
			"RolloutAborted: Rollout aborted update to revision b: step 1 analysis Failed: smoke: 2 of 3 failed", ""}},
		{"error: aborted as well", AnalysisError, got{
			view{Phase: Degraded, Step: 1, Weight: 0, Set: 0, Stable: 2, Canary: 1, StableHash: "a", Aborted: true},
			"RolloutAborted: Rollout aborted update to revision b: step 1 analysis Error: smoke: 2 of 3 failed", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := Reconcile(s, Status{}, Input{Now: t0, TemplateHash: "a"})
			st, d := Reconcile(s, st, Input{Now: t0, TemplateHash: "b", CanaryAvailable: 1, StepAnalysis: tc.phase, AnalysisMessage: "smoke: 2 of 3 failed"})
			g := got{View: look(st, d), Message: st.Message}
			if d.StepAnalysis != nil {
				g.StepAnalysis = d.StepAnalysis.Templates[0].TemplateName
			}
			if diff := cmp.Diff(tc.want, g); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// setHeaderRoute without match removes the named route and leaves the
// others; setting a name again replaces its route instead of adding one.
func TestHeaderRouteRemoval(t *testing.T) {
	s := spec(t, `
replicas: 2
strategy:
  canary:
    trafficRouting:
      managedRoutes: [{name: qa}, {name: beta}]
      istio: {virtualService: {name: vs}}
    steps:
    - setWeight: 50
    - setHeaderRoute: {name: qa, match: [{headerName: x-qa, headerValue: {exact: "1"}}]}
    - setHeaderRoute: {name: beta, match: [{headerName: x-beta, headerValue: {prefix: "yes"}}]}
    - pause: {}
    - setHeaderRoute: {name: qa, match: [{headerName: x-qa, headerValue: {exact: "2"}}]}
    - pause: {}
    - setHeaderRoute: {name: qa}
    - pause: {}
    - setHeaderRoute: {name: beta}
    - pause: {}
`)
	t0 := time.Unix(1_800_000_000, 0)
	// routes renders the routes in effect as "name header=value" lines.
	routes := func(d Desired) []string {
		var out []string
		for _, r := range d.HeaderRoutes {
			for _, m := range r.Match {
				v := m.HeaderValue.Exact + m.HeaderValue.Prefix + m.HeaderValue.Regex
				out = append(out, r.Name+" "+m.HeaderName+"="+v)
			}
		}
		return out
	}
	st, _ := Reconcile(s, Status{}, Input{Now: t0, TemplateHash: "a"})
	st, d := Reconcile(s, st, Input{Now: t0, TemplateHash: "b", CanaryAvailable: 1})
	for i, want := range [][]string{
		{"qa x-qa=1", "beta x-beta=yes"},
		{"beta x-beta=yes", "qa x-qa=2"},
		{"beta x-beta=yes"},
		nil,
	} {
		if st.Phase != Paused {
			t.Fatalf("pause %d: phase %s (%s)", i, st.Phase, st.Message)
		}
		if diff := cmp.Diff(want, routes(d)); diff != "" {
			t.Errorf("at the pause of step %d (-want +got):\n%s", st.StepIndex, diff)
		}
		if i < 3 {
			st, d = Reconcile(s, st, Input{Now: t0, TemplateHash: "b", CanaryAvailable: 1, Command: Promote})
		}
	}
	if st.HeaderRoutes != nil {
		t.Errorf("status keeps routes after both were removed: %+v", st.HeaderRoutes)
	}
}

// Steps the step machine does not run stop the release where it is,
// saying which step and why; the canary is never promoted past them.
func TestUnsupportedSteps(t *testing.T) {
	for _, step := range []string{
		"experiment: {templates: [{name: baseline, specRef: stable}]}",
		"plugin: {name: example.com/step}",
		"setMirrorRoute: {name: mirror}",
	} {
		t.Run(strings.SplitN(step, ":", 2)[0], func(t *testing.T) {
			s := spec(t, "replicas: 2\nstrategy:\n  canary:\n    trafficRouting: {istio: {virtualService: {name: vs}}}\n    steps:\n    - setWeight: 20\n    - "+step+"\n    - setWeight: 60\n")
			t0 := time.Unix(1_800_000_000, 0)
			st, _ := Reconcile(s, Status{}, Input{Now: t0, TemplateHash: "a"})
			for range 2 { // a later reconcile does not get past it either
				var d Desired
				st, d = Reconcile(s, st, Input{Now: t0.Add(time.Hour), TemplateHash: "b", CanaryAvailable: 2})
				want := view{Phase: Degraded, Step: 1, Weight: 20, Set: 20, Stable: 2, Canary: 1, StableHash: "a"}
				if diff := cmp.Diff(want, look(st, d)); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				if want := "step 1: experiment, plugin and setMirrorRoute steps are not supported by Graylane's step machine"; st.Message != want {
					t.Errorf("message %q, want %q", st.Message, want)
				}
			}
		})
	}
}

package embedded

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/judge"
	"github.com/graylane/graylane/internal/plan"
	"github.com/graylane/graylane/internal/render"
)

// payVersions is seed 004's layout for pay: one Service, one Deployment
// per version (v1 failing 0.1% of requests, v2 5%, v3 like v1).
func payVersions() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Service\nmetadata: {name: pay}\nspec: {selector: {app: pay}, ports: [{name: http, port: 8080}]}\n")
	for _, v := range []struct{ version, errors string }{{"v1", "0.001"}, {"v2", "0.05"}, {"v3", "0.001"}} {
		fmt.Fprintf(&b, `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: pay-%[1]s, labels: {app: pay, version: %[1]s}}
spec:
  replicas: 2
  selector: {matchLabels: {app: pay, version: %[1]s}}
  template:
    metadata: {labels: {app: pay, version: %[1]s}}
    spec:
      containers:
      - name: pay
        image: graylane/sample
        env: [{name: app, value: pay}, {name: version, value: %[1]s}, {name: error_rate, value: "%[2]s"}]
`, v.version, v.errors)
	}
	return b.String()
}

// TestConvertedVersionsRollBack runs `graylane convert`'s output for seed
// 004's layout as documented: the first-apply output makes v1 the stable
// at once; the default output then canaries v2, and the default judge (the
// canary version read from the Rollout's template by its fieldRef
// argument, the stable = every other version) aborts it by itself. A later
// release of v3, as good as v1, is judged Successful and promoted.
func TestConvertedVersionsRollBack(t *testing.T) {
	r := start(t, nil)
	in := mustLoadBytes(t, payVersions())
	apply := func(o render.ConvertOptions) {
		t.Helper()
		// The success rate is kept out of the way (min 0.5): the judge decides.
		o.Spec.Analysis = &v1alpha1.Analysis{SuccessRate: &v1alpha1.SuccessRate{Min: "0.5"}}
		o.Prometheus = "http://" + r.rt.Addr()
		conv, err := render.Convert(in, o)
		if err != nil {
			t.Fatal(err)
		}
		data, err := render.EncodeAll(conv.Objects)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.rt.Apply(mustLoadBytes(t, string(data))); err != nil {
			t.Fatal(err)
		}
	}
	steps := func(pause string) []v1alpha1.Step {
		w := int32(50)
		return []v1alpha1.Step{{SetWeight: &w}, {Pause: &v1alpha1.Pause{Duration: pause}}}
	}
	v1 := []render.VersionChoice{{Version: "v1"}}

	apply(render.ConvertOptions{Stable: v1, Canary: []render.VersionChoice{{Version: "v2"}}, FirstApply: true, Judge: true, Spec: v1alpha1.ReleaseSpec{Steps: steps("60s")}})
	healthy := waitRollout(t, r.rt, "healthy at v1", func(s RolloutStatus) bool { return s.Phase == plan.Healthy && s.Stable.Ready == 2 })
	if len(healthy.Analysis) > 0 {
		t.Errorf("first apply ran steps or analysis: %+v", healthy)
	}
	defer sendTraffic(r, "pay:8080")()
	defer sendTraffic(r, "pay:8080")()

	apply(render.ConvertOptions{Stable: v1, Canary: []render.VersionChoice{{Version: "v2"}}, Judge: true, Spec: v1alpha1.ReleaseSpec{Steps: steps("60s")}})
	aborted := waitRollout(t, r.rt, "aborted by the judge", func(s RolloutStatus) bool { return s.Phase == plan.Degraded })
	if !strings.Contains(aborted.Message, `metric "judge" assessed Failed`) || !strings.Contains(aborted.Message, "error rate: canary") {
		t.Fatalf("message: %q", aborted.Message)
	}
	if ev := judgeEvidence(t, aborted, judge.Failed); ev.Canary.Requests == 0 || ev.Stable.Requests == 0 {
		t.Errorf("evidence without traffic on both sides: %+v", ev)
	}
	if aborted.CanaryWeight != 0 || aborted.StableHash != healthy.StableHash {
		t.Errorf("after the abort: weight %d, stable %s (was %s)", aborted.CanaryWeight, aborted.StableHash, healthy.StableHash)
	}

	apply(render.ConvertOptions{Stable: v1, Canary: []render.VersionChoice{{Version: "v3"}}, Judge: true, Spec: v1alpha1.ReleaseSpec{Steps: steps("8s")}})
	var judged RolloutStatus
	waitRollout(t, r.rt, "judged successful", func(s RolloutStatus) bool {
		judged = s
		return s.CanaryHash != aborted.CanaryHash && judgeMeasured(s, judge.Successful)
	})
	if ev := judgeEvidence(t, judged, judge.Successful); ev.Canary.Requests < 100 || ev.Stable.Requests < 100 {
		t.Errorf("evidence: %+v", ev)
	}
	promoted := waitRollout(t, r.rt, "promoted", func(s RolloutStatus) bool {
		return s.Phase == plan.Healthy && s.CanaryHash == s.StableHash && s.StableHash != healthy.StableHash
	})
	if promoted.Aborted {
		t.Errorf("promoted: %+v", promoted)
	}
}

// judgeMeasured reports whether the judge metric has a measurement of the phase.
func judgeMeasured(s RolloutStatus, p judge.Phase) bool {
	_, ok := judgeMeasurement(s, p)
	return ok
}

// judgeEvidence decodes the judge's last measurement of the phase.
func judgeEvidence(t *testing.T, s RolloutStatus, p judge.Phase) judge.Verdict {
	t.Helper()
	value, ok := judgeMeasurement(s, p)
	if !ok {
		t.Fatalf("no %s measurement of the judge in %+v", p, s.Analysis)
	}
	var v judge.Verdict
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		t.Fatalf("measurement value is not the evidence: %v\n%s", err, value)
	}
	return v
}

func judgeMeasurement(s RolloutStatus, p judge.Phase) (string, bool) {
	for _, a := range s.Analysis {
		for _, m := range a.Metrics {
			if m.Name != render.AnalysisJudge {
				continue
			}
			for i := len(m.Measurements) - 1; i >= 0; i-- {
				if meas := m.Measurements[i]; string(meas.Phase) == string(p) {
					return meas.Value, true
				}
			}
		}
	}
	return "", false
}

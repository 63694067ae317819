package release

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/analysis"
	"github.com/graylane/graylane/internal/plan"
)

// A lane's analysis names every member whose run ended worst: in a call
// chain the callers of a failing member fail with it (issue 14.12: the
// abort blamed order, the caller, for logistics' errors).
func TestAnalysisSetPhaseNamesEveryFailedMember(t *testing.T) {
	run := func(p analysis.Phase, msg string) *analysisRunner { return &analysisRunner{phase: p, msg: msg} }
	tests := []struct {
		name      string
		set       *analysisSet
		wantPhase plan.AnalysisPhase
		wantMsg   string
	}{
		{"one run", &analysisSet{members: []string{""}, runs: []*analysisRunner{run(analysis.Failed, "error rate 0.5")}},
			plan.AnalysisFailed, "error rate 0.5"},
		{"caller and callee failed", &analysisSet{members: []string{"order", "payment", "logistics"}, runs: []*analysisRunner{
			run(analysis.Failed, "error rate 0.3"), run(analysis.Running, ""), run(analysis.Failed, "error rate 0.3")}},
			plan.AnalysisFailed, "order: error rate 0.3; logistics: error rate 0.3"},
		{"the worst wins", &analysisSet{members: []string{"order", "logistics"}, runs: []*analysisRunner{
			run(analysis.Inconclusive, "too few requests"), run(analysis.Failed, "error rate 0.3")}},
			plan.AnalysisFailed, "logistics: error rate 0.3"},
		{"running members are not listed", &analysisSet{members: []string{"order", "logistics"}, runs: []*analysisRunner{
			run(analysis.Running, "measuring"), run(analysis.Running, "measuring")}},
			plan.AnalysisRunning, "order: measuring"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotPhase, gotMsg := tt.set.phase()
			if diff := cmp.Diff([]string{string(tt.wantPhase), tt.wantMsg}, []string{string(gotPhase), gotMsg}); diff != "" {
				t.Errorf("phase (-want +got):\n%s", diff)
			}
		})
	}
}

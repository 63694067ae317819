package analysis

import "fmt"

// Resume continues r, a run just made by New from the same templates and
// arguments, from saved, a copy of it kept before a restart (its JSON: the
// metrics' status, the phase and the start), as Argo Rollouts' controller
// continues an AnalysisRun after it restarts: the measurements taken are
// kept and counted, and each metric is measured next an interval after its
// last measurement (its initialDelay after the start when it has none). A
// saved run whose metrics are not the templates' is an error: the caller
// starts afresh.
func (r *Run) Resume(saved *Run) error {
	if len(saved.Status) != len(r.Status) {
		return fmt.Errorf("the saved run has %d metrics, the templates %d", len(saved.Status), len(r.Status))
	}
	for i := range r.Status {
		if saved.Status[i].Name != r.Status[i].Name {
			return fmt.Errorf("the saved run's metric %d is %q, the templates' %q", i, saved.Status[i].Name, r.Status[i].Name)
		}
	}
	first := saved.Started.Sub(r.Started) // New counted initialDelay from its own start
	for i := range r.Status {
		st := saved.Status[i]
		st.next = r.Status[i].next.Add(first)
		if n := len(st.Measurements); n > 0 {
			interval, _ := duration(r.Metrics[i].Interval)
			st.next = st.Measurements[n-1].At.Add(interval)
		}
		r.Status[i] = st
	}
	r.Started, r.Phase, r.Message = saved.Started, saved.Phase, saved.Message
	return nil
}

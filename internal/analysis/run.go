// Package analysis evaluates Argo Rollouts analysis the way an AnalysisRun
// does - measurements on an interval, success and failure conditions in
// the expr language, count, failureLimit, inconclusiveLimit,
// consecutiveErrorLimit, initialDelay and dry-run metrics - as pure
// functions: the caller takes the measurements (internal/measure) and
// passes the time.
package analysis

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Phase is an AnalysisRun, metric or measurement phase.
type Phase string

// Phases, as Argo names them.
const (
	Pending      Phase = "Pending"
	Running      Phase = "Running"
	Successful   Phase = "Successful"
	Failed       Phase = "Failed"
	Error        Phase = "Error"
	Inconclusive Phase = "Inconclusive"
)

// DefaultConsecutiveErrorLimit is Argo's default.
const DefaultConsecutiveErrorLimit = 4

// Measurement is one measured value and its verdict.
type Measurement struct {
	Phase   Phase     `json:"phase"`
	Value   string    `json:"value,omitempty"`
	Message string    `json:"message,omitempty"`
	At      time.Time `json:"at"`
}

// MetricStatus is the state of one metric of a run.
type MetricStatus struct {
	Name             string        `json:"name"`
	Phase            Phase         `json:"phase"`
	DryRun           bool          `json:"dryRun,omitempty"`
	Count            int           `json:"count"`
	Successful       int           `json:"successful"`
	Failed           int           `json:"failed"`
	Inconclusive     int           `json:"inconclusive"`
	Error            int           `json:"error"`
	ConsecutiveError int           `json:"consecutiveError"`
	Message          string        `json:"message,omitempty"`
	Measurements     []Measurement `json:"measurements,omitempty"`
	next             time.Time
}

// Run is an AnalysisRun: its metrics (with arguments substituted) and
// their state.
type Run struct {
	Metrics []rolloutsv1alpha1.Metric `json:"-"`
	Status  []MetricStatus            `json:"metrics"`
	Phase   Phase                     `json:"phase"`
	Message string                    `json:"message,omitempty"`
	Started time.Time                 `json:"started"`
}

// keepMeasurements bounds the measurements kept per metric (Argo keeps 10).
const keepMeasurements = 10

// New starts a run of the templates' metrics with the given arguments:
// `{{args.NAME}}` in provider fields is replaced by the argument's value.
// Arguments without a value and no default are an error, as in Argo.
func New(specs []*rolloutsv1alpha1.AnalysisTemplateSpec, args map[string]string, now time.Time) (*Run, error) {
	values := map[string]string{}
	dry := map[string]bool{}
	var metrics []rolloutsv1alpha1.Metric
	for _, s := range specs {
		for _, a := range s.Args {
			if v, ok := args[a.Name]; ok {
				values[a.Name] = v
			} else if a.Value != nil {
				values[a.Name] = *a.Value
			} else if _, ok := values[a.Name]; !ok {
				return nil, fmt.Errorf("argument %q has no value", a.Name)
			}
		}
		for _, d := range s.DryRun {
			dry[d.MetricName] = true
		}
		metrics = append(metrics, s.Metrics...)
	}
	r := &Run{Phase: Running, Started: now}
	for _, m := range metrics {
		m = *m.DeepCopy()
		substitute(&m, values)
		r.Metrics = append(r.Metrics, m)
		next := now
		if d, err := duration(m.InitialDelay); err != nil {
			return nil, fmt.Errorf("metric %s: initialDelay: %w", m.Name, err)
		} else {
			next = now.Add(d)
		}
		if _, err := duration(m.Interval); err != nil {
			return nil, fmt.Errorf("metric %s: interval: %w", m.Name, err)
		}
		r.Status = append(r.Status, MetricStatus{Name: m.Name, Phase: Pending, DryRun: dry[m.Name] || dry["*"], next: next})
	}
	if len(r.Metrics) == 0 {
		return nil, fmt.Errorf("the analysis has no metrics")
	}
	return r, nil
}

func substitute(m *rolloutsv1alpha1.Metric, values map[string]string) {
	rep := func(s string) string {
		for k, v := range values {
			s = strings.ReplaceAll(s, "{{args."+k+"}}", v)
			s = strings.ReplaceAll(s, "{{ args."+k+" }}", v)
		}
		return s
	}
	if p := m.Provider.Prometheus; p != nil {
		p.Query, p.Address = rep(p.Query), rep(p.Address)
	}
	for name, cfg := range m.Provider.Plugin {
		m.Provider.Plugin[name] = json.RawMessage(repJSON(string(cfg), values))
	}
	if w := m.Provider.Web; w != nil {
		w.URL, w.Body, w.JSONPath = rep(w.URL), rep(w.Body), rep(w.JSONPath)
		for i := range w.Headers {
			w.Headers[i].Value = rep(w.Headers[i].Value)
		}
	}
	m.SuccessCondition, m.FailureCondition = rep(m.SuccessCondition), rep(m.FailureCondition)
}

// repJSON substitutes arguments inside the JSON of a plugin's
// configuration, escaped as JSON string content so a value with quotes or
// backslashes (a PromQL matcher) keeps the document valid.
func repJSON(doc string, values map[string]string) string {
	for k, v := range values {
		b, _ := json.Marshal(v)
		esc := string(b[1 : len(b)-1])
		doc = strings.ReplaceAll(doc, "{{args."+k+"}}", esc)
		doc = strings.ReplaceAll(doc, "{{ args."+k+" }}", esc)
	}
	return doc
}

func duration(d rolloutsv1alpha1.DurationString) (time.Duration, error) {
	if d == "" {
		return 0, nil
	}
	return d.Duration()
}

// Due lists the metrics to measure now, and when to look again (zero when
// the run is over).
func (r *Run) Due(now time.Time) (due []int, wake time.Time) {
	if r.Phase != Running {
		return nil, time.Time{}
	}
	for i := range r.Status {
		st := &r.Status[i]
		if done(st.Phase) {
			continue
		}
		if !now.Before(st.next) {
			due = append(due, i)
			continue
		}
		if wake.IsZero() || st.next.Before(wake) {
			wake = st.next
		}
	}
	return due, wake
}

func done(p Phase) bool { return p == Successful || p == Failed || p == Error || p == Inconclusive }

// Assessed is a measured value whose provider decided the measurement's
// phase itself, as Argo's metric plugins do (Graylane's judge): the
// metric's conditions are not evaluated. Phase Running means "no verdict
// yet": the measurement is kept but not counted, and taken again after
// the interval.
type Assessed struct {
	Phase   Phase
	Value   string
	Message string
}

// Record adds a measurement of metric i: the value the provider returned
// (an Assessed value brings its own phase), or its error.
func (r *Run) Record(i int, now time.Time, value any, err error) {
	m, st := &r.Metrics[i], &r.Status[i]
	meas := Measurement{At: now}
	if a, ok := value.(Assessed); ok && err == nil {
		meas.Phase, meas.Value, meas.Message = a.Phase, a.Value, a.Message
	} else if err != nil {
		meas.Phase, meas.Message = Error, err.Error()
	} else {
		meas.Value = fmt.Sprint(value)
		meas.Phase, meas.Message = assess(m, value)
	}
	st.Measurements = append(st.Measurements, meas)
	if len(st.Measurements) > keepMeasurements {
		st.Measurements = st.Measurements[len(st.Measurements)-keepMeasurements:]
	}
	// As in Argo, an errored measurement is not counted: it is taken again;
	// neither is one still running.
	if meas.Phase != Error && meas.Phase != Running {
		st.Count++
	}
	switch meas.Phase {
	case Successful:
		st.Successful++
		st.ConsecutiveError = 0
	case Failed:
		st.Failed++
		st.ConsecutiveError = 0
	case Inconclusive:
		st.Inconclusive++
		st.ConsecutiveError = 0
	case Error:
		st.Error++
		st.ConsecutiveError++
	}
	st.Phase, st.Message = metricPhase(m, st)
	interval, _ := duration(m.Interval)
	st.next = now.Add(interval)
	r.Phase, r.Message = runPhase(r)
}

// metricPhase applies the limits.
func metricPhase(m *rolloutsv1alpha1.Metric, st *MetricStatus) (Phase, string) {
	failureLimit := limit(m.FailureLimit, 0)
	if st.Failed > failureLimit {
		// A provider that judged the value itself says why in its message;
		// its value is the evidence, kept in the measurement.
		last := st.Measurements[len(st.Measurements)-1]
		why := "last value " + last.Value
		if last.Phase == Failed && last.Message != "" && m.FailureCondition == "" && m.SuccessCondition == "" {
			why = last.Message
		}
		return Failed, fmt.Sprintf("metric %q assessed Failed: %d failed measurements exceed failureLimit %d (%s)",
			m.Name, st.Failed, failureLimit, why)
	}
	if el := limit(m.ConsecutiveErrorLimit, DefaultConsecutiveErrorLimit); st.ConsecutiveError > el {
		return Error, fmt.Sprintf("metric %q assessed Error: %d consecutive errors exceed consecutiveErrorLimit %d: %s",
			m.Name, st.ConsecutiveError, el, st.Measurements[len(st.Measurements)-1].Message)
	}
	if il := limit(m.InconclusiveLimit, 0); st.Inconclusive > il {
		return Inconclusive, fmt.Sprintf("metric %q assessed Inconclusive: %d inconclusive measurements exceed inconclusiveLimit %d", m.Name, st.Inconclusive, il)
	}
	count := limit(m.Count, 0)
	if m.Count == nil && m.Interval == "" {
		count = 1
	}
	if count > 0 && st.Count >= count {
		return Successful, ""
	}
	return Running, ""
}

func limit(v *intstr.IntOrString, def int) int {
	if v == nil {
		return def
	}
	return v.IntValue()
}

// runPhase: a failed, errored or inconclusive metric (not dry-run) decides
// the run; it succeeds when every metric has.
func runPhase(r *Run) (Phase, string) {
	all := true
	for i, st := range r.Status {
		if st.DryRun {
			continue
		}
		switch st.Phase {
		case Failed, Error, Inconclusive:
			return st.Phase, r.Status[i].Message
		case Successful:
		default:
			all = false
		}
	}
	if all {
		return Successful, ""
	}
	return Running, ""
}

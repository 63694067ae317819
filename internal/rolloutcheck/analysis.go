package rolloutcheck

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// analysisRef checks a Rollout's reference to analysis templates: each
// names a template (the controller's getReferencedAnalysisTemplatesFromRef
// looks it up by name), and each argument has a name (the Rollout CRD).
func analysisRef(a *rollouts.RolloutAnalysis, p *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	var errs field.ErrorList
	if len(a.Templates) == 0 {
		errs = append(errs, field.Required(p.Child("templates"), "at least one AnalysisTemplate (an analysis without metrics ends in Error)"))
	}
	for i, t := range a.Templates {
		if t.TemplateName == "" {
			errs = append(errs, field.Required(p.Child("templates").Index(i).Child("templateName"), "the AnalysisTemplate (or, with clusterScope: true, ClusterAnalysisTemplate) to run"))
		}
	}
	errs = append(errs, args(a.Args, p.Child("args"))...)
	return append(errs, metricRules(a.DryRun, a.MeasurementRetention, p)...)
}

// args checks the arguments a Rollout passes: a name each (Rollout CRD).
func args(as []rollouts.AnalysisRunArgument, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, a := range as {
		if a.Name == "" {
			errs = append(errs, field.Required(p.Index(i).Child("name"), ""))
		}
	}
	return errs
}

// fieldRefArgs follows the end of ValidateRolloutStrategyCanary: an
// argument taken from the Rollout's metadata names a field the downward API
// supports (fieldpath.ExtractFieldPathAsString).
func fieldRefArgs(as []rollouts.AnalysisRunArgument, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, a := range as {
		if a.ValueFrom == nil || a.ValueFrom.FieldRef == nil || !strings.HasPrefix(a.ValueFrom.FieldRef.FieldPath, "metadata") {
			continue
		}
		fp := a.ValueFrom.FieldRef.FieldPath
		if msg := metadataFieldPath(fp); msg != "" {
			errs = append(errs, field.Invalid(p.Index(i).Child("valueFrom", "fieldRef", "fieldPath"), fp, msg))
		}
	}
	return errs
}

// metadataFieldPath says what is wrong with a metadata field path, as
// fieldpath.ExtractFieldPathAsString would refuse it ("" when fine).
func metadataFieldPath(fp string) string {
	const supported = "supported: metadata.name, metadata.namespace, metadata.uid, metadata.labels, metadata.annotations, metadata.labels['KEY'], metadata.annotations['KEY']"
	if strings.HasSuffix(fp, "']") {
		path, key, ok := strings.Cut(strings.TrimSuffix(fp, "']"), "['")
		if ok && path != "" {
			var bad []string
			switch path {
			case "metadata.annotations":
				bad = validation.IsQualifiedName(strings.ToLower(key))
			case "metadata.labels":
				bad = validation.IsQualifiedName(key)
			default:
				return "this field does not take a ['KEY'] subscript; " + supported
			}
			if len(bad) > 0 {
				return "invalid key: " + strings.Join(bad, "; ")
			}
			return ""
		}
	}
	switch fp {
	case "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid":
		return ""
	}
	return "not a Rollout metadata field the downward API reads; " + supported
}

// metricRules follows validateDryRunMetrics and
// validateMeasurementRetentionMetrics: one rule per metric name, and the
// name is a regular expression (GetDryRunMetrics matches it).
func metricRules(dry []rollouts.DryRun, keep []rollouts.MeasurementRetention, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(list string, i int, name string, seen map[string]bool) {
		np := p.Child(list).Index(i).Child("metricName")
		switch {
		case name == "":
			errs = append(errs, field.Required(np, "a metric name, or a regular expression over metric names such as \".*\""))
		case seen[name]:
			errs = append(errs, field.Duplicate(np, name))
		default:
			if _, err := regexp.Compile(name); err != nil {
				errs = append(errs, field.Invalid(np, name, "not a regular expression: "+err.Error()))
			}
		}
		seen[name] = true
	}
	seen := map[string]bool{}
	for i, d := range dry {
		check("dryRun", i, d.MetricName, seen)
	}
	seen = map[string]bool{}
	for i, m := range keep {
		check("measurementRetention", i, m.MetricName, seen)
	}
	return errs
}

// AnalysisTemplate returns what Argo Rollouts v1.8.3 finds invalid in an
// AnalysisTemplate or ClusterAnalysisTemplate spec when it starts a run of
// it: analysisutil.ValidateMetrics and ValidateMetric, the argument rules
// of validateAnalysisMetrics and flattenArgs, and the dry-run and
// measurement-retention rules. Values that use {{args.NAME}} are checked
// once the arguments are known (Argo resolves them first), so not here.
func AnalysisTemplate(spec *rollouts.AnalysisTemplateSpec) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	if len(spec.Metrics) == 0 && len(spec.Templates) == 0 {
		errs = append(errs, field.Required(p.Child("metrics"), "at least one metric (or templates to include)"))
	}
	names := map[string]bool{}
	for i := range spec.Metrics {
		mp := p.Child("metrics").Index(i)
		m := &spec.Metrics[i]
		switch {
		case m.Name == "":
			errs = append(errs, field.Required(mp.Child("name"), ""))
		case names[m.Name]:
			errs = append(errs, field.Duplicate(mp.Child("name"), m.Name))
		}
		names[m.Name] = true
		errs = append(errs, Metric(m, mp)...)
	}
	values := map[string]string{}
	for i, a := range spec.Args {
		ap := p.Child("args").Index(i)
		if a.Name == "" {
			errs = append(errs, field.Required(ap.Child("name"), ""))
		}
		if a.Value != nil && a.ValueFrom != nil {
			errs = append(errs, field.Invalid(ap, a.Name, "give value or valueFrom, not both"))
		}
		if a.Value != nil {
			if v, ok := values[a.Name]; ok && v != *a.Value {
				errs = append(errs, field.Invalid(ap.Child("value"), *a.Value, fmt.Sprintf("argument %q is given twice with different values (%q)", a.Name, v)))
			}
			values[a.Name] = *a.Value
		}
	}
	for i, t := range spec.Templates {
		if t.TemplateName == "" {
			errs = append(errs, field.Required(p.Child("templates").Index(i).Child("templateName"), ""))
		}
	}
	return append(errs, metricRules(spec.DryRun, spec.MeasurementRetention, p)...)
}

// Metric follows analysisutil.ValidateMetric (v1.8.3) for one metric at
// path p: the limits, count against them, an interval when count > 1,
// durations that parse, and exactly one provider.
func Metric(m *rollouts.Metric, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	num := func(name string, v *intstr.IntOrString) (int, bool) {
		n, known, err := intValue(v)
		if err != "" {
			errs = append(errs, field.Invalid(p.Child(name), shown(v), err))
		}
		return n, known
	}
	count, countKnown := num("count", m.Count)
	failure, failureKnown := num("failureLimit", m.FailureLimit)
	success, successKnown := num("consecutiveSuccessLimit", m.ConsecutiveSuccessLimit)
	inconclusive, inconclusiveKnown := num("inconclusiveLimit", m.InconclusiveLimit)
	consecutiveErr, errKnown := num("consecutiveErrorLimit", m.ConsecutiveErrorLimit)
	if len(errs) > 0 {
		return errs
	}
	invalid := func(name string, v *intstr.IntOrString, msg string) {
		errs = append(errs, field.Invalid(p.Child(name), shown(v), msg))
	}
	if successKnown && success < 0 {
		invalid("consecutiveSuccessLimit", m.ConsecutiveSuccessLimit, "must be greater than or equal to 0")
	}
	if failureKnown && failure < -1 {
		invalid("failureLimit", m.FailureLimit, "must be greater than or equal to 0, or -1 to disable it")
	}
	if successKnown && failureKnown && success == 0 && failure == -1 {
		invalid("failureLimit", m.FailureLimit, "failureLimit and consecutiveSuccessLimit cannot both be disabled")
	}
	if inconclusiveKnown && inconclusive < 0 {
		invalid("inconclusiveLimit", m.InconclusiveLimit, "must be greater than or equal to 0")
	}
	if errKnown && m.ConsecutiveErrorLimit != nil && consecutiveErr < 0 {
		invalid("consecutiveErrorLimit", m.ConsecutiveErrorLimit, "must be greater than or equal to 0")
	}
	if countKnown && count > 0 && len(errs) == 0 {
		switch {
		case failureKnown && successKnown && failure >= 0 && count < failure+success:
			invalid("count", m.Count, fmt.Sprintf("must be at least failureLimit + consecutiveSuccessLimit (%d + %d)", failure, success))
		case failureKnown && successKnown && failure < 0 && count < success:
			invalid("count", m.Count, fmt.Sprintf("must be at least consecutiveSuccessLimit (%d)", success))
		}
		if inconclusiveKnown && count < inconclusive {
			invalid("count", m.Count, fmt.Sprintf("must be at least inconclusiveLimit (%d)", inconclusive))
		}
	}
	if countKnown && count > 1 && m.Interval == "" {
		errs = append(errs, field.Required(p.Child("interval"), fmt.Sprintf("count is %d: give the time between measurements", count)))
	}
	for _, d := range []struct {
		name string
		v    rollouts.DurationString
	}{{"interval", m.Interval}, {"initialDelay", m.InitialDelay}} {
		if d.v == "" || hasArgs(string(d.v)) {
			continue
		}
		if _, err := d.v.Duration(); err != nil {
			errs = append(errs, field.Invalid(p.Child(d.name), string(d.v), "must be a duration such as 30s, 5m or 1h"))
		}
	}
	switch n := len(providers(&m.Provider)); {
	case n == 0:
		errs = append(errs, field.Required(p.Child("provider"), "one metric provider (prometheus, web, job, ...)"))
	case n > 1:
		errs = append(errs, field.Invalid(p.Child("provider"), strings.Join(providers(&m.Provider), ", "), "give exactly one metric provider"))
	}
	return errs
}

// intValue reads a count or limit as IntOrString.IntValue does after Argo
// resolved the arguments: nil is 0 (known), "{{args.x}}" is not known yet,
// and a string that is no integer is an error (Argo would read it as 0).
func intValue(v *intstr.IntOrString) (n int, known bool, err string) {
	switch {
	case v == nil:
		return 0, true, ""
	case v.Type == intstr.Int:
		return int(v.IntVal), true, ""
	case hasArgs(v.StrVal):
		return 0, false, ""
	}
	n, e := strconv.Atoi(v.StrVal)
	if e != nil {
		return 0, false, "must be an integer or {{args.NAME}}"
	}
	return n, true, ""
}

// shown is an IntOrString as field errors print it: a number, or a quoted
// string.
func shown(v *intstr.IntOrString) any {
	if v.Type == intstr.Int {
		return v.IntVal
	}
	return v.StrVal
}

func hasArgs(s string) bool { return strings.Contains(s, "{{") }

// providers names the providers a metric sets (ValidateMetric counts them;
// each plugin counts as one).
func providers(p *rollouts.MetricProvider) []string {
	var out []string
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"prometheus", p.Prometheus != nil}, {"job", p.Job != nil}, {"web", p.Web != nil}, {"wavefront", p.Wavefront != nil},
		{"kayenta", p.Kayenta != nil}, {"datadog", p.Datadog != nil}, {"newRelic", p.NewRelic != nil},
		{"cloudWatch", p.CloudWatch != nil}, {"graphite", p.Graphite != nil}, {"influxdb", p.Influxdb != nil},
		{"skywalking", p.SkyWalking != nil},
	} {
		if k.set {
			out = append(out, k.name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Plugin)) {
		out = append(out, "plugin "+name)
	}
	return out
}

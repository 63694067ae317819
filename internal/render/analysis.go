package render

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/judge"
)

// Arguments of the AnalysisTemplates. Each Rollout passes service (and
// url); the thresholds default to the Release's values.
const (
	ArgService        = "service"
	ArgURL            = "url"
	ArgMinSuccessRate = "min-success-rate"
	ArgMaxP99         = "max-p99-ms"
	ArgMinRate        = "min-rps"
	ArgCanaryVersion  = "canary-version"
)

// AnalysisJudge is the analysis of converted services with one Deployment
// per version: the Graylane judge (docs/judge.md), AnalysisTemplate
// NAME-judge.
const AnalysisJudge = "judge"

// VersionLabel is the pod label that tells the versions of a service
// apart; Istio reports it as destination_version.
const VersionLabel = "version"

// canaryVersionPath is where Argo Rollouts reads the canary's version for
// the judge: the version label of the Rollout's pod template (Argo
// resolves fieldRef paths outside metadata on the Rollout object).
const canaryVersionPath = "spec.template.metadata.labels." + VersionLabel

// TemplateName is the AnalysisTemplate of an analysis of a release.
func TemplateName(release, analysis string) string { return release + "-" + analysis }

// Queries on Istio's standard metrics as reported by the callers' sidecars
// (reporter="source"), for the Service whose FQDN is args.service: the
// callers' Service, so stable and canary together (Istio's metrics carry no
// subset). The web probe of the services layout reaches the canary alone.
const (
	successRateQuery = `sum(rate(istio_requests_total{reporter="source",destination_service="{{args.service}}",response_code!~"5.*"}[%[1]s])) / sum(rate(istio_requests_total{reporter="source",destination_service="{{args.service}}"}[%[1]s]))`
	latencyQuery     = `histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="source",destination_service="{{args.service}}"}[%[1]s])))`
	requestRateQuery = `sum(rate(istio_requests_total{reporter="source",destination_service="{{args.service}}"}[%[1]s]))`
)

// analysisTemplates returns one AnalysisTemplate per configured analysis.
// No traffic (an empty or NaN result) passes success rate and latency;
// request-rate is the check that there is traffic.
func analysisTemplates(release, ns string, a *v1alpha1.Analysis) []Object {
	var out []Object
	add := func(name string, args []rollouts.Argument, m rollouts.Metric) {
		m.Name = name
		m.Interval = rollouts.DurationString(a.Interval)
		count := intstr.FromInt32(*a.Count)
		m.Count = &count
		limit := intstr.FromInt32(*a.FailureLimit)
		m.FailureLimit = &limit
		t := &rollouts.AnalysisTemplate{
			TypeMeta:   metav1.TypeMeta{APIVersion: rolloutsAPIVersion, Kind: "AnalysisTemplate"},
			ObjectMeta: objectMeta(TemplateName(release, name), ns, map[string]string{ManagedBy: "graylane"}),
			Spec: rollouts.AnalysisTemplateSpec{
				Args:    append([]rollouts.Argument{{Name: ArgService}}, args...),
				Metrics: []rollouts.Metric{m},
			},
		}
		out = append(out, Object{rolloutsAPIVersion, "AnalysisTemplate", ns, t.Name, t})
	}
	prom := func(query string) rollouts.MetricProvider {
		return rollouts.MetricProvider{Prometheus: &rollouts.PrometheusMetric{Address: a.Prometheus, Query: fmt.Sprintf(query, a.Window)}}
	}
	if s := a.SuccessRate; s != nil {
		add(v1alpha1.AnalysisSuccessRate, []rollouts.Argument{{Name: ArgMinSuccessRate, Value: &s.Min}}, rollouts.Metric{
			SuccessCondition: "len(result) == 0 || isNaN(result[0]) || result[0] >= {{args." + ArgMinSuccessRate + "}}",
			Provider:         prom(successRateQuery),
		})
	}
	if l := a.Latency; l != nil {
		ms := strconv.Itoa(int(l.MaxP99Milliseconds))
		add(v1alpha1.AnalysisLatency, []rollouts.Argument{{Name: ArgMaxP99, Value: &ms}}, rollouts.Metric{
			SuccessCondition: "len(result) == 0 || isNaN(result[0]) || result[0] <= {{args." + ArgMaxP99 + "}}",
			Provider:         prom(latencyQuery),
		})
	}
	if r := a.RequestRate; r != nil {
		add(v1alpha1.AnalysisRequestRate, []rollouts.Argument{{Name: ArgMinRate, Value: &r.Min}}, rollouts.Metric{
			SuccessCondition: "len(result) > 0 && result[0] >= {{args." + ArgMinRate + "}}",
			Provider:         prom(requestRateQuery),
		})
	}
	if w := a.Web; w != nil {
		add(v1alpha1.AnalysisWeb, []rollouts.Argument{{Name: ArgURL}}, rollouts.Metric{
			SuccessCondition: "result == " + strconv.Quote(w.Expect),
			Provider:         rollouts.MetricProvider{Web: &rollouts.WebMetric{URL: "{{args." + ArgURL + "}}", JSONPath: w.JSONPath, TimeoutSeconds: 10}},
		})
	}
	return out
}

// judgeTemplate is the AnalysisTemplate of the judge: over the same window
// of Istio's standard metrics (reporter="destination"), the requests the
// callers' Service (args.service, its FQDN) served from pods of the canary
// version (args.canary-version) against those served by every other version
// (the stable). It runs all along the canary, every second; a Failed verdict
// aborts it (failureLimit 0), an Inconclusive one (too little traffic for
// 5 minutes) pauses it, as Argo Rollouts does.
func judgeTemplate(release, ns string, a *v1alpha1.Analysis) Object {
	sel := `destination_service="{{args.` + ArgService + `}}",destination_version%s"{{args.` + ArgCanaryVersion + `}}"`
	// A struct of strings always marshals.
	cfg, _ := json.Marshal(judge.PluginConfig{Address: a.Prometheus, Canary: fmt.Sprintf(sel, "="), Stable: fmt.Sprintf(sel, "!=")})
	t := &rollouts.AnalysisTemplate{
		TypeMeta:   metav1.TypeMeta{APIVersion: rolloutsAPIVersion, Kind: "AnalysisTemplate"},
		ObjectMeta: objectMeta(TemplateName(release, AnalysisJudge), ns, map[string]string{ManagedBy: "graylane"}),
		Spec: rollouts.AnalysisTemplateSpec{
			Args: []rollouts.Argument{{Name: ArgService}, {Name: ArgCanaryVersion}},
			Metrics: []rollouts.Metric{{
				Name:     AnalysisJudge,
				Interval: "1s",
				Provider: rollouts.MetricProvider{Plugin: map[string]json.RawMessage{judge.PluginName: cfg}},
			}},
		},
	}
	return Object{rolloutsAPIVersion, "AnalysisTemplate", ns, t.Name, t}
}

// backgroundAnalyses are the analyses a Rollout runs next to its steps:
// the spec's (unless background is off) and the judge where versions are
// labelled.
func backgroundAnalyses(spec *v1alpha1.ReleaseSpec, u *unit) []string {
	var names []string
	if a := spec.Analysis; a != nil && a.IsBackground() {
		names = a.Enabled()
	}
	if u.judge && spec.Analysis != nil {
		names = append(names, AnalysisJudge)
	}
	return names
}

// analysisRef is a Rollout's use of the named analyses with the service's
// arguments (Argo Rollouts ignores arguments a template does not declare).
func analysisRef(release string, names []string, u *unit, spec *v1alpha1.ReleaseSpec) rollouts.RolloutAnalysis {
	var ra rollouts.RolloutAnalysis
	web := false
	for _, n := range names {
		ra.Templates = append(ra.Templates, rollouts.AnalysisTemplateRef{TemplateName: TemplateName(release, n)})
		web = web || n == v1alpha1.AnalysisWeb
	}
	fqdn := func(host string) string { return host + "." + u.namespace + ".svc.cluster.local" }
	ra.Args = []rollouts.AnalysisRunArgument{{Name: ArgService, Value: fqdn(u.host())}}
	if slices.Contains(names, AnalysisJudge) {
		ra.Args = append(ra.Args, rollouts.AnalysisRunArgument{Name: ArgCanaryVersion,
			ValueFrom: &rollouts.ArgumentValueFrom{FieldRef: &rollouts.FieldRef{FieldPath: canaryVersionPath}}})
	}
	if web {
		probe := u.host()
		if spec.Layout == v1alpha1.LayoutServices {
			probe = canaryName(u.name)
		}
		url := "http://" + fqdn(probe)
		if len(u.ports) > 0 {
			url += ":" + strconv.Itoa(int(u.ports[0].Port))
		}
		ra.Args = append(ra.Args, rollouts.AnalysisRunArgument{Name: ArgURL, Value: url + spec.Analysis.Web.Path})
	}
	return ra
}

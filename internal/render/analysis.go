package render

import (
	"fmt"
	"strconv"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/graylane/graylane/api/v1alpha1"
)

// Arguments of the AnalysisTemplates. Each Rollout passes service (and
// url); the thresholds default to the Release's values.
const (
	ArgService        = "service"
	ArgURL            = "url"
	ArgMinSuccessRate = "min-success-rate"
	ArgMaxP99         = "max-p99-ms"
	ArgMinRate        = "min-rps"
)

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

package rolloutcheck

import (
	"encoding/json"
	"testing"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// template is a valid AnalysisTemplate spec: a Prometheus success rate
// taken every minute, five times.
const template = `
args: [{name: service}, {name: namespace, value: default}]
metrics:
- name: success-rate
  interval: 1m
  initialDelay: 30s
  count: 5
  failureLimit: 1
  successCondition: result[0] >= 0.95
  provider:
    prometheus:
      query: sum(rate(istio_requests_total{destination_service_name="{{args.service}}",response_code!~"5.*"}[1m]))
- name: probe
  provider: {web: {url: "http://{{args.service}}.{{args.namespace}}/healthz"}}
`

func parseTemplate(t *testing.T, doc string) *rollouts.AnalysisTemplateSpec {
	t.Helper()
	var s rollouts.AnalysisTemplateSpec
	if err := yaml.UnmarshalStrict([]byte(doc), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func str(s string) *string { return &s }

// TestAnalysisTemplate has, for every rule of ValidateMetrics,
// ValidateMetric and the argument and dry-run rules, a template that keeps
// it and one that breaks it.
func TestAnalysisTemplate(t *testing.T) {
	metric := func(s *rollouts.AnalysisTemplateSpec) *rollouts.Metric { return &s.Metrics[0] }
	is := func(v intstr.IntOrString) *intstr.IntOrString { return &v }
	tests := []struct {
		name   string
		change func(s *rollouts.AnalysisTemplateSpec)
		want   []string
	}{
		{"valid", func(*rollouts.AnalysisTemplateSpec) {}, nil},
		{"only included templates", func(s *rollouts.AnalysisTemplateSpec) {
			s.Metrics, s.Templates = nil, []rollouts.AnalysisTemplateRef{{TemplateName: "a"}, {TemplateName: "b", ClusterScope: true}}
		}, nil},
		{"no metrics", func(s *rollouts.AnalysisTemplateSpec) { s.Metrics = nil },
			[]string{"spec.metrics: Required value: at least one metric (or templates to include)"}},
		{"included template without name", func(s *rollouts.AnalysisTemplateSpec) { s.Templates = []rollouts.AnalysisTemplateRef{{}} },
			[]string{"spec.templates[0].templateName: Required value"}},
		{"two metrics with one name", func(s *rollouts.AnalysisTemplateSpec) { s.Metrics[1].Name = "success-rate" },
			[]string{`spec.metrics[1].name: Duplicate value: "success-rate"`}},
		{"metric without name", func(s *rollouts.AnalysisTemplateSpec) { s.Metrics[1].Name = "" },
			[]string{"spec.metrics[1].name: Required value"}},
		{"count above 1 without interval", func(s *rollouts.AnalysisTemplateSpec) { metric(s).Interval = "" },
			[]string{"spec.metrics[0].interval: Required value: count is 5: give the time between measurements"}},
		{"interval without count (measures until stopped)", func(s *rollouts.AnalysisTemplateSpec) { metric(s).Count = nil }, nil},
		{"durations that do not parse", func(s *rollouts.AnalysisTemplateSpec) { metric(s).Interval, metric(s).InitialDelay = "1 minute", "5" },
			[]string{`spec.metrics[0].interval: Invalid value: "1 minute": must be a duration such as 30s, 5m or 1h`,
				`spec.metrics[0].initialDelay: Invalid value: "5": must be a duration such as 30s, 5m or 1h`}},
		{"durations and counts from arguments", func(s *rollouts.AnalysisTemplateSpec) {
			metric(s).Interval, metric(s).Count, metric(s).FailureLimit = "{{args.interval}}", is(intstr.FromString("{{args.count}}")), is(intstr.FromString("{{ args.failures }}"))
		}, nil},
		{"count as a string", func(s *rollouts.AnalysisTemplateSpec) { metric(s).Count = is(intstr.FromString("5")) }, nil},
		{"count that is no number", func(s *rollouts.AnalysisTemplateSpec) { metric(s).Count = is(intstr.FromString("five")) },
			[]string{`spec.metrics[0].count: Invalid value: "five": must be an integer or {{args.NAME}}`}},
		{"failureLimit -1 with consecutiveSuccessLimit", func(s *rollouts.AnalysisTemplateSpec) {
			metric(s).FailureLimit, metric(s).ConsecutiveSuccessLimit = is(intstr.FromInt32(-1)), is(intstr.FromInt32(3))
		}, nil},
		{"failureLimit below -1", func(s *rollouts.AnalysisTemplateSpec) { metric(s).FailureLimit = is(intstr.FromInt32(-2)) },
			[]string{"spec.metrics[0].failureLimit: Invalid value: -2: must be greater than or equal to 0, or -1 to disable it"}},
		{"failureLimit and consecutiveSuccessLimit disabled", func(s *rollouts.AnalysisTemplateSpec) { metric(s).FailureLimit = is(intstr.FromInt32(-1)) },
			[]string{"spec.metrics[0].failureLimit: Invalid value: -1: failureLimit and consecutiveSuccessLimit cannot both be disabled"}},
		{"negative limits", func(s *rollouts.AnalysisTemplateSpec) {
			metric(s).ConsecutiveSuccessLimit, metric(s).InconclusiveLimit, metric(s).ConsecutiveErrorLimit = is(intstr.FromInt32(-1)), is(intstr.FromInt32(-1)), is(intstr.FromInt32(-1))
		}, []string{"spec.metrics[0].consecutiveSuccessLimit: Invalid value: -1: must be greater than or equal to 0",
			"spec.metrics[0].inconclusiveLimit: Invalid value: -1: must be greater than or equal to 0",
			"spec.metrics[0].consecutiveErrorLimit: Invalid value: -1: must be greater than or equal to 0"}},
		{"count below failureLimit + consecutiveSuccessLimit", func(s *rollouts.AnalysisTemplateSpec) {
			metric(s).FailureLimit, metric(s).ConsecutiveSuccessLimit = is(intstr.FromInt32(3)), is(intstr.FromInt32(3))
		}, []string{"spec.metrics[0].count: Invalid value: 5: must be at least failureLimit + consecutiveSuccessLimit (3 + 3)"}},
		{"count below consecutiveSuccessLimit with failureLimit disabled", func(s *rollouts.AnalysisTemplateSpec) {
			metric(s).FailureLimit, metric(s).ConsecutiveSuccessLimit = is(intstr.FromInt32(-1)), is(intstr.FromInt32(6))
		}, []string{"spec.metrics[0].count: Invalid value: 5: must be at least consecutiveSuccessLimit (6)"}},
		{"count below inconclusiveLimit", func(s *rollouts.AnalysisTemplateSpec) { metric(s).InconclusiveLimit = is(intstr.FromInt32(6)) },
			[]string{"spec.metrics[0].count: Invalid value: 5: must be at least inconclusiveLimit (6)"}},
		{"no provider", func(s *rollouts.AnalysisTemplateSpec) { s.Metrics[1].Provider = rollouts.MetricProvider{} },
			[]string{"spec.metrics[1].provider: Required value: one metric provider (prometheus, web, job, ...)"}},
		{"two providers", func(s *rollouts.AnalysisTemplateSpec) {
			s.Metrics[1].Provider.Prometheus = &rollouts.PrometheusMetric{Query: "up"}
		},
			[]string{`spec.metrics[1].provider: Invalid value: "prometheus, web": give exactly one metric provider`}},
		{"a plugin provider", func(s *rollouts.AnalysisTemplateSpec) {
			s.Metrics[1].Provider = rollouts.MetricProvider{Plugin: map[string]json.RawMessage{"graylane.io/judge": json.RawMessage(`{}`)}}
		}, nil},
		{"argument with value and valueFrom", func(s *rollouts.AnalysisTemplateSpec) {
			s.Args[1].ValueFrom = &rollouts.ValueFrom{SecretKeyRef: &rollouts.SecretKeyRef{Name: "s", Key: "k"}}
		}, []string{`spec.args[1]: Invalid value: "namespace": give value or valueFrom, not both`}},
		{"argument twice", func(s *rollouts.AnalysisTemplateSpec) {
			s.Args = append(s.Args, rollouts.Argument{Name: "namespace", Value: str("default")}, rollouts.Argument{Name: "namespace", Value: str("shop")})
		}, []string{`spec.args[3].value: Invalid value: "shop": argument "namespace" is given twice with different values ("default")`}},
		{"argument without name", func(s *rollouts.AnalysisTemplateSpec) { s.Args[0].Name = "" },
			[]string{"spec.args[0].name: Required value"}},
		{"dryRun rule twice", func(s *rollouts.AnalysisTemplateSpec) {
			s.DryRun = []rollouts.DryRun{{MetricName: "probe"}, {MetricName: "probe"}}
		}, []string{`spec.dryRun[1].metricName: Duplicate value: "probe"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := parseTemplate(t, template)
			tc.change(s)
			if diff := cmp.Diff(tc.want, texts(AnalysisTemplate(s))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestRun checks the run an analysis use starts from its templates.
func TestRun(t *testing.T) {
	rate := Template{Ref: "AnalysisTemplate shop/success-rate", Spec: nil}
	latency := Template{Ref: "ClusterAnalysisTemplate latency", Spec: nil}
	tests := []struct {
		name       string
		rate       string // the success-rate template
		latency    string // a second template ("" for none)
		background bool
		args       []rollouts.AnalysisRunArgument
		want       []string
	}{
		{"valid", template, "", false, []rollouts.AnalysisRunArgument{{Name: "service", Value: "order"}}, nil},
		{"argument from the Rollout's metadata", template, "", false,
			[]rollouts.AnalysisRunArgument{{Name: "service", ValueFrom: &rollouts.ArgumentValueFrom{FieldRef: &rollouts.FieldRef{FieldPath: "metadata.name"}}}}, nil},
		{"argument not given", template, "", false, nil,
			[]string{`argument "service" has no value: give it in spec.strategy.canary.steps[1].analysis.args`}},
		{"two templates with one metric name", template, "metrics: [{name: probe, provider: {web: {url: http://x/}}}]", false,
			[]rollouts.AnalysisRunArgument{{Name: "service", Value: "order"}},
			[]string{`AnalysisTemplate shop/success-rate and ClusterAnalysisTemplate latency both have a metric named "probe": one run cannot hold both`}},
		{"two values for one argument", template, "args: [{name: namespace, value: shop}]\nmetrics: [{name: p99, provider: {web: {url: http://x/}}}]", false,
			[]rollouts.AnalysisRunArgument{{Name: "service", Value: "order"}},
			[]string{`argument "namespace" has two values in the templates: "default" and "shop" (ClusterAnalysisTemplate latency)`}},
		{"a tag no argument provides", "metrics: [{name: m, provider: {web: {url: 'http://{{args.host}}/{{workflow.name}}'}}}]", "", false, nil,
			[]string{`AnalysisTemplate shop/success-rate: metric "m" uses {{args.host}}, which no argument of the templates provides: the run ends in Error`,
				`AnalysisTemplate shop/success-rate: metric "m" uses {{workflow.name}}, which no argument of the templates provides: the run ends in Error`}},
		{"a metric that measures forever in a step", "metrics: [{name: m, interval: 1m, provider: {web: {url: http://x/}}}]", "", false, nil,
			[]string{`AnalysisTemplate shop/success-rate: metric "m" has an interval and no count: it measures forever, so this analysis never completes (only a background analysis may)`}},
		{"a metric that measures forever in the background", "metrics: [{name: m, interval: 1m, provider: {web: {url: http://x/}}}]", "", true, nil, nil},
		{"count from an argument", "args: [{name: samples}]\nmetrics: [{name: m, interval: 1m, count: '{{args.samples}}', failureLimit: 3, provider: {web: {url: http://x/}}}]", "", false,
			[]rollouts.AnalysisRunArgument{{Name: "samples", Value: "5"}}, nil},
		{"count from an argument, too small for failureLimit", "args: [{name: samples}]\nmetrics: [{name: m, interval: 1m, count: '{{args.samples}}', failureLimit: 3, provider: {web: {url: http://x/}}}]", "", false,
			[]rollouts.AnalysisRunArgument{{Name: "samples", Value: "2"}},
			[]string{`AnalysisTemplate shop/success-rate: metrics[0].count with the Rollout's arguments: Invalid value: 2: must be at least failureLimit + consecutiveSuccessLimit (3 + 0)`}},
		{"interval from an argument that does not parse", "args: [{name: every, value: often}]\nmetrics: [{name: m, interval: '{{args.every}}', count: 2, provider: {web: {url: http://x/}}}]", "", false, nil,
			[]string{`AnalysisTemplate shop/success-rate: metrics[0].interval with the Rollout's arguments: Invalid value: "often": must be a duration such as 30s, 5m or 1h`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rate
			r.Spec = parseTemplate(t, tc.rate)
			ts := []Template{r}
			if tc.latency != "" {
				l := latency
				l.Spec = parseTemplate(t, tc.latency)
				ts = append(ts, l)
			}
			use := AnalysisUse{Path: "spec.strategy.canary.steps[1].analysis", Background: tc.background, Analysis: &rollouts.RolloutAnalysis{Args: tc.args}}
			if diff := cmp.Diff(tc.want, Run(use, ts)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnalyses(t *testing.T) {
	ro := parseRollout(t, base)
	var got []string
	for _, u := range Analyses(ro) {
		got = append(got, u.Path+" "+u.Analysis.Templates[0].TemplateName)
		if u.Background != (u.Path == "spec.strategy.canary.analysis") {
			t.Errorf("%s: background %v", u.Path, u.Background)
		}
	}
	want := []string{"spec.strategy.canary.steps[4].analysis success-rate", "spec.strategy.canary.analysis success-rate"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	bg := parseRollout(t, `
spec:
  strategy:
    blueGreen:
      activeService: a
      prePromotionAnalysis: {templates: [{templateName: smoke}]}
      postPromotionAnalysis: {templates: [{templateName: load}]}
`)
	got = nil
	for _, u := range Analyses(bg) {
		got = append(got, u.Path+" "+u.Analysis.Templates[0].TemplateName)
	}
	want = []string{"spec.strategy.blueGreen.prePromotionAnalysis smoke", "spec.strategy.blueGreen.postPromotionAnalysis load"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("blue-green (-want +got):\n%s", diff)
	}
}

package judge

// The judge's configuration as an Argo Rollouts metric plugin: what an
// AnalysisTemplate carries (written by render, read by measure).

// PluginName is the name of Graylane's judge under an AnalysisTemplate
// metric's provider.plugin.
const PluginName = "graylane.io/judge"

// DefaultErrorCodes are the response codes the judge counts as errors.
const DefaultErrorCodes = "5.."

// PluginConfig is the configuration of the graylane.io/judge plugin: where
// the Istio metrics are, which series are the canary and which the stable,
// and how to judge (Config's fields, at the same level).
type PluginConfig struct {
	// Address of the Prometheus to query; empty: the embedded one.
	Address string `json:"address,omitempty"`
	// Canary and Stable select each side's series of istio_requests_total
	// and istio_request_duration_milliseconds_bucket, as PromQL label
	// matchers: `destination_service_name="order",destination_version="v2"`.
	// reporter="destination" is added unless they name a reporter.
	Canary string `json:"canary"`
	Stable string `json:"stable"`
	// ErrorCodes is a regular expression (full match) on response_code for
	// the requests that count as errors. Default "5..".
	ErrorCodes string `json:"errorCodes,omitempty"`
	Config
}

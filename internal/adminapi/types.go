package adminapi

import (
	"time"

	"github.com/graylane/graylane/internal/analysis"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/plan"
)

// PodStatus describes one replica (GET /v1/workloads, the answer of POST
// /v1/workloads/{ns}/{name}/kill).
type PodStatus struct {
	Name      string            `json:"name"`
	Workload  string            `json:"workload"` // "Deployment ns/name" or "Rollout ns/name"
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
	Address   string            `json:"address"` // where the replica's process listens
	Sidecar   string            `json:"sidecar"` // the replica's inbound sidecar
	State     string            `json:"state"`
	Ready     bool              `json:"ready"`
	Restarts  int32             `json:"restarts"`
	PID       int64             `json:"pid"`
	// SharedProcess: the replica runs in the sample host, whose PID is
	// every hosted replica's; end the replica alone with KillReplica.
	SharedProcess bool   `json:"sharedProcess,omitempty"`
	LastError     string `json:"lastError,omitempty"`
	Log           string `json:"log"` // the replica's log file
}

// ServiceStatus describes a Service and its ready endpoints (GET
// /v1/services).
type ServiceStatus struct {
	Host      string   `json:"host"`
	Ports     []int32  `json:"ports"`
	Endpoints []string `json:"endpoints"` // "POD=ADDRESS" of each ready replica
}

// ApplyResult says what an apply changed, like kubectl apply's output
// (POST /apply).
type ApplyResult struct {
	Created    []string `json:"created,omitempty"`
	Configured []string `json:"configured,omitempty"`
	Unchanged  []string `json:"unchanged,omitempty"`
	// Ignored has one located warning per document the runtime does not run.
	Ignored  []string `json:"ignored,omitempty"`
	Findings []string `json:"findings,omitempty"`
}

// DeleteResult names the object a delete removed (DELETE
// /v1/serviceentries/{ns}/{name}), e.g. "ServiceEntry default/nacos-pg".
type DeleteResult struct {
	Deleted string `json:"deleted"`
}

// RolloutStatus is a Rollout in Argo's terms (GET /v1/rollouts), what
// `graylane rollout get` shows.
type RolloutStatus struct {
	Name          string           `json:"name"`
	Namespace     string           `json:"namespace"`
	Phase         plan.Phase       `json:"phase"`
	Message       string           `json:"message,omitempty"`
	Step          int              `json:"currentStepIndex"`
	Steps         int              `json:"steps"`
	CanaryWeight  int32            `json:"canaryWeight"`
	SetWeight     int32            `json:"setWeight"`
	StableHash    string           `json:"stableHash"`
	CanaryHash    string           `json:"canaryHash"`
	Stable        Replicas         `json:"stable"`
	Canary        Replicas         `json:"canary"`
	Aborted       bool             `json:"aborted"`
	Paused        bool             `json:"paused"`
	HeaderRoutes  []string         `json:"headerRoutes,omitempty"`
	TrafficRouted bool             `json:"trafficRouting"`
	Analysis      []AnalysisStatus `json:"analysis,omitempty"`
	// CanaryConfig is the Rollout's canary configuration (a Release
	// service's canaryConfig) and whether it was published; nil without one.
	CanaryConfig *CanaryConfigStatus `json:"canaryConfig,omitempty"`
}

// CanaryConfigStatus is what happened to a Rollout's canary-only
// properties (docs/nacos.md, "Canary configuration").
type CanaryConfigStatus struct {
	// Service is the lane member (lanes only).
	Service string `json:"service,omitempty"`
	// Properties are the Spring property names.
	Properties []string `json:"properties"`
	// DataID, Group and Namespace name the Nacos configuration they are
	// published to; DataID "" when there is none (environment only).
	DataID    string `json:"dataId,omitempty"`
	Group     string `json:"group,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// State is Pending (not fully promoted or aborted yet), Published,
	// NotPublished (aborted), Failed (tried again) or NoNacos (the runtime
	// has no Nacos to publish to), for the Rollout's current template.
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
}

// Replicas counts desired and ready pods.
type Replicas struct {
	Desired int32 `json:"desired"`
	Ready   int32 `json:"ready"`
}

// AnalysisStatus is one analysis run of a Rollout or a lane, with its
// measurements (the judge's evidence).
type AnalysisStatus struct {
	Kind    string                  `json:"kind"` // step or background
	Step    int                     `json:"step,omitempty"`
	Member  string                  `json:"member,omitempty"` // lanes: the member service judged
	Phase   analysis.Phase          `json:"phase"`
	Message string                  `json:"message,omitempty"`
	Metrics []analysis.MetricStatus `json:"metrics,omitempty"`
}

// LaneStatus is a lane (GET /v1/lanes), what `graylane lane get` shows.
type LaneStatus struct {
	Name      string           `json:"name"`
	Namespace string           `json:"namespace"`
	Phase     lane.Phase       `json:"phase"`
	Weight    int32            `json:"weight"`
	Plan      *LanePlanStatus  `json:"plan,omitempty"` // nil: the lane has no plan
	Members   []lane.Member    `json:"members"`
	Analysis  []AnalysisStatus `json:"analysis,omitempty"`
	Fallback  string           `json:"fallback"`
	Modes     []string         `json:"propagation"`
	// CanaryConfig is each member's canary configuration (a member's
	// canaryConfig) and whether it was published.
	CanaryConfig []CanaryConfigStatus `json:"canaryConfig,omitempty"`
}

// LanePlanStatus is the step machine's view of a lane with a plan.
type LanePlanStatus struct {
	Phase   plan.Phase `json:"phase"`
	Message string     `json:"message,omitempty"`
	Step    int        `json:"currentStepIndex"`
	Steps   int        `json:"steps"`
	Aborted bool       `json:"aborted"`
}

// GateStatus is a gate that a lane's spec.entry.whitelist.gate names, as
// the runtime follows it (GET /v1/gates): lane entry reads the whitelist of
// the gate's last snapshot, refreshed in the background.
type GateStatus struct {
	Gate    string `json:"gate"`    // the gate's URL
	Loaded  bool   `json:"loaded"`  // a snapshot has arrived
	Version int64  `json:"version"` // the gate's change counter at that snapshot
	Entries int    `json:"entries"`
	// Stale: the last refresh failed, lane entry uses the last-known
	// whitelist (none before the first snapshot: it admits nobody).
	Stale bool   `json:"stale"`
	Error string `json:"error,omitempty"`
	// Failures counts the refreshes that failed in a row.
	Failures int `json:"failures"`
	// Since is when the current state (fresh or stale) began.
	Since time.Time `json:"since"`
}

// Addresses are where the runtime serves (GET /v1/addresses), as host:port.
type Addresses struct {
	Gateway string `json:"gateway,omitempty"` // Gateway servers on port 80; "" when no Gateway has one
	Admin   string `json:"admin"`
	Client  string `json:"clientProxy,omitempty"` // the client proxy; "" when off
	// Nacos and NacosGRPC are the local Nacos server's HTTP and gRPC
	// addresses (graylane up --nacos); "" when off.
	Nacos     string `json:"nacos,omitempty"`
	NacosGRPC string `json:"nacosGrpc,omitempty"`
	// NotReady names the workloads ("Deployment ns/name") with replicas
	// that are not ready yet.
	NotReady []string `json:"notReady,omitempty"`
}

// CommandResult is the answer to a command on a Rollout or a lane: the
// command and what it did.
type CommandResult struct {
	Accepted plan.Command `json:"accepted"`
	Message  string       `json:"message"`
}

// SetImageResult is the answer to a set-image: the image and what the
// runtime did.
type SetImageResult struct {
	Image   string `json:"image"`
	Message string `json:"message"`
}

// ErrorBody is the JSON body of every error answer of the JSON endpoints.
type ErrorBody struct {
	Error string `json:"error"`
}

// Readiness is the answer of GET /readyz.
type Readiness struct {
	Ready bool
	// NotReady are the lines of a 503 answer: one per replica that is not
	// ready, with its state and last error.
	NotReady []string
}

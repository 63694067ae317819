package render

import (
	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/rollouttraffic"
)

// Application mirrors the fields Graylane writes of Argo CD's
// argoproj.io/v1alpha1 Application. Argo CD's own Go module
// (github.com/argoproj/argo-cd/v2) requires k8s.io/kubernetes, so it is not
// imported; the JSON names below were checked against
// manifests/crds/application-crd.yaml of github.com/argoproj/argo-cd/v2
// v2.14.21 (spec.source, spec.destination, spec.project, spec.syncPolicy,
// spec.ignoreDifferences).
type Application struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ApplicationSpec `json:"spec"`
}

// ApplicationSpec is spec of an Application (destination and project are
// required by the CRD).
type ApplicationSpec struct {
	Source            *ApplicationSource          `json:"source,omitempty"`
	Destination       ApplicationDestination      `json:"destination"`
	Project           string                      `json:"project"`
	SyncPolicy        *SyncPolicy                 `json:"syncPolicy,omitempty"`
	IgnoreDifferences []ResourceIgnoreDifferences `json:"ignoreDifferences,omitempty"`
}

// ApplicationSource is spec.source: a folder of a Git repository.
type ApplicationSource struct {
	RepoURL        string `json:"repoURL"`
	Path           string `json:"path,omitempty"`
	TargetRevision string `json:"targetRevision,omitempty"`
}

// ApplicationDestination is spec.destination: cluster and namespace.
type ApplicationDestination struct {
	Server    string `json:"server,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

// SyncPolicy is spec.syncPolicy.
type SyncPolicy struct {
	Automated   *SyncPolicyAutomated `json:"automated,omitempty"`
	SyncOptions []string             `json:"syncOptions,omitempty"`
}

// SyncPolicyAutomated is spec.syncPolicy.automated.
type SyncPolicyAutomated struct {
	Prune    bool `json:"prune,omitempty"`
	SelfHeal bool `json:"selfHeal,omitempty"`
}

// ResourceIgnoreDifferences is one entry of spec.ignoreDifferences.
type ResourceIgnoreDifferences struct {
	Group                 string   `json:"group,omitempty"`
	Kind                  string   `json:"kind"`
	Name                  string   `json:"name,omitempty"`
	Namespace             string   `json:"namespace,omitempty"`
	JSONPointers          []string `json:"jsonPointers,omitempty"`
	JQPathExpressions     []string `json:"jqPathExpressions,omitempty"`
	ManagedFieldsManagers []string `json:"managedFieldsManagers,omitempty"`
}

// Paths Argo Rollouts v1.8.3 writes (rollout/trafficrouting/istio/istio.go
// and rollout/service.go of github.com/argoproj/argo-rollouts):
//   - VirtualService: reconcileVirtualService sets spec.http[i].route[j].weight
//     of the routes named in trafficRouting.istio.virtualService(s).routes
//     (when routes is empty, getHttpRouteIndexesToPatch: the only route,
//     else the first route without a name - not index 0 once setHeaderRoute
//     has put its named routes on top), and of tlsRoutes/tcpRoutes in
//     spec.tls/spec.tcp; SetHeaderRoute and SetMirrorRoute insert and remove
//     the spec.http routes named in trafficRouting.managedRoutes.
//   - DestinationRule (subset-level routing): UpdateHash sets
//     spec.subsets[].labels.rollouts-pod-template-hash of the stable and
//     canary subsets and the annotation argo-rollouts.argoproj.io/managed-by-rollouts.
//   - stable/canary Services (host-level routing): the controller adds
//     rollouts-pod-template-hash to spec.selector and the same annotation.
const (
	hashLabel         = rollouttraffic.PodTemplateHashLabel
	managedAnnotation = "/metadata/annotations/argo-rollouts.argoproj.io~1managed-by-rollouts"
)

// IgnoreDifferences returns the ignoreDifferences entries that keep Argo CD
// from undoing what Argo Rollouts changes for this Rollout
// (rollouttraffic.OwnedBy; nil when it has no canary traffic routing). ns
// is the Rollout's namespace.
func IgnoreDifferences(ro *rollouts.Rollout, ns string) []ResourceIgnoreDifferences {
	c := ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil {
		return nil
	}
	owned := rollouttraffic.OwnedBy(ro, ns)
	var out []ResourceIgnoreDifferences
	for _, vs := range owned.VirtualServices {
		out = append(out, ResourceIgnoreDifferences{
			Group: "networking.istio.io", Kind: "VirtualService", Name: vs.Name, Namespace: vs.Namespace,
			JQPathExpressions: vsPaths(vs.Spec, c.TrafficRouting.ManagedRoutes),
		})
	}
	if dr := owned.DestinationRule; dr != nil {
		out = append(out, ResourceIgnoreDifferences{
			Group: "networking.istio.io", Kind: "DestinationRule", Name: dr.Name, Namespace: dr.Namespace,
			JSONPointers:      []string{managedAnnotation},
			JQPathExpressions: []string{`.spec.subsets[].labels["` + hashLabel + `"]`},
		})
	}
	for _, svc := range owned.Services {
		out = append(out, ResourceIgnoreDifferences{
			Kind: "Service", Name: svc.Name, Namespace: svc.Namespace,
			JSONPointers: []string{managedAnnotation, "/spec/selector/" + hashLabel},
		})
	}
	return out
}

// UnnamedRouteWeights is the jq path of the weights of the VirtualService
// routes without a name.
const UnnamedRouteWeights = `.spec.http[] | select((.name // "") == "") | .route[].weight`

// VSWeightPaths are the jq paths of the weights Argo Rollouts sets in a
// VirtualService it manages.
func vsPaths(vs rollouts.IstioVirtualService, managed []rollouts.MangedRoutes) []string {
	var out []string
	for _, r := range vs.Routes {
		out = append(out, `.spec.http[] | select(.name == "`+r+`") | .route[].weight`)
	}
	if len(vs.Routes) == 0 && len(vs.TLSRoutes) == 0 && len(vs.TCPRoutes) == 0 {
		// The only route, or the first unnamed one: ignoring the weights
		// of every unnamed route covers the second wherever it moves.
		out = append(out, `.spec.http[0].route[].weight`, UnnamedRouteWeights)
	}
	if len(vs.TLSRoutes) > 0 {
		out = append(out, `.spec.tls[].route[].weight`)
	}
	if len(vs.TCPRoutes) > 0 {
		out = append(out, `.spec.tcp[].route[].weight`)
	}
	for _, m := range managed {
		out = append(out, `.spec.http[] | select(.name == "`+m.Name+`")`)
	}
	return out
}

// application syncs the release's folder and ignores the fields Argo
// Rollouts owns; RespectIgnoreDifferences makes a sync leave them alone too.
func application(release, ns string, a *v1alpha1.ArgoCD, ros []Object) Object {
	app := &Application{
		TypeMeta:   metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "Application"},
		ObjectMeta: objectMeta(release, a.Namespace, map[string]string{ManagedBy: "graylane"}),
		Spec: ApplicationSpec{
			Source:      &ApplicationSource{RepoURL: a.RepoURL, Path: a.Path, TargetRevision: a.TargetRevision},
			Destination: ApplicationDestination{Server: a.Server, Namespace: ns},
			Project:     a.Project,
			SyncPolicy:  &SyncPolicy{SyncOptions: []string{"RespectIgnoreDifferences=true"}},
		},
	}
	if a.Automated {
		app.Spec.SyncPolicy.Automated = &SyncPolicyAutomated{Prune: true, SelfHeal: true}
	}
	for _, o := range ros {
		app.Spec.IgnoreDifferences = append(app.Spec.IgnoreDifferences, IgnoreDifferences(o.Value.(*rollouts.Rollout), o.Namespace)...)
	}
	return Object{"argoproj.io/v1alpha1", "Application", a.Namespace, release, app}
}

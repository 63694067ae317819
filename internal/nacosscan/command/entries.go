package command

import (
	"context"
	"fmt"
	"slices"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/client-go/rest"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/kubeapply"
	"github.com/graylane/graylane/internal/manifest"
)

// Actions of an EntryResult.
const (
	EntryCreated   = kubeapply.Created
	EntryUpdated   = "updated"
	EntryUnchanged = kubeapply.Unchanged
)

// EntryResult is what applying one ServiceEntry did.
type EntryResult struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Action is created, updated or unchanged (with a dry run: what the
	// API server says it would be).
	Action string `json:"action"`
}

// source names the ServiceEntries fix applies in messages: they come
// from no file.
const entriesSource = "graylane nacos fix"

// checkApplyEntries refuses --apply-service-entries where it cannot apply:
// with -f the Kubernetes side is manifests, not a cluster to apply to.
func (o *FixOptions) checkApplyEntries() error {
	if o.ApplyServiceEntries && len(o.Files) > 0 {
		return cli.InputErrorf("--apply-service-entries applies to the cluster (--kubeconfig/--context) or the local runtime (--local), not with -f: write them with --service-entries FILE and apply that")
	}
	return nil
}

// applyEntries applies the ServiceEntries where the scan read the
// Kubernetes side: a running `graylane up` (--local) through its admin
// API, else the cluster with server-side apply.
func applyEntries(ctx context.Context, o *FixOptions, ses []*networkingv1.ServiceEntry) ([]EntryResult, error) {
	if len(ses) == 0 {
		return []EntryResult{}, nil
	}
	if o.Local {
		return applyLocal(ctx, adminapi.New(adminapi.Admin(o.Admin)), ses, o.DryRun)
	}
	cfg, _, err := kubeapply.ClientConfig(o.Kubeconfig, o.Context)
	if err != nil {
		return nil, cli.InputErrorf("--apply-service-entries: %w", err)
	}
	return applyCluster(ctx, cfg, ses, o.DryRun)
}

// applyCluster applies typed ServiceEntries with server-side apply (field
// manager kubeapply.FieldManager, "graylane"); dryRun asks the API server
// to check them and store nothing. kubeapply's "configured" is "updated".
func applyCluster(ctx context.Context, cfg *rest.Config, ses []*networkingv1.ServiceEntry, dryRun bool) ([]EntryResult, error) {
	scheme, err := kubeapply.NewScheme()
	if err != nil {
		return nil, err
	}
	c, err := kubeapply.NewClient(cfg, scheme)
	if err != nil {
		return nil, fmt.Errorf("connect to the cluster: %w", err)
	}
	items := make([]kubeapply.Item, 0, len(ses))
	for _, se := range ses {
		obj := se.DeepCopy() // with its TypeMeta (nacosscan.ServiceEntries)
		items = append(items, kubeapply.Item{Object: obj, Source: &manifest.Object{
			APIVersion: obj.APIVersion, Kind: obj.Kind, Name: obj.Name, Namespace: obj.Namespace,
			Pos: manifest.Position{File: entriesSource},
		}})
	}
	results, err := kubeapply.Apply(ctx, c, items, kubeapply.ApplyOptions{DryRun: dryRun})
	out := make([]EntryResult, 0, len(results))
	for _, r := range results {
		action := r.Action
		switch action {
		case kubeapply.Configured:
			action = EntryUpdated
		case kubeapply.Failed:
			continue
		}
		out = append(out, EntryResult{Namespace: r.Namespace, Name: r.Name, Action: action})
	}
	if err != nil {
		return out, fmt.Errorf("apply the ServiceEntries: %w", err)
	}
	return out, nil
}

// applier is what applyLocal needs of the runtime (a *adminapi.Client).
type applier interface {
	Apply(ctx context.Context, name string, manifests []byte) (adminapi.ApplyResult, error)
}

// applyLocal sends the ServiceEntries to a running `graylane up` (POST
// /apply, as `graylane apply --local` does): the runtime keeps them with
// its other objects and its routing knows their hosts. The runtime has no
// dry run: with dryRun nothing is sent and nothing is reported.
func applyLocal(ctx context.Context, rt applier, ses []*networkingv1.ServiceEntry, dryRun bool) ([]EntryResult, error) {
	if dryRun {
		return []EntryResult{}, nil
	}
	body, err := encodeEntries(ses)
	if err != nil {
		return nil, err
	}
	res, err := rt.Apply(ctx, entriesSource, body)
	if err != nil {
		return nil, fmt.Errorf("apply the ServiceEntries to the local runtime: %w", err)
	}
	out := make([]EntryResult, 0, len(ses))
	for _, se := range ses {
		ref := (&manifest.Object{Kind: "ServiceEntry", Namespace: se.Namespace, Name: se.Name}).Ref()
		action := ""
		switch {
		case slices.Contains(res.Created, ref):
			action = EntryCreated
		case slices.Contains(res.Configured, ref):
			action = EntryUpdated
		case slices.Contains(res.Unchanged, ref):
			action = EntryUnchanged
		default:
			return out, fmt.Errorf("the local runtime did not apply %s (its answer: %+v)", ref, res)
		}
		out = append(out, EntryResult{Namespace: se.Namespace, Name: se.Name, Action: action})
	}
	return out, nil
}

package command

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/kubeapply"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/nacosscan"
)

// Actions of an EntryResult.
const (
	EntryCreated   = kubeapply.Created
	EntryUpdated   = "updated"
	EntryUnchanged = kubeapply.Unchanged
	// EntryDeleted: a stale ServiceEntry was deleted; EntryKept: it
	// changed since fix read it (taken over, or applied again), so it was
	// not; EntryGone: someone else deleted it first.
	EntryDeleted = "deleted"
	EntryKept    = "kept"
	EntryGone    = "gone"
)

// EntryResult is what applying one ServiceEntry, or deleting a stale one,
// did.
type EntryResult struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Action is created, updated or unchanged for the ServiceEntries fix
	// makes, deleted, kept or gone for the stale ones (with a dry run:
	// what the API server says it would be).
	Action string `json:"action"`
	// Message says why a stale ServiceEntry was kept.
	Message string `json:"message,omitempty"`
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
// Kubernetes side, and deletes the stale ones there: a running `graylane
// up` (--local) through its admin API, else the cluster (server-side
// apply; a delete with the preconditions of the UID and resourceVersion
// the scan read). A failed apply does not keep the stale entries: both are
// tried, their errors joined.
func applyEntries(ctx context.Context, o *FixOptions, ses []*networkingv1.ServiceEntry, stale []nacosscan.StaleEntry) ([]EntryResult, error) {
	out := []EntryResult{}
	if len(ses) == 0 && len(stale) == 0 {
		return out, nil
	}
	var apply func() ([]EntryResult, error)
	var del func() ([]EntryResult, error)
	if o.Local {
		rt := adminapi.New(adminapi.Admin(o.Admin))
		apply = func() ([]EntryResult, error) { return applyLocal(ctx, rt, ses, o.DryRun) }
		del = func() ([]EntryResult, error) { return deleteLocal(ctx, rt, stale, o.DryRun) }
	} else {
		c, err := clusterClient(o)
		if err != nil {
			return nil, err
		}
		apply = func() ([]EntryResult, error) { return applyCluster(ctx, c, ses, o.DryRun) }
		del = func() ([]EntryResult, error) { return deleteCluster(ctx, c, stale, o.DryRun) }
	}
	var applyErr, deleteErr error
	var applied, deleted []EntryResult
	if len(ses) > 0 {
		applied, applyErr = apply()
	}
	if o.beforeDelete != nil {
		o.beforeDelete()
	}
	if len(stale) > 0 {
		deleted, deleteErr = del()
	}
	return append(append(out, applied...), deleted...), errors.Join(applyErr, deleteErr)
}

// clusterClient is the client of the cluster --kubeconfig/--context
// name, for applyCluster and deleteCluster.
func clusterClient(o *FixOptions) (*kubeapply.RESTClient, error) {
	cfg, _, err := kubeapply.ClientConfig(o.Kubeconfig, o.Context)
	if err != nil {
		return nil, cli.InputErrorf("--apply-service-entries: %w", err)
	}
	scheme, err := kubeapply.NewScheme()
	if err != nil {
		return nil, err
	}
	c, err := kubeapply.NewClient(cfg, scheme)
	if err != nil {
		return nil, fmt.Errorf("connect to the cluster: %w", err)
	}
	return c, nil
}

// deleteCluster deletes the stale ServiceEntries from the cluster, each
// only as fix read it: the delete's preconditions are the UID and
// resourceVersion of the scan's list (StaleEntry.UID, ResourceVersion), so
// one changed since - taken over (its managed-by label removed), or
// applied again by another run - is not deleted: the API server answers
// 409 Conflict, reported as kept. One already deleted (404) is gone.
// dryRun asks the API server for a dry-run delete (it checks the
// preconditions too, and deletes nothing).
func deleteCluster(ctx context.Context, c *kubeapply.RESTClient, stale []nacosscan.StaleEntry, dryRun bool) ([]EntryResult, error) {
	out := make([]EntryResult, 0, len(stale))
	var errs []error
	for _, se := range stale {
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &se.UID, ResourceVersion: &se.ResourceVersion}}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		r := EntryResult{Namespace: se.Namespace, Name: se.Name, Action: EntryDeleted}
		obj := &networkingv1.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Namespace: se.Namespace, Name: se.Name}}
		switch err := c.Delete(ctx, obj, opts); {
		case err == nil:
		case apierrors.IsConflict(err):
			r.Action, r.Message = EntryKept, fmt.Sprintf("changed since fix read it (resourceVersion %s): not deleted", se.ResourceVersion)
		case apierrors.IsNotFound(err):
			r.Action = EntryGone
		default:
			errs = append(errs, fmt.Errorf("delete ServiceEntry %s/%s: %w", se.Namespace, se.Name, err))
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// applyCluster applies typed ServiceEntries with server-side apply (field
// manager kubeapply.FieldManager, "graylane"); dryRun asks the API server
// to check them and store nothing. kubeapply's "configured" is "updated".
func applyCluster(ctx context.Context, c *kubeapply.RESTClient, ses []*networkingv1.ServiceEntry, dryRun bool) ([]EntryResult, error) {
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

// applier is what applyLocal and deleteLocal need of the runtime (a
// *adminapi.Client).
type applier interface {
	Apply(ctx context.Context, name string, manifests []byte) (adminapi.ApplyResult, error)
	DeleteServiceEntry(ctx context.Context, ns, name, resourceVersion string) (adminapi.DeleteResult, error)
}

// deleteLocal deletes the stale ServiceEntries from a running `graylane
// up` (DELETE /v1/serviceentries/{ns}/{name}?resourceVersion=N): its
// routing forgets their hosts. Each only as fix read it, as on a cluster:
// the resourceVersion is the one the scan read (GET /v1/serviceentries),
// so one changed since - taken over, or applied again - is not deleted
// (409), reported as kept with the runtime's reason. One it no longer has
// (404) is gone. A delete the runtime answers with another error
// (*adminapi.APIError) does not stop the others: their errors are joined.
// Any other error - the runtime unreachable, or an older one without the
// route - would be the same for every entry: deleteLocal stops there. The
// runtime has no dry run: with dryRun nothing is sent (the stale entries
// are only reported).
func deleteLocal(ctx context.Context, rt applier, stale []nacosscan.StaleEntry, dryRun bool) ([]EntryResult, error) {
	out := []EntryResult{}
	if dryRun {
		return out, nil
	}
	var errs []error
	for i, se := range stale {
		r := EntryResult{Namespace: se.Namespace, Name: se.Name, Action: EntryDeleted}
		_, err := rt.DeleteServiceEntry(ctx, se.Namespace, se.Name, se.ResourceVersion)
		var api *adminapi.APIError
		answered := errors.As(err, &api)
		switch {
		case err == nil:
		case answered && api.Status == http.StatusConflict:
			// The runtime's message names the entry: "ServiceEntry
			// NS/NAME: changed since it was read (...)".
			why := strings.TrimPrefix(api.Message, "ServiceEntry "+se.Namespace+"/"+se.Name+": ")
			r.Action, r.Message = EntryKept, why+": not deleted"
		case answered && api.Status == http.StatusNotFound:
			r.Action = EntryGone
		case answered:
			errs = append(errs, fmt.Errorf("delete ServiceEntry %s/%s from the local runtime: %w", se.Namespace, se.Name, err))
			continue
		default:
			err = fmt.Errorf("delete ServiceEntry %s/%s from the local runtime: %w", se.Namespace, se.Name, err)
			if rest := len(stale) - i - 1; rest > 0 {
				err = fmt.Errorf("%w (stopped: %d more not tried)", err, rest)
			}
			return out, errors.Join(append(errs, err)...)
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
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

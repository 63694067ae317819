package kubeapply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/graylane/graylane/internal/manifest"
)

// Actions of a Result.
const (
	Created    = "created"
	Configured = "configured"
	Unchanged  = "unchanged"
	Failed     = "failed"
)

// ApplyOptions change how objects are applied.
type ApplyOptions struct {
	// ForceConflicts takes fields over from other field managers instead of
	// failing with a conflict.
	ForceConflicts bool
	// DryRun asks the API server to validate and default the objects
	// without storing them (--dry-run=server).
	DryRun bool
}

// Result is what happened to one object.
type Result struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	Source     string `json:"source"` // file:line of the document
	Action     string `json:"action"` // created, configured, unchanged or failed
	Error      string `json:"error,omitempty"`
}

// Ref returns "Kind namespace/name".
func (r Result) Ref() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// Apply applies the items in order with server-side apply, field manager
// "graylane", and goes on after a failure. The error joins one
// *RejectedError per failed object.
//
// What the Argo Rollouts controller writes in the Istio objects that the
// applied Rollouts name (route weights, subsets' pod-template-hash labels)
// is applied with its live value, so that re-applying during or after a
// rollout neither resets its traffic split nor conflicts with the controller.
func Apply(ctx context.Context, c Client, items []Item, o ApplyOptions) ([]Result, error) {
	results := make([]Result, 0, len(items))
	var errs []error
	owned := argoFields(items)
	for _, it := range items {
		gvk := it.GVK()
		r := Result{
			APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
			Namespace: it.Object.GetNamespace(), Name: it.Object.GetName(), Source: it.Source.Pos.String(),
		}
		action, err := applyOne(ctx, c, it, o, owned)
		if err != nil {
			rej := reject(it, err)
			r.Action, r.Error = Failed, rej.Error()
			errs = append(errs, rej)
		} else {
			r.Action = action
		}
		results = append(results, r)
	}
	return results, errors.Join(errs...)
}

// applyOne applies one object and says whether it was created, configured
// or left unchanged: by the resourceVersion for real applies, by comparing
// the object before and after for dry runs (which store nothing).
//
// An object whose fields the Argo Rollouts controller manages is applied
// with the live values of those fields, pinned to the resourceVersion they
// were read at: if the controller moves the rollout on in between, the API
// server refuses the stale write and the apply reads and tries again, so it
// never puts back a weight the controller has already changed.
func applyOne(ctx context.Context, c Client, it Item, o ApplyOptions, owned argoOwned) (string, error) {
	for attempt := 1; ; attempt++ {
		action, stale, err := applyOnce(ctx, c, it, o, owned)
		if !stale || attempt == 5 {
			return action, err
		}
	}
}

func applyOnce(ctx context.Context, c Client, it Item, o ApplyOptions, owned argoOwned) (action string, stale bool, err error) {
	before, err := c.New(it.Object)
	if err != nil {
		return "", false, err
	}
	exists := true
	if err := c.Get(ctx, objectKey(it.Object), before); err != nil {
		if !apierrors.IsNotFound(err) {
			return "", false, err
		}
		exists = false
	}
	obj := it.Object.DeepCopyObject().(Object)
	pin := ""
	if exists && owned.keepLive(obj, before) {
		pin = before.GetResourceVersion()
	}
	body, err := applyBody(obj, pin)
	if err != nil {
		return "", false, err
	}
	opts := PatchOptions{Force: o.ForceConflicts, DryRun: o.DryRun, Strict: it.Unstructured()}
	err = c.Apply(ctx, obj, body, opts)
	if err != nil && !o.ForceConflicts && exists && owned.onlyControllerConflicts(obj, err) {
		// The live values are in body already: taking the fields back from
		// the controller changes nothing it set.
		opts.Force = true
		err = c.Apply(ctx, obj, body, opts)
	}
	if err != nil {
		return "", pin != "" && staleWrite(err), err
	}
	switch {
	case !exists:
		return Created, false, nil
	case o.DryRun:
		same, err := sameStored(before, obj)
		if err != nil || !same {
			return Configured, false, err
		}
		return Unchanged, false, nil
	case obj.GetResourceVersion() == before.GetResourceVersion():
		return Unchanged, false, nil
	}
	return Configured, false, nil
}

// staleWrite reports a 409 that is not a field manager conflict: the
// object changed since the resourceVersion the write was pinned to.
func staleWrite(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsConflict(err) || !errors.As(err, &status) {
		return false
	}
	if d := status.Status().Details; d != nil {
		for _, c := range d.Causes {
			if c.Type == metav1.CauseTypeFieldManagerConflict {
				return false
			}
		}
	}
	return true
}

// applyBody is the apply configuration of a typed object: its JSON without
// status, resourceVersion, managed fields and null values. Go structs write
// zero values such as "creationTimestamp": null in a pod template, which
// server-side apply would claim (and which Argo's pruned Rollout schema
// rejects); the manifest never set them.
func applyBody(obj Object, resourceVersion string) ([]byte, error) {
	obj = obj.DeepCopyObject().(Object)
	obj.SetResourceVersion(resourceVersion)
	obj.SetManagedFields(nil)
	js, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("encode %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, err)
	}
	delete(doc, "status")
	dropNulls(doc)
	return json.Marshal(doc)
}

// dropNulls removes null members from JSON objects, at every depth.
func dropNulls(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if x == nil {
				delete(v, k)
				continue
			}
			dropNulls(x)
		}
	case []any:
		for _, x := range v {
			dropNulls(x)
		}
	}
}

// sameStored compares two versions of an object, ignoring what every write
// changes (resourceVersion, managed fields' timestamps). It compares their
// JSON forms: Istio's protobuf-backed specs cannot be compared by reflection.
func sameStored(a, b Object) (bool, error) {
	var docs [2]any
	for i, o := range []Object{a, b} {
		o = o.DeepCopyObject().(Object)
		o.SetResourceVersion("")
		o.SetManagedFields(nil)
		o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		js, err := json.Marshal(o)
		if err != nil {
			return false, fmt.Errorf("encode %s: %w", o.GetName(), err)
		}
		if err := json.Unmarshal(js, &docs[i]); err != nil {
			return false, fmt.Errorf("decode %s: %w", o.GetName(), err)
		}
	}
	return reflect.DeepEqual(docs[0], docs[1]), nil
}

// RejectedError is the API server's refusal of one object, located at the
// object's document (and at the fields it names, when it names any).
type RejectedError struct {
	Ref    string
	Errors manifest.ErrorList
	// Conflict is set when other field managers own fields the apply sets.
	Conflict bool
	// Invalid is set when the object itself is invalid (bad input).
	Invalid bool

	err error
}

func (e *RejectedError) Error() string {
	msg := e.Errors.Error()
	if e.Conflict {
		msg += "\n" + e.Errors[0].Pos.String() + ": " + e.Ref + ": another field manager owns these fields; re-run with --force-conflicts to take them over"
	}
	return msg
}

// Unwrap returns the API server's error.
func (e *RejectedError) Unwrap() error { return e.err }

// reject locates an API error: one line per cause that names a field (at
// that field's line when the document has it), else one at the document.
func reject(it Item, err error) *RejectedError {
	src := it.Source
	rej := &RejectedError{Ref: it.Ref(), Conflict: apierrors.IsConflict(err), err: err,
		Invalid: apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)}
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Details != nil {
		for _, cause := range status.Status().Details.Causes {
			if cause.Field == "" {
				continue
			}
			field := strings.TrimPrefix(cause.Field, ".")
			rej.Errors = append(rej.Errors, &manifest.Error{
				Pos: src.PathPos(field), Path: field, Msg: it.Ref() + ": " + causeMessage(cause),
			})
		}
	}
	if field, msg, ok := typedPatchError(err); ok {
		// The API server's schema refused the object: bad input.
		rej.Invalid = true
		if field != "" {
			rej.Errors = append(rej.Errors, &manifest.Error{Pos: src.PathPos(field), Path: field, Msg: it.Ref() + ": " + msg})
		}
	}
	if len(rej.Errors) == 0 {
		rej.Errors = manifest.ErrorList{{Pos: src.Pos, Msg: it.Ref() + ": " + err.Error()}}
	}
	return rej
}

// typedPatchError recognizes the API server's refusal of an apply whose
// body does not fit the kind's schema (an unknown field of a kind sent
// without a Go type): a 500 without a reason, "failed to create typed
// patch object (NS/NAME; GVK): .path: message". It returns the field and
// the message when the answer names exactly one field.
func typedPatchError(err error) (field, msg string, ok bool) {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return "", "", false
	}
	st := status.Status()
	const marker = "failed to create typed patch object ("
	i := strings.Index(st.Message, marker)
	if st.Code != 500 || i < 0 {
		return "", "", false
	}
	_, rest, found := strings.Cut(st.Message[i+len(marker):], "): ")
	if !found || strings.Contains(rest, "\n") {
		return "", "", true
	}
	path, why, found := strings.Cut(rest, ": ")
	if !found || !strings.HasPrefix(path, ".") || strings.ContainsAny(path, " []") {
		return "", "", true
	}
	return strings.TrimPrefix(path, "."), why, true
}

func causeMessage(c metav1.StatusCause) string {
	if c.Message != "" {
		return c.Message
	}
	return string(c.Type)
}

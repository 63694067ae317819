// Package kubeapply applies manifests to a Kubernetes cluster with
// server-side apply (field manager "graylane") and waits for the Argo
// Rollouts it applied to become Healthy or Degraded.
//
// The functional core (Plan, Phase) does no I/O; Apply and Wait talk to the
// API server through a Client (RESTClient: client-go's dynamic client); Run is the shell behind
// `graylane apply` without --local.
package kubeapply

import (
	"encoding/json"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	sigsjson "sigs.k8s.io/json"

	"github.com/graylane/graylane/internal/manifest"
)

// FieldManager is the field manager of every apply.
const FieldManager = "graylane"

// Item is one object to apply.
type Item struct {
	// Object is the typed object, with apiVersion and kind set from the
	// scheme and the namespace defaulted.
	Object Object
	// Source is the loaded document (file, line, field positions).
	Source *manifest.Object
}

// Unstructured reports whether the object is a built-in kind without a Go
// type in the scheme, sent as the document has it.
func (it Item) Unstructured() bool {
	_, ok := it.Object.(*unstructured.Unstructured)
	return ok
}

// objectKey is the namespace and name of obj.
func objectKey(obj Object) types.NamespacedName {
	return types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// GVK returns the object's group, version and kind.
func (it Item) GVK() schema.GroupVersionKind { return it.Object.GetObjectKind().GroupVersionKind() }

// Ref returns "Kind namespace/name" (or "Kind name" when cluster-scoped).
func (it Item) Ref() string {
	kind := it.GVK().Kind
	if ns := it.Object.GetNamespace(); ns != "" {
		return kind + " " + ns + "/" + it.Object.GetName()
	}
	return kind + " " + it.Object.GetName()
}

// Skipped is a loaded document that is not applied: its kind is unknown to
// both the loader and the scheme.
type Skipped struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Source     string `json:"source"`
}

// Namespaced reports whether a kind is namespaced (from the cluster's
// discovery in practice).
type Namespaced func(schema.GroupVersionKind) (bool, error)

// Plan turns a loaded set into the objects to apply, in apply order (see
// rank), with every namespaced object lacking a namespace put in namespace.
// Documents the loader ignored are decoded with the scheme when it knows
// their kind (Namespace, ConfigMap, ...), strictly: unknown fields are
// errors. Problems are located errors (manifest.ErrorList).
func Plan(set *manifest.Set, scheme *runtime.Scheme, namespaced Namespaced, namespace string) ([]Item, []Skipped, error) {
	var items []Item
	var skipped []Skipped
	var errs manifest.ErrorList
	add := func(src *manifest.Object, obj runtime.Object) {
		it, err := newItem(src, obj, scheme, namespaced, namespace)
		if err != nil {
			errs = append(errs, err)
			return
		}
		items = append(items, it)
	}
	for _, o := range set.Objects {
		obj, ok := o.Typed.(runtime.Object)
		if !ok || !scheme.Recognizes(schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)) {
			// A kind with no API type here (an Argo CD Application rendered
			// by a Release): reported, never dropped silently.
			skipped = append(skipped, Skipped{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, Source: o.Pos.String()})
			continue
		}
		add(o, obj.DeepCopyObject())
	}
	for _, o := range set.Ignored {
		gvk := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
		if !scheme.Recognizes(gvk) && BuiltinKind(gvk) {
			// A built-in kind with no Go type linked here: sent as it is,
			// checked strictly by the API server (PatchOptions.Strict).
			u, err := decodeUnstructured(o)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			add(o, u)
			continue
		}
		if !scheme.Recognizes(gvk) {
			skipped = append(skipped, Skipped{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, Source: o.Pos.String()})
			continue
		}
		obj, err := decodeRaw(scheme, gvk, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		add(o, obj)
	}
	sort.SliceStable(items, func(i, j int) bool {
		ri, rj := rank(items[i].GVK().GroupKind()), rank(items[j].GVK().GroupKind())
		if ri != rj {
			return ri < rj
		}
		return items[i].Source.Index < items[j].Source.Index
	})
	if len(errs) > 0 {
		return items, skipped, errs
	}
	return items, skipped, nil
}

func newItem(src *manifest.Object, obj runtime.Object, scheme *runtime.Scheme, namespaced Namespaced, namespace string) (Item, *manifest.Error) {
	fail := func(format string, args ...any) (Item, *manifest.Error) {
		return Item{}, &manifest.Error{Pos: src.Pos, Msg: src.Ref() + ": " + fmt.Sprintf(format, args...)}
	}
	kinds, _, err := scheme.ObjectKinds(obj)
	if err != nil || len(kinds) == 0 {
		return fail("no API type for %T", obj)
	}
	cobj, ok := obj.(Object)
	if !ok {
		return fail("%T has no object metadata", obj)
	}
	gvk := kinds[0]
	cobj.GetObjectKind().SetGroupVersionKind(gvk)
	if cobj.GetNamespace() == "" {
		isNS, err := namespaced(gvk)
		if err != nil {
			return fail("%v", err)
		}
		if isNS {
			cobj.SetNamespace(namespace)
		}
	}
	return Item{Object: cobj, Source: src}, nil
}

// decodeRaw decodes a document the loader did not check into the scheme's
// type for gvk; unknown and duplicate fields are errors.
func decodeRaw(scheme *runtime.Scheme, gvk schema.GroupVersionKind, o *manifest.Object) (runtime.Object, *manifest.Error) {
	obj, err := scheme.New(gvk)
	if err != nil {
		return nil, &manifest.Error{Pos: o.Pos, Msg: err.Error()}
	}
	js, err := json.Marshal(o.Raw)
	if err != nil {
		return nil, &manifest.Error{Pos: o.Pos, Msg: "encode " + o.Kind + ": " + err.Error()}
	}
	strict, err := sigsjson.UnmarshalStrict(js, obj)
	if err != nil {
		return nil, &manifest.Error{Pos: o.Pos, Msg: "cannot decode " + o.Kind + ": " + err.Error()}
	}
	if len(strict) > 0 {
		if fe, ok := strict[0].(sigsjson.FieldError); ok && fe.FieldPath() != "" {
			return nil, &manifest.Error{Pos: o.PathPos(fe.FieldPath()), Path: fe.FieldPath(), Msg: "unknown field"}
		}
		return nil, &manifest.Error{Pos: o.Pos, Msg: o.Kind + ": " + strict[0].Error()}
	}
	return obj, nil
}

// decodeUnstructured is the document as an *unstructured.Unstructured.
func decodeUnstructured(o *manifest.Object) (*unstructured.Unstructured, *manifest.Error) {
	js, err := json.Marshal(o.Raw)
	if err != nil {
		return nil, &manifest.Error{Pos: o.Pos, Msg: "encode " + o.Kind + ": " + err.Error()}
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, &manifest.Error{Pos: o.Pos, Msg: "cannot decode " + o.Kind + ": " + err.Error()}
	}
	return u, nil
}

// rank orders kinds for apply: namespaces first, then what pods use, then
// services and built-in workloads, then the CRD-backed kinds (Istio routing,
// whose subsets and gateways the Rollouts reference; analysis templates),
// Rollouts last, unknown kinds after all.
func rank(gk schema.GroupKind) int {
	switch gk.Group {
	case "":
		switch gk.Kind {
		case "Namespace":
			return 0
		case "ResourceQuota", "LimitRange":
			return 1
		case "Service":
			return 4
		}
		return 2
	case "rbac.authorization.k8s.io":
		return 3
	case "apps", "batch", "policy", "autoscaling":
		return 5
	case "networking.istio.io":
		if r, ok := istioRank[gk.Kind]; ok {
			return r
		}
		return 10
	case "argoproj.io":
		if gk.Kind == "Rollout" {
			return 20
		}
		return 19
	}
	return 30
}

// istioRank: gateways and service entries, then the subsets that routes
// name, then the routes.
var istioRank = map[string]int{"Gateway": 6, "ServiceEntry": 7, "DestinationRule": 8, "VirtualService": 9}

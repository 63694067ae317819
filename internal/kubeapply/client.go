package kubeapply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"reflect"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Object is a Kubernetes object: metadata and a kind. Typed objects of the
// scheme and *unstructured.Unstructured are Objects.
type Object interface {
	metav1.Object
	runtime.Object
}

// PatchOptions are the options of one server-side apply.
type PatchOptions struct {
	// Force takes fields over from other field managers.
	Force bool
	// DryRun asks the API server not to store the result.
	DryRun bool
	// Strict asks the API server to refuse unknown and duplicate fields
	// (fieldValidation=Strict); for objects not decoded strictly here.
	Strict bool
	// FieldManager is the field manager ("": FieldManager).
	FieldManager string
}

// Client is what Apply and Wait need of the API server.
type Client interface {
	// Get reads the object named key, of obj's kind, into obj.
	Get(ctx context.Context, key types.NamespacedName, obj Object) error
	// Apply sends body as a server-side apply of obj (field manager
	// "graylane") and reads the stored (or, dry, would-be) object into obj.
	Apply(ctx context.Context, obj Object, body []byte, o PatchOptions) error
	// New returns an empty object of obj's kind.
	New(obj Object) (Object, error)
}

// RESTClient is the Client of a real API server: typed objects of its
// scheme travel as JSON through client-go's dynamic client, and kinds are
// mapped to resources with the server's discovery documents, read once per
// group version. It links no Kubernetes API group that the scheme does not
// name.
type RESTClient struct {
	dyn    dynamic.Interface
	scheme *runtime.Scheme
	disc   *discoveryCache
}

// NewClient returns a RESTClient for cfg; objects are typed by scheme.
func NewClient(cfg *rest.Config, scheme *runtime.Scheme) (*RESTClient, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("client of %s: %w", cfg.Host, err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("client of %s: %w", cfg.Host, err)
	}
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("client of %s: %w", cfg.Host, err)
	}
	return &RESTClient{dyn: dyn, scheme: scheme, disc: &discoveryCache{hc: hc, base: base.String(), lists: map[schema.GroupVersion]*metav1.APIResourceList{}}}, nil
}

// New returns an empty object of obj's kind.
func (c *RESTClient) New(obj Object) (Object, error) {
	gvk, err := c.kind(obj)
	if err != nil {
		return nil, err
	}
	if _, ok := obj.(*unstructured.Unstructured); ok {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		return u, nil
	}
	n, err := c.scheme.New(gvk)
	if err != nil {
		return nil, fmt.Errorf("new %s: %w", gvk.Kind, err)
	}
	o, ok := n.(Object)
	if !ok {
		return nil, fmt.Errorf("new %s: %T has no object metadata", gvk.Kind, n)
	}
	return o, nil
}

// Namespaced reports from the server's discovery whether gvk is
// namespaced; a kind the server does not serve is a *NotServedError.
func (c *RESTClient) Namespaced(ctx context.Context, gvk schema.GroupVersionKind) (bool, error) {
	r, err := c.disc.resource(ctx, gvk)
	if err != nil {
		return false, err
	}
	return r.Namespaced, nil
}

// Get reads the object named key, of obj's kind, into obj.
func (c *RESTClient) Get(ctx context.Context, key types.NamespacedName, obj Object) error {
	ri, err := c.resource(ctx, obj, key.Namespace)
	if err != nil {
		return err
	}
	u, err := ri.Get(ctx, key.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	return c.into(u, obj)
}

// Apply sends body as a server-side apply of obj and reads the result into
// obj.
func (c *RESTClient) Apply(ctx context.Context, obj Object, body []byte, o PatchOptions) error {
	ri, err := c.resource(ctx, obj, obj.GetNamespace())
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	if o.FieldManager != "" {
		opts.FieldManager = o.FieldManager
	}
	if o.Force {
		force := true
		opts.Force = &force
	}
	if o.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if o.Strict {
		opts.FieldValidation = metav1.FieldValidationStrict
	}
	u, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body, opts)
	if err != nil {
		return err
	}
	return c.into(u, obj)
}

// Delete deletes the object of obj's kind named as obj (its namespace and
// name), with opts (preconditions, a dry run).
func (c *RESTClient) Delete(ctx context.Context, obj Object, opts metav1.DeleteOptions) error {
	ri, err := c.resource(ctx, obj, obj.GetNamespace())
	if err != nil {
		return err
	}
	return ri.Delete(ctx, obj.GetName(), opts)
}

func (c *RESTClient) kind(obj Object) (schema.GroupVersionKind, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.GroupVersionKind(), nil
	}
	kinds, _, err := c.scheme.ObjectKinds(obj)
	if err != nil || len(kinds) == 0 {
		return schema.GroupVersionKind{}, fmt.Errorf("no API type for %T: %w", obj, err)
	}
	return kinds[0], nil
}

func (c *RESTClient) resource(ctx context.Context, obj Object, namespace string) (dynamic.ResourceInterface, error) {
	gvk, err := c.kind(obj)
	if err != nil {
		return nil, err
	}
	r, err := c.disc.resource(ctx, gvk)
	if err != nil {
		return nil, err
	}
	nri := c.dyn.Resource(gvk.GroupVersion().WithResource(r.Name))
	if r.Namespaced {
		return nri.Namespace(namespace), nil
	}
	return nri, nil
}

// into replaces obj with the object the server sent.
func (c *RESTClient) into(u *unstructured.Unstructured, obj Object) error {
	if dst, ok := obj.(*unstructured.Unstructured); ok {
		dst.Object = u.Object
		return nil
	}
	js, err := u.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return fmt.Errorf("decode %s %s: %T is not a pointer", u.GetKind(), u.GetName(), obj)
	}
	v.Elem().Set(reflect.Zero(v.Elem().Type()))
	if err := json.Unmarshal(js, obj); err != nil {
		return fmt.Errorf("decode %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}

// NotServedError: the API server does not serve a kind (its group version
// is unknown, or the version lacks the kind).
type NotServedError struct{ GVK schema.GroupVersionKind }

func (e *NotServedError) Error() string {
	return fmt.Sprintf("the cluster does not serve %s %s (are its CRDs installed?)", e.GVK.GroupVersion(), e.GVK.Kind)
}

// discoveryCache reads the API server's discovery document of each group
// version once (GET /api/v1, /apis/GROUP/VERSION).
type discoveryCache struct {
	hc   *http.Client
	base string

	mu    sync.Mutex
	lists map[schema.GroupVersion]*metav1.APIResourceList // nil: not served
}

func (d *discoveryCache) resource(ctx context.Context, gvk schema.GroupVersionKind) (metav1.APIResource, error) {
	list, err := d.list(ctx, gvk.GroupVersion())
	if err != nil {
		return metav1.APIResource{}, err
	}
	if list != nil {
		for _, r := range list.APIResources {
			if r.Kind == gvk.Kind && !strings.Contains(r.Name, "/") {
				return r, nil
			}
		}
	}
	return metav1.APIResource{}, &NotServedError{GVK: gvk}
}

func (d *discoveryCache) list(ctx context.Context, gv schema.GroupVersion) (*metav1.APIResourceList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if list, ok := d.lists[gv]; ok {
		return list, nil
	}
	p := path.Join("/apis", gv.Group, gv.Version)
	if gv.Group == "" {
		p = path.Join("/api", gv.Version)
	}
	u := strings.TrimSuffix(d.base, "/") + p
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("discovery of %s: %w", gv, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discovery of %s: %w", gv, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("discovery of %s: %w", gv, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		d.lists[gv] = nil
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("discovery of %s: GET %s: %s: %s", gv, p, resp.Status, excerpt(body))
	}
	var list metav1.APIResourceList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("discovery of %s: GET %s: %w", gv, p, err)
	}
	d.lists[gv] = &list
	return &list, nil
}

func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// isNotServed reports whether err is a *NotServedError.
func isNotServed(err error) bool {
	var ns *NotServedError
	return errors.As(err, &ns)
}

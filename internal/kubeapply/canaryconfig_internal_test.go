package kubeapply

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/canaryconfig"
	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/render"
)

// rolloutsClient is a Client of Rollouts kept in a map; gets counts the
// Gets of each.
type rolloutsClient struct {
	rollouts map[types.NamespacedName]*rolloutsv1alpha1.Rollout
	gets     map[types.NamespacedName]int
}

func (c *rolloutsClient) Get(_ context.Context, key types.NamespacedName, obj Object) error {
	if c.gets == nil {
		c.gets = map[types.NamespacedName]int{}
	}
	c.gets[key]++
	ro, ok := c.rollouts[key]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Group: "argoproj.io", Resource: "rollouts"}, key.Name)
	}
	ro.DeepCopyInto(obj.(*rolloutsv1alpha1.Rollout))
	return nil
}

func (c *rolloutsClient) Apply(context.Context, Object, []byte, PatchOptions) error { return nil }

func (c *rolloutsClient) New(Object) (Object, error) { return &rolloutsv1alpha1.Rollout{}, nil }

// memStore is a ConfigStore in memory that counts Close.
type memStore struct {
	configs map[string]string
	closed  *int
}

func (s memStore) GetConfig(_ context.Context, dataID, group string) (nacosclient.Config, error) {
	v, ok := s.configs[group+"/"+dataID]
	if !ok {
		return nacosclient.Config{}, nacosclient.ErrNotFound
	}
	return nacosclient.Config{Content: v, MD5: nacosclient.MD5(v)}, nil
}

func (s memStore) PublishConfig(_ context.Context, dataID, group, content, _, _ string) error {
	s.configs[group+"/"+dataID] = content
	return nil
}

func (s memStore) Close() error { *s.closed++; return nil }

// memConnect connects to one memStore; connects and closes count.
type memConnect struct {
	configs          map[string]string
	connects, closes int
	err              error
}

func (m *memConnect) connect(context.Context, string) (canaryconfig.ConfigStore, error) {
	if m.err != nil {
		return nil, m.err
	}
	m.connects++
	if m.configs == nil {
		m.configs = map[string]string{}
	}
	return memStore{configs: m.configs, closed: &m.closes}, nil
}

// promoted is the Rollout render makes of a Release service name (with a
// canaryConfig that has a nacos target when cc), fully promoted.
func promoted(t *testing.T, name string, cc bool) *rolloutsv1alpha1.Rollout {
	t.Helper()
	rel := &v1alpha1.Release{}
	rel.Name, rel.Namespace = name, "shop"
	svc := v1alpha1.ReleaseService{Name: name, Image: "shop/" + name + ":2"}
	if cc {
		svc.CanaryConfig = &v1alpha1.CanaryConfig{Properties: map[string]string{"feature.discount-rate": "0.2"},
			Nacos: &v1alpha1.NacosConfigRef{DataID: name + ".yaml"}}
	}
	rel.Spec.Services = []v1alpha1.ReleaseService{svc}
	objs, err := render.Render(rel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if ro, ok := o.Value.(*rolloutsv1alpha1.Rollout); ok {
			ro.Status = rolloutsv1alpha1.RolloutStatus{Phase: rolloutsv1alpha1.RolloutPhaseHealthy, StableRS: "h2", CurrentPodHash: "h2"}
			return ro
		}
	}
	t.Fatal("no Rollout rendered")
	return nil
}

func clientOf(ros ...*rolloutsv1alpha1.Rollout) *rolloutsClient {
	c := &rolloutsClient{rollouts: map[types.NamespacedName]*rolloutsv1alpha1.Rollout{}}
	for _, ro := range ros {
		c.rollouts[types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}] = ro
	}
	return c
}

func keyOf(ro *rolloutsv1alpha1.Rollout) types.NamespacedName {
	return types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}
}

// Every store publishCanaryConfigs connects to is closed again (each holds
// a connection to Nacos and, over gRPC, a goroutine).
func TestPublishCanaryConfigsCloses(t *testing.T) {
	order, cart := promoted(t, "order", true), promoted(t, "cart", true)
	m := &memConnect{}
	res, err := publishCanaryConfigs(context.Background(), clientOf(order, cart), []types.NamespacedName{keyOf(order), keyOf(cart)}, m.connect)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].State != CanaryPublished || res[1].State != CanaryPublished {
		t.Fatalf("results %+v, want both Published", res)
	}
	if m.connects != 2 || m.closes != m.connects {
		t.Errorf("%d stores connected, %d closed; want 2 and 2", m.connects, m.closes)
	}
}

// A Rollout that cannot be read does not hide what happened to the
// others: the publish error of an earlier one and the results of later
// ones are kept.
func TestPublishCanaryConfigsGetFails(t *testing.T) {
	order, cart := promoted(t, "order", true), promoted(t, "cart", true)
	gone := types.NamespacedName{Namespace: "shop", Name: "gone"}
	keys := []types.NamespacedName{keyOf(order), gone, keyOf(cart)}
	m := &memConnect{err: errors.New("nacos unreachable")}
	res, err := publishCanaryConfigs(context.Background(), clientOf(order, cart), keys, m.connect)
	if !errors.Is(err, ErrCanaryConfig) || !strings.Contains(err.Error(), "nacos unreachable") || !strings.Contains(err.Error(), "get rollout shop/gone") {
		t.Errorf("error %v, want the publish errors and the failed get", err)
	}
	if len(res) != 2 || res[0].Name != "order" || res[1].Name != "cart" || res[0].State != CanaryFailed {
		t.Errorf("results %+v, want order and cart, Failed", res)
	}
}

// After --wait only the Rollouts rendered with a canaryConfig are read
// again for it; the others were read by the wait alone.
func TestWaitReadsCanaryRolloutsOnly(t *testing.T) {
	web := promoted(t, "web", false)
	envOnly := promoted(t, "order", true)
	cc, err := canaryconfig.Of(envOnly)
	if err != nil || cc == nil {
		t.Fatalf("canary configuration %v %v", cc, err)
	}
	cc.Nacos = nil // environment only: nothing is published, no Nacos is contacted
	envOnly.Annotations[v1alpha1.CanaryConfigAnnotation] = v1alpha1.EncodeCanaryConfig(cc)
	c := clientOf(web, envOnly)
	items := []Item{{Object: web}, {Object: envOnly}}
	for _, it := range items {
		it.Object.GetObjectKind().SetGroupVersionKind(rolloutsv1alpha1.SchemeGroupVersion.WithKind("Rollout"))
	}
	var rep Report
	o := Options{Timeout: time.Second, PollInterval: 10 * time.Millisecond}
	if err := o.wait(context.Background(), c, items, io.Discard, &rep); err != nil {
		t.Fatal(err)
	}
	if got := c.gets[keyOf(web)]; got != 1 {
		t.Errorf("Rollout without canary configuration read %d times, want 1 (the wait)", got)
	}
	if got := c.gets[keyOf(envOnly)]; got != 2 {
		t.Errorf("Rollout with canary configuration read %d times, want 2 (the wait, then its canary configuration)", got)
	}
}

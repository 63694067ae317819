package canaryconfig_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/canaryconfig"
	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosserver"
	"github.com/graylane/graylane/internal/render"
)

// rendered is the Rollout internal/render makes of a Release service with
// a canaryConfig (so the tests read what render writes).
func rendered(t *testing.T, cc *v1alpha1.CanaryConfig) *rollouts.Rollout {
	t.Helper()
	rel := &v1alpha1.Release{}
	rel.Name, rel.Namespace = "order", "shop"
	rel.Spec.Services = []v1alpha1.ReleaseService{{Name: "order", Image: "shop/order:2", CanaryConfig: cc}}
	objs, err := render.Render(rel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if ro, ok := o.Value.(*rollouts.Rollout); ok {
			return ro
		}
	}
	t.Fatal("no Rollout rendered")
	return nil
}

func orderConfig() *v1alpha1.CanaryConfig {
	return &v1alpha1.CanaryConfig{
		Properties: map[string]string{"feature.discount-rate": "0.2", "payment.timeout": "3s"},
		Nacos:      &v1alpha1.NacosConfigRef{DataID: "order.yaml"},
	}
}

func TestDecide(t *testing.T) {
	ro := rendered(t, orderConfig())
	promoted := canaryconfig.Observation{Phase: "Healthy", StableHash: "h2", CurrentHash: "h2"}
	envOnly := orderConfig()
	envOnly.Nacos = nil
	tampered := ro.DeepCopy()
	tampered.Spec.Template.Spec.Containers[0].Env[0].Value = "0.9"
	plain := ro.DeepCopy()
	delete(plain.Annotations, v1alpha1.CanaryConfigAnnotation)
	tests := []struct {
		name    string
		ro      *rollouts.Rollout
		obs     canaryconfig.Observation
		want    canaryconfig.Action
		wantErr string
	}{
		{"fully promoted", ro, promoted, canaryconfig.ActionPublish, ""},
		{"paused at a step", ro, canaryconfig.Observation{Phase: "Paused", StableHash: "h1", CurrentHash: "h2"}, canaryconfig.ActionWait, ""},
		// The controller has made the canary stable but its replicas are not
		// all available yet: Progressing, not Healthy.
		{"stable but progressing", ro, canaryconfig.Observation{Phase: "Progressing", StableHash: "h2", CurrentHash: "h2"}, canaryconfig.ActionWait, ""},
		{"healthy before the update is seen", ro, canaryconfig.Observation{Phase: "Healthy", StableHash: "h1", CurrentHash: "h2"}, canaryconfig.ActionWait, ""},
		{"aborted", ro, canaryconfig.Observation{Phase: "Degraded", StableHash: "h1", CurrentHash: "h2", Aborted: true}, canaryconfig.ActionDiscard, ""},
		{"no annotation", plain, promoted, canaryconfig.ActionNone, ""},
		{"env only", rendered(t, envOnly), promoted, canaryconfig.ActionNone, ""},
		{"template without the values", tampered, promoted, canaryconfig.ActionNone, "does not run with FEATURE_DISCOUNTRATE=\"0.2\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := canaryconfig.Decide(tc.ro, tc.obs)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Decide error = %v, want %q", err, tc.wantErr)
			}
			if d.Action != tc.want {
				t.Errorf("action = %s (%s), want %s", d.Action, d.Reason, tc.want)
			}
		})
	}
	bad := ro.DeepCopy()
	bad.Annotations[v1alpha1.CanaryConfigAnnotation] = "{"
	if _, err := canaryconfig.Decide(bad, promoted); err == nil || !strings.Contains(err.Error(), "rollout shop/order: annotation graylane.io/canary-config") {
		t.Errorf("unreadable annotation: %v", err)
	}
}

// Observe reads what an API server's Rollout says.
func TestObserve(t *testing.T) {
	ro := &rollouts.Rollout{Status: rollouts.RolloutStatus{StableRS: "a", CurrentPodHash: "b", Abort: true}}
	want := canaryconfig.Observation{Phase: "Degraded", StableHash: "a", CurrentHash: "b", Aborted: true}
	if d := cmp.Diff(want, canaryconfig.Observe(ro, "Degraded")); d != "" {
		t.Errorf("Observe (-want +got):\n%s", d)
	}
}

// startNacos runs a real local Nacos server (internal/nacosserver) on loopback.
func startNacos(t *testing.T) *nacosserver.Server {
	t.Helper()
	srv, err := nacosserver.Start(context.Background(), nacosserver.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func connect(t *testing.T, srv *nacosserver.Server, ns string) canaryconfig.ConfigStore {
	t.Helper()
	s, err := canaryconfig.NacosConnect(nacosclient.Options{Server: srv.HTTPAddr()})(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func published(t *testing.T, s canaryconfig.ConfigStore, dataID string) string {
	t.Helper()
	c, err := s.GetConfig(context.Background(), dataID, "DEFAULT_GROUP")
	if err != nil {
		t.Fatal(err)
	}
	return c.Content
}

// Publishing merges the properties into what the configuration holds,
// keeps the rest, and a second publish changes nothing.
func TestPublishMergesOnceAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	srv := startNacos(t)
	tests := []struct {
		name, dataID, before, want string
	}{
		{"yaml", "order.yaml", "feature:\n  discount-rate: 0.1\n  banner: spring\nserver:\n  port: 8082\n",
			"feature:\n  discount-rate: \"0.2\"\n  banner: spring\nserver:\n  port: 8082\npayment:\n  timeout: 3s\n"},
		{"properties", "order.properties", "# order service\nfeature.discount-rate=0.1\nserver.port=8082\n",
			"# order service\nfeature.discount-rate=0.2\nserver.port=8082\npayment.timeout=3s\n"},
		{"created", "new.yaml", "", "feature:\n  discount-rate: \"0.2\"\npayment:\n  timeout: 3s\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := connect(t, srv, "dev")
			if tc.before != "" {
				if err := store.PublishConfig(ctx, tc.dataID, "DEFAULT_GROUP", tc.before, "", ""); err != nil {
					t.Fatal(err)
				}
			}
			cc := orderConfig()
			cc.Nacos = &v1alpha1.NacosConfigRef{DataID: tc.dataID, Group: "DEFAULT_GROUP", Namespace: "dev"}
			res, err := canaryconfig.Publish(ctx, store, cc)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Changed || res.Created != (tc.before == "") || res.Attempts != 1 {
				t.Errorf("first publish: %+v", res)
			}
			if d := cmp.Diff(tc.want, published(t, store, tc.dataID)); d != "" {
				t.Errorf("content (-want +got):\n%s", d)
			}
			again, err := canaryconfig.Publish(ctx, store, cc)
			if err != nil {
				t.Fatal(err)
			}
			if again.Changed || again.MD5 != res.MD5 {
				t.Errorf("second publish changed something: %+v (first %+v)", again, res)
			}
			if d := cmp.Diff(tc.want, published(t, store, tc.dataID)); d != "" {
				t.Errorf("content after the second publish (-want +got):\n%s", d)
			}
			// The public namespace was not touched.
			if _, err := connect(t, srv, "").GetConfig(ctx, tc.dataID, "DEFAULT_GROUP"); !errors.Is(err, nacosclient.ErrNotFound) {
				t.Errorf("public namespace: %v, want not found", err)
			}
		})
	}
}

// racing is a ConfigStore whose first publishes are preceded by an edit of
// somebody else, through another client of the same server: the
// compare-and-swap of those publishes fails deterministically.
type racing struct {
	canaryconfig.ConfigStore
	other  canaryconfig.ConfigStore
	edits  []string // the contents somebody else writes, one before each publish
	writes int
}

func (r *racing) PublishConfig(ctx context.Context, dataID, group, content, typ, casMD5 string) error {
	if r.writes < len(r.edits) {
		if err := r.other.PublishConfig(ctx, dataID, group, r.edits[r.writes], "", ""); err != nil {
			return err
		}
	}
	r.writes++
	return r.ConfigStore.PublishConfig(ctx, dataID, group, content, typ, casMD5)
}

// A concurrent edit between Publish's read and write makes the
// compare-and-swap fail; Publish reads again and keeps that edit.
func TestPublishKeepsConcurrentEdit(t *testing.T) {
	ctx := context.Background()
	srv := startNacos(t)
	store := connect(t, srv, "")
	if err := store.PublishConfig(ctx, "order.yaml", "DEFAULT_GROUP", "server:\n  port: 8082\n", "", ""); err != nil {
		t.Fatal(err)
	}
	r := &racing{ConfigStore: store, other: connect(t, srv, ""), edits: []string{"server:\n  port: 8082\nowner: ops\n"}}
	cc := orderConfig()
	cc.Nacos.Group = "DEFAULT_GROUP"
	res, err := canaryconfig.Publish(ctx, r, cc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || !res.Changed {
		t.Errorf("result %+v, want 2 attempts (one conflict)", res)
	}
	want := "server:\n  port: 8082\nowner: ops\nfeature:\n  discount-rate: \"0.2\"\npayment:\n  timeout: 3s\n"
	if d := cmp.Diff(want, published(t, store, "order.yaml")); d != "" {
		t.Errorf("content (-want +got):\n%s", d)
	}

	// A configuration created by somebody else after Publish found none is
	// not overwritten either.
	r = &racing{ConfigStore: store, other: connect(t, srv, ""), edits: []string{"owner: dev\n"}}
	cc.Nacos.DataID = "fresh.yaml"
	if res, err = canaryconfig.Publish(ctx, r, cc); err != nil || res.Attempts != 2 || res.Created {
		t.Fatalf("publish over a concurrent creation: %+v, %v", res, err)
	}
	if got := published(t, store, "fresh.yaml"); !strings.Contains(got, "owner: dev") || !strings.Contains(got, `discount-rate: "0.2"`) {
		t.Errorf("content %q lost the concurrent creation or the properties", got)
	}

	// Somebody who edits before every write wins: Publish gives up, and
	// what it wrote is nothing.
	var edits []string
	for i := range canaryconfig.MaxAttempts {
		edits = append(edits, "owner: team-"+string(rune('a'+i))+"\n")
	}
	r = &racing{ConfigStore: store, other: connect(t, srv, ""), edits: edits}
	cc.Nacos.DataID = "busy.yaml"
	if _, err := canaryconfig.Publish(ctx, r, cc); !errors.Is(err, canaryconfig.ErrKeepsChanging) {
		t.Fatalf("publish against an edit before every write: %v, want ErrKeepsChanging", err)
	}
	if got := published(t, store, "busy.yaml"); got != edits[len(edits)-1] {
		t.Errorf("content %q, want the last edit only", got)
	}
}

func TestDecideLane(t *testing.T) {
	envOnly := orderConfig()
	envOnly.Nacos = nil
	tests := []struct {
		name              string
		c                 *v1alpha1.CanaryConfig
		promoted, aborted bool
		want              canaryconfig.Action
	}{
		{"promoted", orderConfig(), true, false, canaryconfig.ActionPublish},
		{"running", orderConfig(), false, false, canaryconfig.ActionWait},
		{"aborted", orderConfig(), false, true, canaryconfig.ActionDiscard},
		{"env only", envOnly, true, false, canaryconfig.ActionNone},
		{"none", nil, true, false, canaryconfig.ActionNone},
	}
	for _, tc := range tests {
		if d := canaryconfig.DecideLane(tc.c, tc.promoted, tc.aborted, "h"); d.Action != tc.want {
			t.Errorf("%s: %s (%s), want %s", tc.name, d.Action, d.Reason, tc.want)
		}
	}
}

// BenchmarkPublish publishes to a real local Nacos server: changed (a new
// value every time: read, merge, compare-and-swap write) and unchanged (a
// read only).
func BenchmarkPublish(b *testing.B) {
	srv, err := nacosserver.Start(context.Background(), nacosserver.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	store, err := canaryconfig.NacosConnect(nacosclient.Options{Server: srv.HTTPAddr()})(context.Background(), "")
	if err != nil {
		b.Fatal(err)
	}
	base := strings.Repeat("# a comment line of the shared configuration\nsome.key=some value\n", 50)
	if err := store.PublishConfig(context.Background(), "order.properties", "DEFAULT_GROUP", base, "properties", ""); err != nil {
		b.Fatal(err)
	}
	cc := &v1alpha1.CanaryConfig{Properties: map[string]string{"feature.discount-rate": "0.2"},
		Nacos: &v1alpha1.NacosConfigRef{DataID: "order.properties", Group: "DEFAULT_GROUP"}}
	n := 0 // the sub-benchmark runs several times: a value never used before
	b.Run("changed", func(b *testing.B) {
		for range b.N {
			n++
			cc.Properties["feature.discount-rate"] = strconv.Itoa(n)
			if res, err := canaryconfig.Publish(context.Background(), store, cc); err != nil || !res.Changed {
				b.Fatalf("%+v %v", res, err)
			}
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		for range b.N {
			if res, err := canaryconfig.Publish(context.Background(), store, cc); err != nil || res.Changed {
				b.Fatalf("%+v %v", res, err)
			}
		}
	})
}

package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/google/go-cmp/cmp"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/testbin"
)

var graylaneBin string

func TestMain(m *testing.M) { testbin.Main(m, &graylaneBin) }

// Seed 001's plan on a running runtime: set image starts the canary,
// --watch follows it to the pause, promote and --wait see it through
// (exit 0); a canary aborted by the user makes --wait fail (exit 1).
func TestSeed001PlanWithCLI(t *testing.T) {
	set, err := manifest.Load("../../examples/seed001")
	if err != nil {
		t.Fatal(err)
	}
	admin := startRuntime(t, graylaneBin, set)
	o := RolloutOptions{Name: "order", Admin: admin, Timeout: 60 * time.Second}
	run := func(action, image string, wait bool) (string, error) {
		var out bytes.Buffer
		oo := o
		oo.Action, oo.Image, oo.Wait = action, image, wait
		err := Rollout(context.Background(), oo, &out)
		return out.String(), err
	}
	if out, err := run("get", "", true); err != nil || !strings.Contains(out, "Healthy") {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}
	// list: every namespace, or with -n only that one.
	for _, tc := range []struct {
		ns   string
		want []string
	}{{"", []string{"default/order"}}, {"default", []string{"default/order"}}, {"shop", nil}} {
		var out bytes.Buffer
		if err := Rollout(context.Background(), RolloutOptions{Action: "list", Namespace: tc.ns, Admin: admin, Output: "json"}, &out); err != nil {
			t.Fatal(err)
		}
		var rs []adminapi.RolloutStatus
		if err := json.Unmarshal(out.Bytes(), &rs); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rs {
			got = append(got, r.Namespace+"/"+r.Name)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("list -n %q (-want +got):\n%s", tc.ns, diff)
		}
	}
	if _, err := run("set-image", "order=graylane/sample:2.0", false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := run("get", "", false)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "Paused") && strings.Contains(out, "1/7") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never paused at 10%%:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// resume has nothing to do in a pause step: refused, saying what does.
	var api *adminapi.APIError
	if _, err := run("resume", "", false); !errors.As(err, &api) || api.Status != http.StatusConflict ||
		api.Message != "rollout default/order: nothing to resume: not paused by a user; it waits at step 1 (pause): promote leaves it" {
		t.Errorf("resume in a pause step: %v", err)
	}
	if out, err := run("promote", "", false); err != nil || !strings.HasPrefix(out, "rollout default/order promoted: left the pause of step 1 (pause)\n") {
		t.Fatalf("promote: %v\n%s", err, out)
	}
	var watched bytes.Buffer
	wo := o
	wo.Action, wo.Watch = "get", true
	if err := Rollout(context.Background(), wo, &watched); err != nil {
		t.Fatalf("--watch: %v\n%s", err, watched.String())
	}
	for _, want := range []string{"weight 30", "weight 50", "Healthy"} {
		if !strings.Contains(watched.String(), want) {
			t.Errorf("--watch output lacks %q:\n%s", want, watched.String())
		}
	}
	// An aborted canary: --wait returns ErrDegraded (exit 1 in the CLI).
	if _, err := run("set-image", "order=graylane/sample:3.0", false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := run("abort", "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := run("get", "", true); !errors.Is(err, ErrDegraded) {
		t.Errorf("--wait on an aborted rollout: %v, want ErrDegraded", err)
	}
	if _, err := run("set-image", "nope=graylane/sample:3.0", false); err == nil || !strings.Contains(err.Error(), `no container "nope"`) {
		t.Errorf("unknown container: %v", err)
	}
	if _, err := run("set-image", "order=nginx:1.25", false); err == nil || !strings.Contains(err.Error(), "no command for image") {
		t.Errorf("unmapped image: %v", err)
	}
}

// A Release's rendered Rollout is driven by the name and namespace
// `rollout list` shows: set image changes the Release and starts the
// canary, abort sends it back, a second abort is refused.
func TestReleaseWithCLI(t *testing.T) {
	set, err := manifest.Load("../../examples/kubernetes/seed001.yaml")
	if err != nil {
		t.Fatal(err)
	}
	admin := startRuntime(t, graylaneBin, set)
	run := func(action, image string, wait bool) (string, error) {
		var out bytes.Buffer
		err := Rollout(context.Background(), RolloutOptions{Action: action, Name: "order", Namespace: "shop", Image: image, Wait: wait,
			Admin: admin, Timeout: 60 * time.Second}, &out)
		return out.String(), err
	}
	if out, err := run("list", "", false); err != nil || !strings.Contains(out, "shop       order") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := run("get", "", true); err != nil || !strings.Contains(out, "Healthy") {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}
	out, err := run("set-image", "order=graylane/sample:2.0", false)
	if err != nil || !strings.Contains(out, `rollout shop/order: container "order" image graylane/sample:1.0 -> graylane/sample:2.0 (Release shop/shop spec.services[0]): the canary `) {
		t.Fatalf("set image: %v\n%s", err, out)
	}
	if out, err := run("abort", "", false); err != nil || !strings.HasPrefix(out, "rollout shop/order aborted: all traffic goes back to the stable") {
		t.Fatalf("abort: %v\n%s", err, out)
	}
	var api *adminapi.APIError
	if _, err := run("abort", "", false); !errors.As(err, &api) || api.Status != http.StatusConflict ||
		api.Message != "rollout shop/order: nothing to abort: the update is aborted already" {
		t.Errorf("abort twice: %v", err)
	}
	if _, err := run("set-image", "order=graylane/sample:2.0", false); err != nil {
		t.Errorf("set image again: %v", err)
	}
	var nf *adminapi.APIError
	if _, err := run("set-image", "nope=graylane/sample:3.0", false); !errors.As(err, &nf) || !strings.Contains(nf.Message, `Release shop/shop spec.services[0]: no container "nope": the service's container is "order"`) {
		t.Errorf("unknown container: %v", err)
	}
}

// `rollout get` says what became of a Rollout's canary-only properties.
func TestCanaryConfigLine(t *testing.T) {
	var b bytes.Buffer
	st := &adminapi.CanaryConfigStatus{Properties: []string{"a.b", "c"}, DataID: "order.yaml", Group: "DEFAULT_GROUP",
		State: "NotPublished", Message: "the rollout was aborted: nacos order.yaml (group DEFAULT_GROUP) not published"}
	if err := canaryConfigLine(&b, st); err != nil {
		t.Fatal(err)
	}
	if err := canaryConfigLine(&b, nil); err != nil {
		t.Fatal(err)
	}
	want := "canary config: NotPublished - the rollout was aborted: nacos order.yaml (group DEFAULT_GROUP) not published (a.b, c)\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}

	// lane get: one line per member with a canary configuration.
	b.Reset()
	st.Service, st.State, st.Message = "order", "Published", "published to nacos order.yaml (group DEFAULT_GROUP), created (md5 x)"
	if err := laneDetail(&b, adminapi.LaneStatus{Namespace: "shop", Name: "gray", CanaryConfig: []adminapi.CanaryConfigStatus{*st}}); err != nil {
		t.Fatal(err)
	}
	if want := "order canary config: Published - published to nacos order.yaml (group DEFAULT_GROUP), created (md5 x) (a.b, c)\n"; !strings.HasSuffix(b.String(), want) {
		t.Errorf("lane detail %q does not end with %q", b.String(), want)
	}
}

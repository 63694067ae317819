package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/embedded"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/manifest"
)

// A lane plan driven from the CLI's client: list and get show it paused at
// its first step; abort makes --wait fail with ErrLaneAborted; retry starts
// it again, promote moves it on and --wait returns once Promoted; a lane
// that does not exist is bad input.
func TestLaneWithCLI(t *testing.T) {
	shop, err := os.ReadFile("../../examples/lanes/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(shop) + `
---
apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members: [{service: order, workload: order-v2}, {service: logistics, workload: logistics-v2}]
  plan:
    judge: false
    steps: [{setWeight: 20}, {pause: {}}, {setWeight: 60}]
`
	set, err := manifest.LoadBytes("lanes.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	admin := startRuntime(t, graylaneBin, set)
	run := func(action, output string, wait bool) (string, error) {
		var out bytes.Buffer
		err := Lane(context.Background(), LaneOptions{Action: action, Name: "gray", Namespace: "shop", Admin: admin,
			Output: output, Wait: wait, Timeout: 30 * time.Second}, &out)
		return out.String(), err
	}
	waitPaused := func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, err := run("get", "json", false)
			if err != nil {
				t.Fatal(err)
			}
			var st embedded.LaneStatus
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatal(err)
			}
			if st.Phase == lane.Active && st.Plan != nil && st.Plan.Step == 1 && st.Weight == 20 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("never paused at weight 20: %s", out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitPaused()
	if out, err := run("list", "text", false); err != nil || !strings.Contains(out, "gray  Active  20      1/3") {
		t.Errorf("list: %v\n%s", err, out)
	}
	if out, err := run("abort", "text", false); err != nil || !strings.HasPrefix(out, "lane shop/gray aborted: every member goes back to its stable version\n") {
		t.Fatalf("abort: %v\n%s", err, out)
	}
	if out, err := run("get", "text", true); !errors.Is(err, ErrLaneAborted) || !strings.Contains(out, string(lane.Aborted)) {
		t.Fatalf("--wait after abort: %v, want ErrLaneAborted\n%s", err, out)
	}
	if _, err := run("retry", "text", false); err != nil {
		t.Fatal(err)
	}
	waitPaused()
	if _, err := run("promote", "text", false); err != nil {
		t.Fatal(err)
	}
	if out, err := run("get", "text", true); err != nil || !strings.Contains(out, string(lane.Promoted)) {
		t.Fatalf("--wait after promote: %v\n%s", err, out)
	}
	// A Promoted lane has nothing to abort or retry: refused (409) with
	// the reason, not an exit 0 that did nothing.
	for _, action := range []string{"abort", "retry"} {
		out, err := run(action, "text", false)
		var api *APIError
		if !errors.As(err, &api) || api.Status != http.StatusConflict ||
			!strings.Contains(api.Message, "lane shop/gray: the lane is Promoted (every member's lane version serves all traffic): nothing to "+action) {
			t.Errorf("%s on a Promoted lane: %v, want 409 saying why\n%s", action, err, out)
		}
	}
	var in *cli.InputError
	if err := Lane(context.Background(), LaneOptions{Action: "get", Name: "blue", Namespace: "shop", Admin: admin}, io.Discard); !errors.As(err, &in) {
		t.Errorf("unknown lane: %v, want an input error", err)
	}
}

// `graylane lane get` prints labels as k=v (as `get workloads` does), never
// Go's map syntax.
func TestLaneDetailText(t *testing.T) {
	st := embedded.LaneStatus{Name: "gray", Namespace: "shop", Phase: lane.Active, Weight: 50, Fallback: "base",
		Modes: []string{"header", "baggage"},
		Members: []lane.Member{{Service: "order", LaneSubset: "graylane-gray", StableSubset: "stable",
			LaneLabels: map[string]string{"version": "v2", "track": "lane"}, StableLabels: map[string]string{"version": "v1"}}},
		Analysis: []embedded.AnalysisStatus{{Kind: "background", Member: "order", Phase: "Running"}},
	}
	var out bytes.Buffer
	if err := laneDetail(&out, st); err != nil {
		t.Fatal(err)
	}
	want := `NAMESPACE  NAME  PHASE   WEIGHT  STEP  MEMBERS  FALLBACK  MESSAGE
shop       gray  Active  50      -     order    base      

propagation: header, baggage
  order        lane subset graylane-gray {track=lane,version=v2}   stable subset stable {version=v1}
analysis background (order): Running
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("lane get (-want +got):\n%s", diff)
	}
}

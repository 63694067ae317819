package embedded

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/bucket"
	"github.com/graylane/graylane/internal/expand"
	"github.com/graylane/graylane/internal/judge"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/plan"
	"github.com/graylane/graylane/internal/route"
	"github.com/graylane/graylane/internal/simulate"
)

const (
	lanePath = "order(v2) -> payment(v1) -> logistics(v2)"
	basePath = "order(v1) -> payment(v1) -> logistics(v1)"
)

// laneShop copies examples/lanes into a temporary folder with lane.yaml
// replaced.
func laneShop(t *testing.T, laneYAML string) string {
	t.Helper()
	return laneShopWith(t, laneYAML, nil)
}

// laneShopWith is laneShop with shop.yaml edited first.
func laneShopWith(t *testing.T, laneYAML string, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	shop, err := os.ReadFile("../../examples/lanes/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		shop = []byte(edit(string(shop)))
	}
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), shop, 0o644); err != nil {
		t.Fatal(err)
	}
	if laneYAML == "" {
		b, err := os.ReadFile("../../examples/lanes/lane.yaml")
		if err != nil {
			t.Fatal(err)
		}
		laneYAML = string(b)
	}
	if err := os.WriteFile(filepath.Join(dir, "lane.yaml"), []byte(laneYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// inLane reports whether the lane's percentage admits a user at a weight.
func inLane(name, user string, weight int32) bool {
	return int32(bucket.LaneRanks(name)[bucket.Of(user)]) < weight
}

// parallel sends n requests from 8 workers; send gets the request number.
func parallel(n int, send func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				send(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// TestLaneLooseFallback: at a 50% lane weight over 10,000 requests of
// 2,000 users, lane requests go order v2 -> payment v1 -> logistics v2 and
// the others see v1 everywhere; every request is where the user's bucket
// says; and `graylane simulate` on the compiled objects finds the same
// two paths.
func TestLaneLooseFallback(t *testing.T) {
	dir := laneShop(t, "")
	r := start(t, []string{dir})
	var mu sync.Mutex
	wrong := map[string]int{}
	paths := map[string]int{}
	parallel(10000, func(i int) {
		user := fmt.Sprintf("user-%d", i%2000)
		code, body, err := r.try(false, "shop.example", "x-user-id", user)
		want := basePath
		if inLane("gray", user, 50) {
			want = lanePath
		}
		mu.Lock()
		defer mu.Unlock()
		got := fmt.Sprintf("%d %s", code, body)
		if err != nil || got != "200 "+want {
			wrong[fmt.Sprintf("%s: got %q, want %q (err %v)", user, got, want, err)]++
		}
		paths[body]++
	})
	if len(wrong) > 0 {
		t.Fatalf("%d kinds of requests left their lane: %v", len(wrong), wrong)
	}
	if n := paths[lanePath]; n < 4000 || n > 6000 {
		t.Errorf("lane requests: %d of 10000, want about 5000: %v", n, paths)
	}

	// The simulator on the same compiled objects finds the same paths.
	set := mustLoad(t, dir)
	lanes, err := expand.Manifests(set)
	if err != nil {
		t.Fatal(err)
	}
	svcs, workloads := expand.Inventory(lanes.Set)
	table := route.Compile(expand.RouteInput(lanes.Set))
	opts := simulate.Options{
		Entry:     route.Request{Authority: "shop.example", Path: "/", Method: "GET", Port: 80, Source: route.Source{Gateway: "shop/shop-gateway"}},
		Calls:     map[string][]string{"order": {"payment"}, "payment": {"logistics"}},
		Propagate: []string{"x-graylane"}, Requests: 2000, Seed: 1,
	}
	lanes.SimulateOptions(&opts, time.Now())
	rep, err := simulate.Run(table, svcs, workloads, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OffLaneFraction != 0 || rep.MixedFraction != 0 {
		t.Errorf("simulate: offLane %v, mixed %v: %+v", rep.OffLaneFraction, rep.MixedFraction, rep.Paths)
	}
	simulated := map[string]bool{}
	for _, p := range rep.Paths {
		simulated[strings.NewReplacer(":v", "(v", " ->", ") ->").Replace(p.Path)+")"] = true
	}
	if !simulated[lanePath] || !simulated[basePath] || len(simulated) != 2 {
		t.Errorf("simulate found %v, the runtime %v", simulated, paths)
	}
}

// TestLaneStrict: in strict mode the lane request to payment (which has no
// lane version) is refused with 503 and a body naming lane and service.
func TestLaneStrict(t *testing.T) {
	strict := strings.Replace(strings.Replace(readLane(t), "fallback: base", "fallback: strict", 1), "weight: 50", "weight: 0", 1)
	r := start(t, []string{laneShop(t, strict)})
	code, body := r.get(t, true, "payment.shop:8080", "x-graylane", "gray")
	if code != lane.StrictStatus || !strings.Contains(body, "lane gray has no version of payment") {
		t.Errorf("mesh lane request to payment: %d %q, want 503 naming the lane", code, body)
	}
	code, body = r.get(t, false, "shop.example", "x-canary", "true")
	if code != 502 || !strings.Contains(body, "lane gray has no version of payment") {
		t.Errorf("gateway lane request: %d %q, want order's 502 carrying payment's refusal", code, body)
	}
	if code, body := r.get(t, false, "shop.example"); code != 200 || body != basePath {
		t.Errorf("non-lane request: %d %q, want %q", code, body, basePath)
	}
}

func readLane(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/lanes/lane.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLaneSpoofedHeader: a lane header from outside is removed unless it
// is signed with the runtime's lane key.
func TestLaneSpoofedHeader(t *testing.T) {
	key := []byte("a-lane-key-for-tests-0123456789")
	noPct := strings.Replace(readLane(t), "weight: 50", "weight: 0", 1)
	r := startWith(t, func(o *Options) { o.LaneKey = key }, []string{laneShop(t, noPct)})
	tests := []struct {
		name, value, want string
	}{
		{"spoofed", "gray", basePath},
		{"wrong key", lane.Sign([]byte("another-key-0123456789"), "gray", time.Now().Add(time.Hour)), basePath},
		{"expired", lane.Sign(key, "gray", time.Now().Add(-time.Minute)), basePath},
		{"signed", lane.Sign(key, "gray", time.Now().Add(time.Hour)), lanePath},
	}
	for _, tt := range tests {
		code, body := r.get(t, false, "shop.example", "x-graylane", tt.value, "baggage", "x-graylane=gray")
		if code != 200 || body != tt.want {
			t.Errorf("%s: %d %q, want %q", tt.name, code, body, tt.want)
		}
	}
}

// grayLane is lane gray over order v2 and logistics v2; the constants
// below add its entry and plan.
const grayLane = `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members:
  - {service: order, workload: order-v2}
  - {service: logistics, workload: logistics-v2}
`

// planLane steps through 10, 30 and 50 percent and waits at each. The
// judge is off: it compares the lane's latency with the base's, and on a
// machine loaded many times over a difference can be real enough for it
// to roll the lane back mid-test; TestLaneJudge tests the judge.
const planLane = grayLane + `  plan:
    judge: false
    steps:
    - setWeight: 10
    - pause: {}
    - setWeight: 30
    - pause: {}
    - setWeight: 50
    - pause: {}
`

// waitLane waits until the only lane satisfies ok; the deadline bounds a
// hang, not a slow machine.
func waitLane(t *testing.T, rt *Runtime, what string, ok func(LaneStatus) bool) LaneStatus {
	t.Helper()
	return waitLaneFor(t, rt, 2*time.Minute, what, ok)
}

func waitLaneFor(t *testing.T, rt *Runtime, d time.Duration, what string, ok func(LaneStatus) bool) LaneStatus {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ls := rt.Lanes()
		if len(ls) == 1 && ok(ls[0]) {
			return ls[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("lane not %s after %s: %+v", what, d, ls)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLaneStickyWeights: while the plan raises the weight 10 -> 30 -> 50,
// no user flips within a step, and raising the weight only adds users.
func TestLaneStickyWeights(t *testing.T) {
	r := start(t, []string{laneShop(t, planLane)})
	var before map[string]bool
	for i, w := range []int32{10, 30, 50} {
		waitLane(t, r.rt, fmt.Sprintf("at weight %d", w), func(s LaneStatus) bool { return s.Weight == w && s.Plan.Phase == plan.Paused })
		var mu sync.Mutex
		seen := map[string]string{}
		flips := 0
		parallel(1000, func(n int) {
			user := fmt.Sprintf("user-%d", n%300)
			_, body, _ := r.try(false, "shop.example", "x-user-id", user)
			mu.Lock()
			defer mu.Unlock()
			if prev, ok := seen[user]; ok && prev != body {
				flips++
			}
			seen[user] = body
		})
		if ls := r.rt.Lanes(); len(ls) != 1 || ls[0].Weight != w || ls[0].Plan == nil || ls[0].Plan.Phase != plan.Paused {
			t.Fatalf("weight %d: the lane left the step while it was measured: %+v", w, ls)
		}
		if flips > 0 {
			t.Errorf("weight %d: %d requests flipped version", w, flips)
		}
		in := map[string]bool{}
		for u, body := range seen {
			if body == lanePath {
				in[u] = true
			} else if body != basePath {
				t.Errorf("weight %d: %s got %q", w, u, body)
			}
		}
		for u := range before {
			if !in[u] {
				t.Errorf("raising the weight to %d moved %s out of the lane", w, u)
			}
		}
		if got := len(in); got < int(w)*300/100-30 || got > int(w)*300/100+30 {
			t.Errorf("weight %d: %d of 300 users in the lane", w, got)
		}
		before = in
		if i < 2 {
			if _, err := r.rt.LaneCommand("shop", "gray", plan.Promote); err != nil {
				t.Fatal(err)
			}
		}
	}
}

const failingLane = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: lane-success, namespace: shop}
spec:
  args: [{name: service}, {name: lane-version}]
  metrics:
  - name: success-rate
    initialDelay: 2s
    interval: 1s
    successCondition: len(result) == 0 || result[0] >= 0.95
    provider:
      prometheus:
        query: |
          sum(rate(istio_requests_total{reporter="destination",destination_service_name="{{args.service}}",destination_version="{{args.lane-version}}",response_code!~"5.*"}[5s]))
          /
          sum(rate(istio_requests_total{reporter="destination",destination_service_name="{{args.service}}",destination_version="{{args.lane-version}}"}[5s]))
---
` + grayLane + `  entry:
    headers: [{name: x-canary, exact: "true"}]
  plan:
    steps:
    - setWeight: 50
    - pause: {}
    analysis:
      templates: [{templateName: lane-success}]
`

// TestLaneWideRollback: one member's lane version answering 500 to 10% of
// its requests fails the lane's analysis, and every member goes back to
// stable together: lane requests then see v1 everywhere. The analysis
// measures until the plan ends and the plan waits in an indefinite pause:
// only a measured success rate below 0.95 ends it.
func TestLaneWideRollback(t *testing.T) {
	dir := laneShopWith(t, failingLane, withErrors("0.1"))
	r := start(t, []string{dir})
	stop := gatewayLoad(r, "x-canary", "true")
	aborted := waitLaneProgress(t, r.rt, "aborted", func(s LaneStatus) bool { return s.Phase == lane.Aborted })
	stop()
	if aborted.Plan == nil || !strings.Contains(aborted.Plan.Message, `metric "success-rate" assessed Failed`) {
		t.Errorf("aborted lane: %+v", aborted.Plan)
	}
	if rate := failedSuccessRate(t, aborted.Analysis); rate >= 0.95 {
		t.Errorf("the failed measurement's success rate is %v, want one below 0.95", rate)
	}
	got := count(t, 100, func() (int, string) { return r.get(t, false, "shop.example", "x-canary", "true") })
	if got["200 "+basePath] != 100 {
		t.Errorf("lane requests after the rollback: %v, want all %q", got, basePath)
	}
}

// judgedLane's plan stops in an indefinite pause at 50%: only the judge's
// verdicts (or a promote) move it, and a verdict that waits for traffic
// never decides anything.
const judgedLane = grayLane + `  plan:
    steps:
    - setWeight: 50
    - pause: {}
`

// withErrors gives logistics v2 an error rate.
func withErrors(rate string) func(string) string {
	return func(shop string) string {
		i := strings.Index(shop, "name: logistics-v2")
		j := i + strings.Index(shop[i:], "          value: v2\n") + len("          value: v2\n")
		return shop[:j] + "        - name: error_rate\n          value: \"" + rate + "\"\n" + shop[j:]
	}
}

// gatewayLoad sends gateway requests with the given headers from 4
// workers until the returned function is called (anonymous ones: half of
// them enter the lane at weight 50).
func gatewayLoad(r *running, headers ...string) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _, _ = r.try(false, "shop.example", headers...)
			}
		}()
	}
	return func() { close(stop); wg.Wait() }
}

// TestLaneJudge: with no analysis named, the plan runs the Graylane judge
// for every member. A lane whose logistics v2 fails 5% of its requests is
// rolled back, all members together, with the judge's evidence in status;
// an identical lane gets a Successful verdict for every member, on traffic
// of both versions, and is promoted.
func TestLaneJudge(t *testing.T) {
	t.Run("failing", func(t *testing.T) {
		r := start(t, []string{laneShopWith(t, judgedLane, withErrors("0.05"))})
		stop := gatewayLoad(r)
		aborted := waitLaneProgress(t, r.rt, "aborted", func(s LaneStatus) bool { return s.Phase == lane.Aborted })
		stop()
		if aborted.Plan == nil || !strings.Contains(aborted.Plan.Message, "judge") {
			t.Errorf("aborted: %+v", aborted.Plan)
		}
		// logistics fails, or order, its caller, whose lane version answers
		// logistics' errors: whichever the judge saw first, on data.
		failed := false
		for _, a := range aborted.Analysis {
			if a.Phase != "Failed" {
				continue
			}
			ev := lastEvidence(t, RolloutStatus{Analysis: []AnalysisStatus{a}}, judge.Failed)
			if ev.Canary.Requests < judge.DefaultMinRequests || ev.Stable.Requests < judge.DefaultMinRequests || ev.Canary.Errors == 0 {
				t.Errorf("%s failed without the traffic that shows it: %+v", a.Member, ev)
			}
			failed = true
		}
		if !failed {
			t.Errorf("no failed member analysis with evidence in status: %+v", aborted.Analysis)
		}
		if code, body := r.get(t, false, "shop.example", "x-user-id", userInLane(t)); code != 200 || body != basePath {
			t.Errorf("after the rollback a lane user gets %d %q", code, body)
		}
	})
	t.Run("identical", func(t *testing.T) {
		r := start(t, []string{laneShop(t, judgedLane)})
		stop := gatewayLoad(r)
		judged := waitLaneProgress(t, r.rt, "judged successful for every member", func(s LaneStatus) bool {
			return len(s.Analysis) == 2 && allJudged(s.Analysis, judge.Successful)
		})
		stop()
		if judged.Phase != lane.Active {
			t.Fatalf("identical lane ended %s before the promote: %+v", judged.Phase, judged.Plan)
		}
		for _, a := range judged.Analysis {
			ev := lastEvidence(t, RolloutStatus{Analysis: []AnalysisStatus{a}}, judge.Successful)
			if ev.Canary.Requests < judge.DefaultMinRequests || ev.Stable.Requests < judge.DefaultMinRequests {
				t.Errorf("%s judged successful without the traffic the judge needs on both versions: %+v", a.Member, ev)
			}
		}
		if _, err := r.rt.LaneCommand("shop", "gray", plan.Promote); err != nil {
			t.Fatal(err)
		}
		if promoted := waitLane(t, r.rt, "promoted", func(s LaneStatus) bool { return s.Phase != lane.Active }); promoted.Phase != lane.Promoted {
			t.Fatalf("identical lane ended %s: %+v", promoted.Phase, promoted.Plan)
		}
		if code, body := r.get(t, false, "shop.example"); code != 200 || body != lanePath {
			t.Errorf("after the promotion everyone should get the lane versions: %d %q", code, body)
		}
	})
}

// allJudged reports whether every run has a measurement of phase p.
func allJudged(runs []AnalysisStatus, p judge.Phase) bool {
	for _, a := range runs {
		if !hasMeasurement(RolloutStatus{Analysis: []AnalysisStatus{a}}, p) {
			return false
		}
	}
	return true
}

func userInLane(t *testing.T) string {
	t.Helper()
	for i := range 1000 {
		if u := fmt.Sprintf("user-%d", i); inLane("gray", u, 50) {
			return u
		}
	}
	t.Fatal("no user in the lane")
	return ""
}

// TestReleaseRunsLocally: a Release runs as the set it renders to — the
// same objects `graylane render` writes for a cluster.
func TestReleaseRunsLocally(t *testing.T) {
	r := start(t, []string{"../../examples/kubernetes/seed001.yaml"})
	waitRollout(t, r.rt, "healthy", func(s RolloutStatus) bool {
		return s.Namespace == "shop" && s.Name == "order" && s.Phase == plan.Healthy && s.Stable.Ready == 4
	})
	if code, body := r.get(t, true, "order.shop:8080"); code != 200 || body != "sample(1.0)" {
		t.Errorf("order.shop: %d %q", code, body)
	}
}

// TestLaneAnonymousSticky: with a lane key, an anonymous client gets a
// signed bucket cookie on its first request and stays on one path with it.
func TestLaneAnonymousSticky(t *testing.T) {
	r := startWith(t, func(o *Options) { o.LaneKey = []byte("a-lane-key-for-tests-0123456789") }, []string{laneShop(t, "")})
	get := func(cookie string) (string, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+r.gateway+"/", nil)
		req.Host = "shop.example"
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b)), resp.Header.Get("Set-Cookie")
	}
	inLane := 0
	for client := range 40 {
		body, set := get("")
		if !strings.HasPrefix(set, lane.BucketCookie+"=") {
			t.Fatalf("client %d: no bucket cookie set (Set-Cookie %q)", client, set)
		}
		cookie := strings.SplitN(set, ";", 2)[0]
		for range 10 {
			again, set := get(cookie)
			if again != body || set != "" {
				t.Fatalf("client %d: %q then %q (Set-Cookie %q)", client, body, again, set)
			}
		}
		if body == lanePath {
			inLane++
		}
	}
	if inLane < 8 || inLane > 32 {
		t.Errorf("%d of 40 anonymous clients in the lane at weight 50", inLane)
	}
}

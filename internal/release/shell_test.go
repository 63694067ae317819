package release

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/measure"
)

// The consumer's side of the Controller, in memory: what the tests of
// this package run it with instead of a runtime or a cluster.

// testClock is a clock the test moves. After's channels receive once the
// test has moved the clock past their deadline.
type testClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	// slept receives at every After: a measuring goroutine is waiting.
	slept chan struct{}
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), slept: make(chan struct{}, 64)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	c.mu.Unlock()
	c.slept <- struct{}{}
	return ch
}

// advance moves the clock by d and wakes the waiters it passed.
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// memPods holds replica counts per Rollout and hash; replicas become
// ready when the test says so.
type memPods struct {
	mu   sync.Mutex
	sets map[string]map[string]*memSet // by Ref.Key, hash
	// laneReady is what LaneReady answers for every lane.
	laneReady bool
}

type memSet struct {
	total, ready int32
}

func newMemPods() *memPods { return &memPods{sets: map[string]map[string]*memSet{}} }

func (p *memPods) Replicas(ro Ref, hash string) (int32, int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.sets[ro.Key()][hash]; s != nil {
		return s.total, s.ready
	}
	return 0, 0
}

func (p *memPods) Hashes(ro Ref) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.sets[ro.Key()]))
}

func (p *memPods) Scale(_ context.Context, ro Ref, rs ReplicaSet) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sets[ro.Key()] == nil {
		p.sets[ro.Key()] = map[string]*memSet{}
	}
	s := p.sets[ro.Key()][rs.Hash]
	if s == nil {
		if rs.Template == nil && rs.Replicas > 0 {
			return false, fmt.Errorf("scale %s without a template", rs.Hash)
		}
		s = &memSet{}
		p.sets[ro.Key()][rs.Hash] = s
	}
	changed := s.total != rs.Replicas
	s.total = rs.Replicas
	s.ready = min(s.ready, s.total)
	if s.total == 0 && !rs.Active {
		delete(p.sets[ro.Key()], rs.Hash)
	}
	return changed, nil
}

func (p *memPods) LaneReady(*lane.Resolved) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.laneReady
}

// allReady makes every replica of the Rollout ready.
func (p *memPods) allReady(ro Ref) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sets[ro.Key()] {
		s.ready = s.total
	}
}

// memObjects are the AnalysisTemplates, by "ns/name".
type memObjects map[string]*rolloutsv1alpha1.AnalysisTemplateSpec

func (o memObjects) AnalysisTemplate(ns string, ref rolloutsv1alpha1.AnalysisTemplateRef) *rolloutsv1alpha1.AnalysisTemplateSpec {
	if ref.ClusterScope {
		return nil
	}
	return o[ns+"/"+ref.TemplateName]
}

// promServer is a Prometheus query API on loopback answering every
// instant query with one sample of the value the test sets.
type promServer struct {
	*httptest.Server
	mu      sync.Mutex
	value   float64
	queries []string
}

func newPromServer(t *testing.T, value float64) *promServer {
	p := &promServer{value: value}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		p.mu.Lock()
		p.queries = append(p.queries, r.FormValue("query"))
		v := p.value
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"%g"]}]}}`, time.Now().Unix(), v)
	}))
	t.Cleanup(p.Close)
	return p
}

// sent are the queries the server answered.
func (p *promServer) sent() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.queries)
}

// Measurer measures with the real measure.Measurer against the server.
func (p *promServer) Measurer(context.Context, string, []rolloutsv1alpha1.Metric) (Measurer, func()) {
	c := p.Client()
	return &measure.Measurer{PrometheusAddress: p.URL, Client: c}, c.CloseIdleConnections
}

// events counts what the runs report.
type events struct {
	measured, decided chan struct{}
}

func newEvents() *events {
	return &events{measured: make(chan struct{}, 256), decided: make(chan struct{}, 256)}
}

func (e *events) Measured() { e.measured <- struct{}{} }
func (e *events) Decided()  { e.decided <- struct{}{} }

// wait returns once ch receives. The bound only turns a hang into a
// failure: on a loaded machine every wait here ends in milliseconds.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s: not after 2 minutes", what)
	}
}

// env is a Controller with its in-memory consumer side.
type env struct {
	c      *Controller
	clock  *testClock
	pods   *memPods
	prom   *promServer
	events *events
	ctx    context.Context
	cancel context.CancelFunc
}

func newEnv(t *testing.T, objs memObjects, prom *promServer, clock *testClock) *env {
	e := &env{clock: clock, pods: newMemPods(), prom: prom, events: newEvents()}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	t.Cleanup(e.cancel)
	e.c = New(Config{Objects: objs, Pods: e.pods, Metrics: prom, Events: e.events, Clock: clock})
	return e
}

func (e *env) reconcile(t *testing.T) {
	t.Helper()
	if _, _, err := e.c.Reconcile(e.ctx); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
}

func rolloutYAML(t *testing.T, doc string) *rolloutsv1alpha1.Rollout {
	t.Helper()
	var ro rolloutsv1alpha1.Rollout
	if err := yaml.UnmarshalStrict([]byte(doc), &ro); err != nil {
		t.Fatal(err)
	}
	return &ro
}

func template(t *testing.T, doc string) *rolloutsv1alpha1.AnalysisTemplateSpec {
	t.Helper()
	var at rolloutsv1alpha1.AnalysisTemplate
	if err := yaml.UnmarshalStrict([]byte(doc), &at); err != nil {
		t.Fatal(err)
	}
	return &at.Spec
}

// withImage is a copy of ro running image: a new pod template.
func withImage(ro *rolloutsv1alpha1.Rollout, image string) *rolloutsv1alpha1.Rollout {
	out := ro.DeepCopy()
	out.Spec.Template.Spec.Containers[0].Image = image
	return out
}

// look is the part of a Rollout a test checks, its replicas as the
// consumer holds them.
type look struct {
	Phase                    string
	Step                     int
	Weight                   int32
	Stable, Canary           string // image of the stable's and the canary's template
	StableReplicas, Canaries int32
	Aborted                  bool
	Analysis                 []string // kind/step phase (measurements)
}

func (e *env) look(t *testing.T, ref Ref) look {
	t.Helper()
	v, ok := e.c.Rollout(ref)
	if !ok {
		t.Fatalf("%s not run", ref.Key())
	}
	st := v.Status
	image := func(hash string) string {
		if tpl := e.c.rollouts[ref.Key()].templates[hash]; tpl != nil {
			return tpl.Spec.Containers[0].Image
		}
		return ""
	}
	l := look{Phase: string(st.Phase), Step: st.StepIndex, Weight: st.CanaryWeight, Stable: image(st.StableHash), Aborted: st.Aborted}
	l.StableReplicas, _ = e.pods.Replicas(ref, st.StableHash)
	if st.CanaryHash != st.StableHash {
		l.Canary = image(st.CanaryHash)
		l.Canaries, _ = e.pods.Replicas(ref, st.CanaryHash)
	}
	for _, a := range v.Analysis {
		n := 0
		for _, m := range a.Metrics {
			n += len(m.Measurements)
		}
		l.Analysis = append(l.Analysis, fmt.Sprintf("%s/%d %s (%d)", a.Kind, a.Step, a.Phase, n))
	}
	return l
}

// jsonRoundTrip is s as a restart reads it back.
func jsonRoundTrip(t *testing.T, s State) State {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out State
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

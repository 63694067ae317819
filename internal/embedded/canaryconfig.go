package embedded

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/canaryconfig"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/release"
	"github.com/graylane/graylane/internal/rollouttraffic"
)

// The runtime's side of canary configuration (internal/canaryconfig): a
// Rollout rendered from a Release service with canaryConfig runs the
// properties as environment variables of its canary template; once the
// Rollout is fully promoted they are published to Nacos - the one
// Options.CanaryNacos names, else the local one of Options.Nacos - and
// after an abort nothing is. What was done is kept per Rollout (and in the
// state file: a restart does not publish again) and shown in the
// Rollout's status (adminapi.RolloutStatus.CanaryConfig).

// States of a canary configuration.
const (
	// canaryPending: the Rollout is not fully promoted or aborted yet.
	canaryPending = "Pending"
	// canaryPublished: published after the full promotion (final).
	canaryPublished = "Published"
	// canaryNotPublished: the Rollout was aborted; nothing was published
	// (final for that template, until it is retried and promoted).
	canaryNotPublished = "NotPublished"
	// canaryFailed: publishing failed; tried again after canaryRetry.
	canaryFailed = "Failed"
	// canaryNoNacos: fully promoted, but the runtime has no Nacos to
	// publish to; published when it runs with one.
	canaryNoNacos = "NoNacos"
)

// canaryRetry is how long a failed publish waits before it is tried again.
const canaryRetry = 5 * time.Second

// canaryRecord is what was done with a Rollout's canary configuration for
// one pod template hash.
type canaryRecord struct {
	Hash    string    `json:"hash"`
	State   string    `json:"state"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// canaryConfigs is the runtime's canary configuration publisher. Guarded
// by r.mu.
type canaryConfigs struct {
	// connect opens the Nacos to publish to; nil: none.
	connect  canaryconfig.Connect
	server   string
	records  map[string]*canaryRecord // by "Rollout ns/name"
	inflight map[string]bool
	// publishing counts the publishes under way: the runtime's cleanup
	// waits for them (they end with its context). stopping, set by
	// cleanup under r.mu before it waits, starts no more (Add never
	// races Wait).
	publishing sync.WaitGroup
	stopping   bool
}

// setupCanaryConfigs chooses the Nacos publishes go to: Options.CanaryNacos
// when it names a server, else the local registry when the runtime
// serves one, else none. Called by Run after the local Nacos started.
func (r *Runtime) setupCanaryConfigs() {
	o := r.opts.CanaryNacos
	if o.Server == "" && r.nacos != nil {
		o.Server = "http://" + r.nacos.HTTPAddr()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.canary.records == nil {
		r.canary.records = map[string]*canaryRecord{}
	}
	r.canary.inflight = map[string]bool{}
	if o.Server != "" {
		r.canary.connect, r.canary.server = canaryconfig.NacosConnect(o), o.Server
	}
}

// restoreCanaryConfigs takes the records a previous run saved.
func (r *Runtime) restoreCanaryConfigs(saved map[string]*canaryRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.canary.records = maps.Clone(saved)
	if r.canary.records == nil {
		r.canary.records = map[string]*canaryRecord{}
	}
}

// canaryItem is one canary configuration and what to do with it now: a
// Rollout's ("Rollout ns/name") or a lane member's ("Lane ns/name
// member SERVICE").
type canaryItem struct {
	key string
	d   canaryconfig.Decision
}

// canaryItems decides for every Rollout with a canary configuration, and
// every member with one of a lane with a plan. Called with r.mu held.
func (r *Runtime) canaryItems() []canaryItem {
	var out []canaryItem
	for _, v := range r.release.Rollouts() {
		if v.Object.Annotations[v1alpha1.CanaryConfigAnnotation] == "" {
			continue // no canary configuration: nothing to decide (or hash)
		}
		key := v.Key()
		obs := canaryconfig.Observation{Phase: string(v.Status.Phase), StableHash: v.Status.StableHash,
			CurrentHash: rollouttraffic.TemplateHash(&v.Object.Spec.Template), Aborted: v.Status.Aborted}
		d, err := canaryconfig.Decide(v.Object, obs)
		if err != nil {
			r.noteOnce(key+" canary config "+obs.CurrentHash, "%s: canary configuration: %v", key, err)
			continue
		}
		if cs := v.Object.Spec.Template.Spec.Containers; d.Config != nil && len(cs) > 1 && d.Config.Container != cs[0].Name {
			r.noteOnce(key+" canary config container", "%s: the canary configuration's variables are on container %q, which graylane up does not run (it runs the first container, %q)", key, d.Config.Container, cs[0].Name)
		}
		out = append(out, canaryItem{key, d})
	}
	for _, l := range r.release.Lanes() {
		if l.Lane.Spec.Plan == nil {
			continue
		}
		hash := laneRunHash(l.Lane.Spec)
		for _, m := range l.Lane.Spec.Members {
			if m.CanaryConfig != nil {
				d := canaryconfig.DecideLane(m.CanaryConfig, l.State.Phase == lane.Promoted, l.State.Phase == lane.Aborted, hash)
				out = append(out, canaryItem{laneCanaryKey(l.Key, m.Service), d})
			}
		}
	}
	return out
}

func laneCanaryKey(lane, service string) string { return "Lane " + lane + " member " + service }

// laneRunHash identifies a lane's plan run: a changed Lane starts its plan
// again, and publishes again when promoted again.
func laneRunHash(spec *v1alpha1.LaneSpec) string {
	b, _ := json.Marshal(spec) // plain data: it cannot fail
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 36)
}

// reconcileCanaryConfigs decides, for every canary configuration, whether
// to publish it now, and starts the publishes. Called with r.mu held.
func (r *Runtime) reconcileCanaryConfigs(ctx context.Context) {
	now := time.Now()
	for _, it := range r.canaryItems() {
		key, d := it.key, it.d
		if r.canary.inflight[key] {
			continue
		}
		rec := r.canary.records[key]
		same := rec != nil && rec.Hash == d.Hash
		switch d.Action {
		case canaryconfig.ActionDiscard:
			if !same || rec.State != canaryNotPublished {
				r.canary.records[key] = &canaryRecord{Hash: d.Hash, State: canaryNotPublished, Message: d.Reason, At: now}
				r.log.Warn("canary configuration not published", "object", key, "reason", d.Reason)
			}
		case canaryconfig.ActionPublish:
			switch {
			case same && rec.State == canaryPublished:
			case same && rec.State == canaryFailed && now.Sub(rec.At) < canaryRetry:
			case r.canary.connect == nil:
				if !same || rec.State != canaryNoNacos {
					msg := "fully promoted, but there is no Nacos to publish to: run graylane up with --nacos or --nacos-server URL"
					r.canary.records[key] = &canaryRecord{Hash: d.Hash, State: canaryNoNacos, Message: msg, At: now}
					r.log.Warn("canary configuration not published", "object", key, "reason", msg)
				}
			case ctx.Err() != nil || r.canary.stopping:
			default:
				r.canary.inflight[key] = true
				r.canary.publishing.Add(1)
				go r.publishCanary(ctx, key, d)
			}
		}
	}
}

// publishCanary publishes a fully promoted Rollout's canary configuration
// (without r.mu: it waits on Nacos) and records the outcome.
func (r *Runtime) publishCanary(ctx context.Context, key string, d canaryconfig.Decision) {
	defer r.canary.publishing.Done()
	rec := &canaryRecord{Hash: d.Hash}
	res, err := r.publishTo(ctx, d)
	if err != nil {
		rec.State, rec.Message = canaryFailed, err.Error()
		r.log.Error("canary configuration: publish failed", "object", key, "nacos", r.canary.server, "err", err)
	} else {
		rec.State, rec.Message = canaryPublished, res.String()
		r.log.Info("canary configuration published", "object", key, "nacos", r.canary.server, "result", res.String())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec.At = time.Now()
	delete(r.canary.inflight, key)
	r.canary.records[key] = rec
	r.saveState()
}

func (r *Runtime) publishTo(ctx context.Context, d canaryconfig.Decision) (canaryconfig.Result, error) {
	store, err := r.canary.connect(ctx, d.Config.Nacos.Namespace)
	if err != nil {
		return canaryconfig.Result{}, err
	}
	defer store.Close()
	return canaryconfig.Publish(ctx, store, d.Config)
}

// canaryStatus is what a Rollout's status shows of its canary
// configuration; nil without one. Called with r.mu held.
func (r *Runtime) canaryStatus(v release.RolloutView) *adminapi.CanaryConfigStatus {
	c, err := canaryconfig.Of(v.Object)
	if err != nil || c == nil {
		return nil
	}
	st := r.configStatus(c, v.Key(), rollouttraffic.TemplateHash(&v.Object.Spec.Template), "the canary", "the rollout is fully promoted")
	return &st
}

// laneCanaryStatus is what a lane's status shows of its members' canary
// configuration. Called with r.mu held.
func (r *Runtime) laneCanaryStatus(l release.LaneView) []adminapi.CanaryConfigStatus {
	var out []adminapi.CanaryConfigStatus
	hash := laneRunHash(l.Lane.Spec)
	for _, m := range l.Lane.Spec.Members {
		if m.CanaryConfig != nil {
			st := r.configStatus(m.CanaryConfig, laneCanaryKey(l.Key, m.Service), hash, "the lane version", "the lane is promoted")
			st.Service = m.Service
			out = append(out, st)
		}
	}
	return out
}

// configStatus is the status of canary configuration c, recorded under
// key: pending until a record for its hash says more. whose is where the
// variables are ("the canary"), when is when it is published.
func (r *Runtime) configStatus(c *v1alpha1.CanaryConfig, key, hash, whose, when string) adminapi.CanaryConfigStatus {
	st := adminapi.CanaryConfigStatus{Properties: slices.Sorted(maps.Keys(c.Properties)), State: canaryPending,
		Message: "environment variables of " + whose + "; published once " + when}
	if n := c.Nacos; n != nil {
		st.DataID, st.Group, st.Namespace = n.DataID, n.Group, n.Namespace
	} else {
		st.Message = "environment variables of " + whose + " only (no nacos target)"
	}
	if rec := r.canary.records[key]; rec != nil && rec.Hash == hash {
		st.State, st.Message = rec.State, rec.Message
	}
	return st
}

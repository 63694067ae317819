package embedded

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/plan"
)

// With --state-dir, the runtime keeps in <state-dir>/state.json what a
// Kubernetes API server keeps for the Argo Rollouts controller: the
// objects as applied (files, `apply --local`, `rollout set image`), and
// each Rollout's and lane plan's status (step, pause start, stable and
// canary hashes and pod templates, the analysis runs with their
// measurements). A runtime started again with the same folder - after a
// clean stop or a kill -9 - resumes every release where it was, as the
// controller does after a restart: no step is run twice, no analysis is
// skipped, a timed pause ends when it would have. The file is written
// (to a temporary file, then renamed) at every change.

// stateFileName is the state file in the state folder.
const stateFileName = "state.json"

// stateVersion is the state file's format.
const stateVersion = 1

// savedState is the state file.
type savedState struct {
	Version int `json:"version"`
	// Files is the digest of the manifest files (-f) as last applied: when
	// they changed while the runtime was stopped, they are applied again.
	Files    string                   `json:"files,omitempty"`
	Objects  []savedObject            `json:"objects"`
	Rollouts map[string]*savedRollout `json:"rollouts,omitempty"` // by "Rollout ns/name"
	Lanes    map[string]*savedLane    `json:"lanes,omitempty"`    // by "ns/name"
}

// savedObject is an applied object and where it came from.
type savedObject struct {
	File   string         `json:"file,omitempty"`
	Line   int            `json:"line,omitempty"`
	Object map[string]any `json:"object"`
}

// savedRollout is a Rollout's step machine and the pod templates of its
// stable and canary.
type savedRollout struct {
	Status        plan.Status                        `json:"status"`
	CanaryService string                             `json:"canaryService,omitempty"`
	Templates     map[string]*corev1.PodTemplateSpec `json:"templates,omitempty"`
	Analysis      []*savedAnalysis                   `json:"analysis,omitempty"`
}

// savedLane is a lane plan's step machine.
type savedLane struct {
	Status   plan.Status      `json:"status"`
	Analysis []*savedAnalysis `json:"analysis,omitempty"`
}

// savedAnalysis is an analysis set in progress: which step and canary it
// judges, and each run (analysis.Run as JSON; null: a run that did not
// start, started again on restore).
type savedAnalysis struct {
	Step    int               `json:"step"` // -1: background
	Hash    string            `json:"hash"`
	Members []string          `json:"members"`
	Runs    []json.RawMessage `json:"runs"`
}

// stateKeeper writes the state file and holds what the last run left
// until the first apply has restored it.
type stateKeeper struct {
	path    string      // "" when no state is kept (a temporary state folder)
	saved   *savedState // from the last run; its entries are taken as they are restored
	mu      sync.Mutex  // guards files
	files   string
	objGen  int // the store generation objects was made from
	objects []savedObject
	last    []byte // what was written last
}

// readState reads the state a previous run left in the state folder;
// nil when there is none (or no state folder was given).
func (k *stateKeeper) readState() (*savedState, error) {
	if k.path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(k.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state: %s: %w (remove it to start afresh)", k.path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("state: %s: format version %d, this graylane reads %d (remove it to start afresh)", k.path, s.Version, stateVersion)
	}
	return &s, nil
}

// applyStart applies the manifest files at start. Without a saved state
// that is all; with one, the saved objects are applied first (the
// Rollouts and lanes resume their saved status as they are created), and
// the files only when they changed since they were last applied - as the
// file watcher would have applied them.
func (r *Runtime) applyStart(files *manifest.Set) error {
	saved, err := r.state.readState()
	if err != nil {
		return err
	}
	digest := filesDigest(files)
	if saved == nil {
		if _, err := r.Apply(files); err != nil {
			return err
		}
		r.filesApplied(files)
		r.saveStateLocked()
		return nil
	}
	objs, err := saved.objectSet(files)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.state.saved = saved
	r.mu.Unlock()
	if _, err := r.Apply(objs); err != nil {
		return err
	}
	if saved.Files != digest {
		r.log.Info("state: the manifest files changed while graylane up was stopped: applying them")
		if _, err := r.Apply(files); err != nil {
			return err
		}
	}
	r.filesApplied(files)
	r.mu.Lock()
	r.state.saved = nil // what was not restored by now belongs to objects that are gone
	r.mu.Unlock()
	r.saveStateLocked()
	r.log.Info("state: resumed", "file", r.state.path, "objects", len(saved.Objects), "rollouts", len(saved.Rollouts), "lanes", len(saved.Lanes))
	return nil
}

// objectSet makes the saved objects a set to apply: an object the files
// hold unchanged is taken from them (with its positions), others are
// read from the state with the position they came from.
func (s *savedState) objectSet(files *manifest.Set) (*manifest.Set, error) {
	fromFiles := map[string]*manifest.Object{}
	for _, o := range files.Objects {
		fromFiles[objectKey(o)] = o
	}
	out := &manifest.Set{}
	for i, so := range s.Objects {
		b, err := json.Marshal(so.Object)
		if err != nil {
			return nil, fmt.Errorf("state: object %d: %w", i, err)
		}
		name := so.File
		if name == "" {
			name = stateFileName
		}
		set, err := manifest.LoadBytes(name, b)
		if err != nil {
			return nil, &cli.InputError{Err: fmt.Errorf("state: a saved object no longer loads (remove %s to start afresh): %w", stateFileName, err)}
		}
		if len(set.Objects) != 1 {
			continue // a kind this graylane does not keep
		}
		o := set.Objects[0]
		if f := fromFiles[objectKey(o)]; f != nil {
			if fb, err := json.Marshal(f.Raw); err == nil && bytes.Equal(fb, b) {
				o = f
			}
		}
		if o != fromFiles[objectKey(o)] {
			o.Pos = manifest.Position{File: so.File, Line: so.Line}
		}
		out.Objects = append(out.Objects, o)
	}
	return out, nil
}

// filesDigest identifies the objects of the manifest files.
func filesDigest(set *manifest.Set) string {
	h := sha256.New()
	for _, o := range set.Objects {
		b, _ := json.Marshal(o.Raw)
		h.Write([]byte(objectKey(o)))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// filesApplied records that the manifest files, as set holds them, were
// applied (at start and by the file watcher).
func (r *Runtime) filesApplied(set *manifest.Set) {
	d := filesDigest(set)
	r.state.mu.Lock()
	r.state.files = d
	r.state.mu.Unlock()
}

// saveStateLocked is saveState for callers not holding r.mu.
func (r *Runtime) saveStateLocked() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.saveState()
}

// saveState writes the state file when it changed. Called with r.mu held.
func (r *Runtime) saveState() {
	k := &r.state
	if k.path == "" {
		return
	}
	if k.objects == nil || k.objGen != r.store.gen {
		k.objGen, k.objects = r.store.gen, []savedObject{}
		for _, o := range r.store.list() {
			k.objects = append(k.objects, savedObject{File: o.Pos.File, Line: o.Pos.Line, Object: o.Raw})
		}
	}
	k.mu.Lock()
	s := savedState{Version: stateVersion, Files: k.files, Objects: k.objects, Rollouts: map[string]*savedRollout{}, Lanes: map[string]*savedLane{}}
	k.mu.Unlock()
	for key, ro := range r.rollouts {
		s.Rollouts[key] = ro.saved()
	}
	for key, lr := range r.lanes {
		if lr.res.Spec.Plan != nil {
			s.Lanes[key] = &savedLane{Status: lr.status, Analysis: savedSets(lr.stepRun, lr.bgRun)}
		}
	}
	if k.saved != nil {
		// Not restored yet (the first apply is under way): kept as they were.
		for key, sr := range k.saved.Rollouts {
			if s.Rollouts[key] == nil {
				s.Rollouts[key] = sr
			}
		}
		for key, sl := range k.saved.Lanes {
			if s.Lanes[key] == nil {
				s.Lanes[key] = sl
			}
		}
	}
	b, err := json.Marshal(&s)
	if err != nil {
		r.log.Error("state: encode", "err", err)
		return
	}
	if bytes.Equal(b, k.last) {
		return
	}
	if err := writeFileAtomic(k.path, b); err != nil {
		r.noteOnce("state write", "state: %v (a restart will not resume the releases)", err)
		return
	}
	k.last = b
}

// writeFileAtomic replaces path with b: a reader (or a restart after a
// kill) sees the old file or the new one, never a part.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*.json")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// saved is the Rollout's state to keep.
func (ro *rollout) saved() *savedRollout {
	s := &savedRollout{Status: ro.status, CanaryService: ro.canarySvc, Templates: map[string]*corev1.PodTemplateSpec{},
		Analysis: savedSets(ro.stepRun, ro.bgRun)}
	for _, h := range []string{ro.status.StableHash, ro.status.CanaryHash} {
		if t := ro.templates[h]; t != nil {
			s.Templates[h] = t
		}
	}
	return s
}

// savedSets are the analysis sets in progress (a stopped set is shown,
// not resumed).
func savedSets(sets ...*analysisSet) []*savedAnalysis {
	var out []*savedAnalysis
	for _, a := range sets {
		if a == nil || len(a.runs) > 0 && a.runs[0].isStopped() {
			continue
		}
		sa := &savedAnalysis{Step: a.step, Hash: a.hash, Members: a.members}
		for _, run := range a.runs {
			sa.Runs = append(sa.Runs, run.savedRun())
		}
		out = append(out, sa)
	}
	return out
}

// takeRollout returns the saved state of a Rollout being created, when
// it can be restored (its stable's and canary's templates are known),
// and forgets it.
func (k *stateKeeper) takeRollout(key string, log func(msg string, args ...any)) *savedRollout {
	if k.saved == nil || k.saved.Rollouts[key] == nil {
		return nil
	}
	s := k.saved.Rollouts[key]
	delete(k.saved.Rollouts, key)
	for _, h := range []string{s.Status.StableHash, s.Status.CanaryHash} {
		if h != "" && s.Templates[h] == nil {
			log("state: cannot resume the Rollout (the pod template of a saved hash is missing); it starts afresh", "rollout", key, "hash", h)
			return nil
		}
	}
	return s
}

// takeLane returns the saved state of a lane being created, and forgets it.
func (k *stateKeeper) takeLane(key string) *savedLane {
	if k.saved == nil || k.saved.Lanes[key] == nil {
		return nil
	}
	s := k.saved.Lanes[key]
	delete(k.saved.Lanes, key)
	return s
}

// takeAnalysis returns the saved run of member i of the analysis for
// step and hash, if one was saved (nil: start afresh).
func takeAnalysis(saved []*savedAnalysis, step int, hash string, i int) json.RawMessage {
	for _, sa := range saved {
		if sa.Step == step && sa.Hash == hash && i < len(sa.Runs) {
			return sa.Runs[i]
		}
	}
	return nil
}

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

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/release"
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
	Files   string        `json:"files,omitempty"`
	Objects []savedObject `json:"objects"`
	// Rollouts and Lanes are the release controller's state
	// (release.State).
	Rollouts map[string]*release.SavedRollout `json:"rollouts,omitempty"` // by "Rollout ns/name"
	Lanes    map[string]*release.SavedLane    `json:"lanes,omitempty"`    // by "ns/name"
	// CanaryConfig is what was done with each Rollout's canary
	// configuration (canaryconfig.go): a restart does not publish again.
	CanaryConfig map[string]*canaryRecord `json:"canaryConfig,omitempty"` // by "Rollout ns/name"
}

// savedObject is an applied object and where it came from.
type savedObject struct {
	File   string         `json:"file,omitempty"`
	Line   int            `json:"line,omitempty"`
	Object map[string]any `json:"object"`
}

// stateKeeper writes the state file.
type stateKeeper struct {
	path    string     // "" when no state is kept (a temporary state folder)
	mu      sync.Mutex // guards files
	files   string
	objGen  uint64 // the store's lastVersion objects was made from
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
	r.release.Restore(release.State{Rollouts: saved.Rollouts, Lanes: saved.Lanes})
	r.mu.Unlock()
	r.restoreCanaryConfigs(saved.CanaryConfig)
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
	r.release.EndRestore() // what was not restored by now belongs to objects that are gone
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
	if k.objects == nil || k.objGen != r.store.lastVersion {
		k.objGen, k.objects = r.store.lastVersion, []savedObject{}
		for _, o := range r.store.list() {
			k.objects = append(k.objects, savedObject{File: o.Pos.File, Line: o.Pos.Line, Object: o.Raw})
		}
	}
	rs := r.release.State()
	k.mu.Lock()
	s := savedState{Version: stateVersion, Files: k.files, Objects: k.objects, Rollouts: rs.Rollouts, Lanes: rs.Lanes, CanaryConfig: r.canary.records}
	k.mu.Unlock()
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

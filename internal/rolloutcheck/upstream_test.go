package rolloutcheck_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/rolloutcheck"
)

var update = flag.Bool("update", false, "rewrite testdata/upstream-gaps.golden")

// brokenUpstream are upstream files kubectl cannot read either, with the
// error Graylane gives. rollout-linkerd.yaml writes an annotation value as
// {{args.linkerd-enabled}} without quotes, which YAML reads as a mapping
// used as a key (kubectl: "error converting YAML to JSON").
var brokenUpstream = map[string]string{
	"argo-rollouts/examples/traffic-management/rollout-linkerd.yaml": `testdata/argo-rollouts/examples/traffic-management/rollout-linkerd.yaml:101: spec.metrics[0].provider.job.spec.template.metadata.annotations["linkerd.io/inject"]: mapping keys must be scalars`,
}

// TestUpstreamLoads: every Argo Rollouts example and documentation manifest
// loads (Argo Rollouts accepts them, so Graylane must), and the features
// `graylane up` does not run in them are the ones in
// testdata/upstream-gaps.golden.
func TestUpstreamLoads(t *testing.T) {
	var gaps bytes.Buffer
	err := filepath.WalkDir("testdata/argo-rollouts", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		rel := strings.TrimPrefix(filepath.ToSlash(path), "testdata/")
		set, err := manifest.Load(path)
		if want, broken := brokenUpstream[rel]; broken {
			if err == nil || err.Error() != want {
				t.Errorf("%s: error %v, want %s", rel, err, want)
			}
			return nil
		}
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		for _, o := range set.Of("Rollout") {
			for _, g := range rolloutcheck.NotRunLocally(o.Typed.(*rollouts.Rollout)) {
				fmt.Fprintf(&gaps, "%s: %s: %s\n", strings.TrimPrefix(o.PathPos(g.Path).String(), "testdata/"), g.Path, g.Message())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/upstream-gaps.golden"
	if *update {
		if err := os.WriteFile(golden, gaps.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), gaps.String()); diff != "" {
		t.Errorf("gaps (-want +got):\n%s", diff)
	}
}

// TestExamplesLoad: the project's own examples (the seeds' YAML
// unchanged) load, but for the two that are broken on purpose.
func TestExamplesLoad(t *testing.T) {
	broken := map[string]bool{"seed004-broken": true, "kubernetes/testdata": true}
	root := "../../examples"
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || path == root {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if broken[filepath.ToSlash(rel)] {
			return filepath.SkipDir
		}
		files, _ := filepath.Glob(filepath.Join(path, "*.yaml"))
		for _, f := range files {
			if manifest.SpringConfig(f) { // examples/seed000/application.yaml: the seed's Spring configuration
				continue
			}
			if _, err := manifest.Load(f); err != nil {
				t.Errorf("%v", err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

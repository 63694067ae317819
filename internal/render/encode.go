package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"
	goyaml "sigs.k8s.io/yaml/goyaml.v2"
)

// Encode returns one YAML document of o: keys sorted, without status and
// without the empty creationTimestamp the typed objects carry.
func Encode(o Object) ([]byte, error) {
	js, err := json.Marshal(o.Value)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", o.Ref(), err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber() // numbers stay as written (no float64 round trip)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("encode %s: %w", o.Ref(), err)
	}
	delete(m, "status")
	clean(m)
	if spec, ok := m["spec"].(map[string]any); ok && o.Kind == "Rollout" && spec["workloadRef"] != nil {
		delete(spec, "template") // the Deployment's template is used
	}
	// The YAML encoder sigs.k8s.io/yaml uses, without its JSON detour: the
	// same output (sorted keys, kubectl's layout) in a third of the time.
	out, err := goyaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", o.Ref(), err)
	}
	return out, nil
}

// noise are fields the typed objects always write that mean nothing when
// empty (Argo Rollouts' non-pointer structs, a container's resources).
var noise = map[string]bool{"authentication": true, "oauth2": true, "sigv4": true, "analysisRunMetadata": true, "resources": true}

// clean removes, at any depth, "creationTimestamp: null" (of the object
// and of the pod template) and the empty noise fields. Other empty objects
// (pause: {}, emptyDir: {}) mean something and stay.
func clean(v any) {
	switch t := v.(type) {
	case map[string]any:
		if ts, ok := t["creationTimestamp"]; ok && ts == nil {
			delete(t, "creationTimestamp")
		}
		for k, c := range t {
			clean(c)
			if m, ok := c.(map[string]any); ok && len(m) == 0 && noise[k] {
				delete(t, k)
			}
		}
	case []any:
		for _, c := range t {
			clean(c)
		}
	}
}

// EncodeAll returns the objects as one multi-document YAML stream. The
// documents are encoded in parallel (YAML encoding is most of the work of
// rendering) and joined in order.
func EncodeAll(objs []Object) ([]byte, error) {
	docs := make([][]byte, len(objs))
	errs := make([]error, len(objs))
	workers := min(runtime.GOMAXPROCS(0), len(objs))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(objs); i += workers {
				docs[i], errs[i] = Encode(objs[i])
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for i, doc := range docs {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(doc)
	}
	return b.Bytes(), nil
}

// File is one output file.
type File struct {
	Name string
	Data []byte
}

// kustomizationFile is the kustomization.yaml of an output folder.
type kustomizationFile struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   map[string]string `json:"metadata"` // name: graylane, so that manifest loaders accept the file
	Resources  []string          `json:"resources"`
}

// Files lays the objects out one per file, named
// NN-namespace-kind-name.yaml so that a folder applies in the generated
// order (AnalysisTemplates before the Rollouts that use them), plus a
// kustomization.yaml listing them when kustomization is true. Argo CD
// Applications go to the argocd/ subfolder: Argo CD does not read
// subfolders of a directory source, so the Application that syncs the
// folder is not part of what it syncs; apply it once by hand.
func Files(objs []Object, kustomization bool) ([]File, error) {
	out := make([]File, 0, len(objs)+1)
	width := len(fmt.Sprint(len(objs)))
	var names []string
	for i, o := range objs {
		doc, err := Encode(o)
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("%0*d-%s-%s-%s.yaml", width, i+1, o.Namespace, strings.ToLower(o.Kind), o.Name)
		if o.Kind == "Application" {
			out = append(out, File{"argocd/" + name, doc})
			continue
		}
		out = append(out, File{name, doc})
		names = append(names, name)
	}
	if kustomization {
		k := kustomizationFile{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization", Metadata: map[string]string{"name": "graylane"}, Resources: names}
		data, err := yaml.Marshal(k)
		if err != nil {
			return nil, fmt.Errorf("encode kustomization: %w", err)
		}
		out = append(out, File{"kustomization.yaml", data})
	}
	return out, nil
}

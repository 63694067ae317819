package command

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"sigs.k8s.io/yaml"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/render"
)

// write prints the objects on stdout, or writes them to OutputDir and
// prints the list of files (with -o json, also what convert made of the
// Deployments).
func write(objs []render.Object, converted []render.ConvertedService, o WriteOptions, stdout io.Writer) error {
	if o.OutputDir == "" {
		if o.Kustomization {
			return &cli.InputError{Err: fmt.Errorf("--kustomization needs --output-dir")}
		}
		return writeStream(objs, o.Output, stdout)
	}
	files, err := render.Files(objs, o.Kustomization)
	if err != nil {
		return err
	}
	if err := writeDir(o.OutputDir, files); err != nil {
		return err
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Join(o.OutputDir, f.Name)
	}
	return cli.Write(stdout, o.Output, struct {
		Files    []string                  `json:"files"`
		Services []render.ConvertedService `json:"services,omitempty"`
	}{names, converted}, func(w io.Writer) error {
		for _, n := range names {
			if _, err := fmt.Fprintf(w, "wrote %s\n", n); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeStream prints multi-document YAML (text, yaml) or a v1 List (json).
func writeStream(objs []render.Object, format string, w io.Writer) error {
	if format != cli.FormatJSON {
		data, err := render.EncodeAll(objs)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	items := make([]json.RawMessage, 0, len(objs))
	for _, o := range objs {
		doc, err := render.Encode(o)
		if err != nil {
			return err
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return fmt.Errorf("encode %s: %w", o.Ref(), err)
		}
		items = append(items, js)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}{"v1", "List", items})
}

// generated matches the names of files render.Files writes.
var generated = regexp.MustCompile(`^[0-9]+-.+\.yaml$`)

// writeDir writes the files into dir and removes the files of an earlier
// run that are not written again (a service that was removed), so the
// folder is exactly the current output. Other files are left alone.
func writeDir(dir string, files []render.File) error {
	keep := map[string]bool{}
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		keep[p] = true
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("output dir: %w", err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return fmt.Errorf("output dir: %w", err)
		}
	}
	for _, sub := range []string{dir, filepath.Join(dir, "argocd")} {
		entries, err := os.ReadDir(sub)
		if err != nil {
			continue
		}
		for _, e := range entries {
			p := filepath.Join(sub, e.Name())
			if !e.IsDir() && generated.MatchString(e.Name()) && !keep[p] {
				if err := os.Remove(p); err != nil {
					return fmt.Errorf("output dir: removing stale %s: %w", p, err)
				}
			}
		}
	}
	return nil
}

package embedded

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestImageMap(t *testing.T) {
	m, err := NewImageMap([]string{"registry.example.com/shop/order:2.0=./order --port $PORT", "payment=java -jar payment.jar"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		image, want string
		ok          bool
	}{
		{"swr.cn-north-4.myhuaweicloud.com/hjmtest/go-http-sample:1.0", BuiltinSample, true},
		{"graylane/sample:latest", BuiltinSample, true},
		{"registry.example.com/shop/order:2.0", "./order --port $PORT", true},
		{"registry.example.com/shop/payment:1.3@sha256:abc", "java -jar payment.jar", true},
		{"nginx:1.25", "", false},
	}
	for _, tc := range tests {
		got, ok := m.Lookup(tc.image)
		if got.Command != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %q %v, want %q %v", tc.image, got.Command, ok, tc.want, tc.ok)
		}
	}
	if _, err := NewImageMap([]string{"noequals"}); err == nil {
		t.Error("want an error for a spec without =")
	}
}

// An image file's commands run in the file's folder (or dir: relative to
// it); files override the defaults, --image flags override files.
func TestImageFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "payment"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "images.yaml")
	writeFile(t, file, `# the shop's images
images:
  registry.example.com/shop/order: ./bin/order --port $PORT
  payment:
    command: java -jar payment.jar
    dir: payment
  go-http-sample: python3 sample.py
  logistics: builtin:sample
`)
	got, err := LoadImageFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ImageCommand{
		"registry.example.com/shop/order": {Command: "./bin/order --port $PORT", Dir: dir},
		"payment":                         {Command: "java -jar payment.jar", Dir: filepath.Join(dir, "payment")},
		"go-http-sample":                  {Command: "python3 sample.py", Dir: dir},
		"logistics":                       {Command: BuiltinSample, Dir: dir},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadImageFile (-want +got):\n%s", diff)
	}

	m, err := NewImageMap([]string{"payment=./payment-dev"}, file)
	if err != nil {
		t.Fatal(err)
	}
	for image, want := range map[string]ImageCommand{
		"registry.example.com/shop/order:3.1": {Command: "./bin/order --port $PORT", Dir: dir}, // from the file
		"shop/payment:1.0":                    {Command: "./payment-dev"},                      // the flag wins
		"go-http-sample:1.0":                  {Command: "python3 sample.py", Dir: dir},        // the file wins over the default
		"graylane/sample":                     {Command: BuiltinSample},                        // a default
	} {
		got, ok := m.Lookup(image)
		if diff := cmp.Diff(want, got); !ok || diff != "" {
			t.Errorf("Lookup(%q) (-want +got, found %v):\n%s", image, ok, diff)
		}
	}
}

func TestImageFileErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string // one line per error
	}{
		{"empty", "", []string{"f.yaml:1: empty file: want an images: section"}},
		{"not a mapping", "- a\n- b\n", []string{"f.yaml:1: want a mapping with an images: section, got a list"}},
		{"unknown section", "images: {}\nimage:\n  a: b\n", []string{"f.yaml:2: image: unknown field (an image file has only images:)"}},
		{"no images", "other: 1\n", []string{"f.yaml:1: other: unknown field (an image file has only images:)", "f.yaml:1: no images: section"}},
		{"images a list", "images:\n  - a=b\n", []string{"f.yaml:2: images: want a mapping of IMAGE: COMMAND, got a list"}},
		{"empty command", "images:\n  order: \"\"\n", []string{`f.yaml:2: images.order: want a command (a non-empty string, or builtin:sample), got ""`}},
		{"null command", "images:\n  registry.example.com/shop/order:\n", []string{`f.yaml:2: images["registry.example.com/shop/order"]: want a command (a non-empty string, or builtin:sample), got nothing`}},
		{"number command", "images:\n  order: 42\n", []string{"f.yaml:2: images.order: want a command (a non-empty string, or builtin:sample), got 42"}},
		{"duplicate", "images:\n  order: a\n  pay: b\n  order: c\n", []string{"f.yaml:4: images.order: mapped twice (first on line 2)"}},
		{"unknown entry field", "images:\n  order:\n    command: a\n    cwd: x\n", []string{"f.yaml:4: images.order.cwd: unknown field (want command or dir)"}},
		{"missing command", "images:\n  order:\n    dir: .\n", []string{"f.yaml:3: images.order: command: is missing"}},
		{"missing dir", "images:\n  order:\n    command: a\n    dir: nope\n", []string{"f.yaml:4: images.order.dir: BASE/nope is not a folder"}},
		{"syntax", "images:\n  order: a\n   pay: b\n", []string{"f.yaml:3: invalid YAML: mapping values are not allowed in this context"}},
		{"two documents", "images: {}\n---\nimages: {}\n", []string{"f.yaml:2: a second YAML document: an image file has one"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			_, err := parseImageFile("f.yaml", base, []byte(tc.doc))
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(strings.ReplaceAll(err.Error(), base, "BASE"), "\n")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzImageFile(f *testing.F) {
	for _, seed := range []string{"images:\n  a: b\n", "images:\n  a:\n    command: x\n    dir: .\n", "images: [1]\n", "x: &a [*a]\n", "images:\n  ? [a]\n  : b\n"} {
		f.Add(seed)
	}
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, doc string) {
		m, err := parseImageFile("f.yaml", base, []byte(doc))
		if err == nil {
			for img, c := range m {
				if strings.TrimSpace(img) == "" || c.Command == "" {
					t.Errorf("accepted an empty mapping %q: %+v", img, c)
				}
			}
			return
		}
		if !strings.HasPrefix(err.Error(), "f.yaml") {
			t.Errorf("error not located: %v", err)
		}
	})
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

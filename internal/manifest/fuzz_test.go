package manifest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func FuzzLoadBytes(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		multiDoc,
		vsHead + "  http:\n  - match:\n    - uri: {exact: /a, prefix: /b}\n    timeout: 5s\n    route:\n    - destination: {host: a, port: {number: 8000}}\n      weight: \"10\"\n",
		deployHead + "      - name: c\n        imagee: x\n        resources: {limits: {cpu: 1}}\n",
		`{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}]}`,
		"apiVersion: v1\nkind: Service\nmetadata: &m {name: s, labels: {<<: *m}}\n",
		"a: &a [*a, *a]\nb: &b [*a, *a]\n",
		"--- {a: 1}\n--- [1, 2\n...\n%YAML 1.2\n---\n",
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se}\nspec: {hosts: [x], ports: [{number: 1e3, protocol: HTTP, name: h}], resolution: 2}\n",
		"apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {selector: {istio: ingressgateway}, servers: [{port: {number: 80}, hosts: ['*']}]}\n",
		unsafeRollout,
		"apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec: {strategy: {canary: {maxSurge: 0, maxUnavailable: '0%', trafficRouting: {istio: {}}, steps: [{setHeaderRoute: {match: [{}]}}, {setMirrorRoute: {match: [{method: {}}]}}, {experiment: {templates: [{weight: 5}]}}, {analysis: {args: [{valueFrom: {fieldRef: {fieldPath: \"metadata.x['']\"}}}]}}]}}}\n",
		"apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: t}\nspec: {metrics: [{name: m, count: '{{args.x}}', failureLimit: -1, provider: {plugin: {a: {}, b: {}}}}], dryRun: [{metricName: '('}]}\n",
		"\xef\xbb\xbf\x00\xff garbage: [}\n\t- x",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A hang is a failure too: crash the worker so that the fuzzer
		// keeps the input.
		watchdog := time.AfterFunc(10*time.Second, func() { panic("LoadBytes took more than 10s") })
		s, err := LoadBytes("fuzz.yaml", data)
		watchdog.Stop()
		if s == nil {
			t.Fatal("nil Set")
		}
		maxLine := bytes.Count(normalizeBreaks(data), []byte("\n")) + 1
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %v is not a non-empty ErrorList", err)
			}
			for _, e := range list {
				if e.Pos.File != "fuzz.yaml" || e.Pos.Line < 0 || e.Pos.Line > maxLine {
					t.Errorf("bad position in %q (file has %d lines)", e.Error(), maxLine)
				}
			}
		}
		seen := map[int]bool{}
		for _, list := range [][]*Object{s.Objects, s.Replaced, s.Ignored} {
			for _, o := range list {
				if o.Name == "" || o.Kind == "" || o.APIVersion == "" || o.Raw == nil || seen[o.Index] {
					t.Errorf("bad object %+v", o)
				}
				seen[o.Index] = true
				_ = o.PathPos("spec.x[0][\"a.b\"].y")
			}
		}
		for _, o := range s.Objects {
			if o.Typed == nil {
				t.Errorf("object %s has no typed value", o.Ref())
			}
		}
	})
}

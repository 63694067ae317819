package render_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	rollouts "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/lint"
	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/render"
)

// richDeployment has what a pod template must keep: several containers,
// probes, volumes, annotations, env from secrets, an init container.
const richDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: order-service
  namespace: shop
  labels: {app: order-service, team: trade}
  annotations:
    deployment.kubernetes.io/revision: "7"
    owner: trade-team
spec:
  replicas: 3
  selector:
    matchLabels: {app: order-service}
  template:
    metadata:
      labels: {app: order-service, version: v1}
      annotations:
        prometheus.io/scrape: "true"
        sidecar.istio.io/inject: "true"
    spec:
      serviceAccountName: order
      initContainers:
      - name: migrate
        image: registry.example.com/order-migrate:1.0
      containers:
      - name: app
        image: registry.example.com/order-service:1.0
        ports: [{containerPort: 8082, name: http}]
        env:
        - {name: SPRING_PROFILES_ACTIVE, value: prod}
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: order-db, key: password}}
        readinessProbe:
          httpGet: {path: /actuator/health/readiness, port: 8082}
          periodSeconds: 5
        livenessProbe:
          httpGet: {path: /actuator/health/liveness, port: 8082}
        resources:
          requests: {cpu: 500m, memory: 1Gi}
        volumeMounts: [{name: config, mountPath: /config}, {name: tmp, mountPath: /tmp}]
      - name: log-agent
        image: registry.example.com/filebeat:8
        volumeMounts: [{name: tmp, mountPath: /logs}]
      volumes:
      - name: config
        configMap: {name: order-config}
      - name: tmp
        emptyDir: {}
---
apiVersion: v1
kind: Service
metadata:
  name: gray-order-service
  namespace: shop
spec:
  selector: {app: order-service}
  ports:
  - {name: http, port: 8082, targetPort: 8082}
`

func load(t *testing.T, name string, data []byte) *manifest.Set {
	t.Helper()
	set, err := manifest.LoadBytes(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func convert(t *testing.T, set *manifest.Set, o render.ConvertOptions) *render.Conversion {
	t.Helper()
	conv, err := render.Convert(set, o)
	if err != nil {
		t.Fatal(err)
	}
	return conv
}

// lintClean encodes objs, loads them back and fails on any lint finding.
func lintClean(t *testing.T, objs []render.Object) {
	t.Helper()
	data, err := render.EncodeAll(objs)
	if err != nil {
		t.Fatal(err)
	}
	set, err := manifest.LoadBytes("out.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if fs := lint.Lint(set); len(fs) > 0 {
		t.Errorf("lint findings on the converted output: %v", fs)
	}
}

func TestConvertPreservesTemplate(t *testing.T) {
	for _, layout := range []string{v1alpha1.LayoutSubsets, v1alpha1.LayoutServices} {
		t.Run(layout, func(t *testing.T) {
			set := load(t, "d.yaml", []byte(richDeployment))
			dep := set.Of("Deployment")[0].Typed.(*appsv1.Deployment)
			objs := convert(t, set, render.ConvertOptions{Spec: v1alpha1.ReleaseSpec{Layout: layout}}).Objects
			ro := find[*rollouts.Rollout](t, objs, "Rollout", "order-service")
			if diff := cmp.Diff(dep.Spec.Template, ro.Spec.Template); diff != "" {
				t.Errorf("pod template changed (-deployment +rollout):\n%s", diff)
			}
			if diff := cmp.Diff(dep.Spec.Selector, ro.Spec.Selector); diff != "" {
				t.Errorf("selector changed:\n%s", diff)
			}
			got := map[string]any{"ns": ro.Namespace, "replicas": *ro.Spec.Replicas, "owner": ro.Annotations["owner"], "revision": ro.Annotations["deployment.kubernetes.io/revision"], "team": ro.Labels["team"]}
			want := map[string]any{"ns": "shop", "replicas": int32(3), "owner": "trade-team", "revision": "", "team": "trade"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rollout metadata (-want +got):\n%s", diff)
			}
			// The existing Service is the callers' host of the routing.
			find[*corev1.Service](t, objs, "Service", "gray-order-service")
			// The output is consistent: lint finds nothing.
			lintClean(t, objs)
		})
	}
}

func find[T any](t *testing.T, objs []render.Object, kind, name string) T {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			return o.Value.(T)
		}
	}
	var zero T
	t.Fatalf("no %s %s in the output", kind, name)
	return zero
}

// TestConvertFolder converts a folder of 60 generated Deployments (with
// their Services, in three namespaces) in one run.
func TestConvertFolder(t *testing.T) {
	dir := t.TempDir()
	for i := range 60 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("svc-%02d.yaml", i)), []byte(render.GeneratedService(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	objs := convert(t, set, render.ConvertOptions{}).Objects
	count := map[string]int{}
	for _, o := range objs {
		count[o.Kind]++
	}
	// One success-rate AnalysisTemplate per namespace (no judge: one
	// Deployment per service).
	want := map[string]int{"AnalysisTemplate": 3, "Rollout": 60, "Service": 60, "DestinationRule": 60, "VirtualService": 60, "PodDisruptionBudget": 60}
	if diff := cmp.Diff(want, count); diff != "" {
		t.Errorf("objects by kind (-want +got):\n%s", diff)
	}
	lintClean(t, objs)
}

func TestConvertErrors(t *testing.T) {
	noPorts := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    spec: {containers: [{name: a, image: x}]}\n"
	set := load(t, "a.yaml", []byte(noPorts))
	_, err := render.Convert(set, render.ConvertOptions{})
	want := "a.yaml:8: spec.template.spec.containers: Deployment default/a: no Service of the input selects its pods and its containers declare no TCP ports: add its Service to the input"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	_, err = render.Convert(set, render.ConvertOptions{Spec: v1alpha1.ReleaseSpec{Layout: "hosts"}})
	if err == nil {
		t.Error("bad layout accepted")
	}
}

package manifest

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	clientnetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
)

const vsHead = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: vs
spec:
`

const deployHead = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
`

// errorTests are loads that fail, with the exact text of their errors.
var errorTests = []struct {
	name string
	text string
	want string
}{{
	name: "seed 004 slip that parses: destination null, host unknown",
	text: vsHead + `  hosts: [appb]
  http:
    - route:
        - destination:
            host: appb
    - route:
        - destination: 
          host: appb
          subset: v1
`,
	want: `e.yaml:12: spec.http[1].route[0].destination: must be an object, got null
e.yaml:13: spec.http[1].route[0]: unknown field "host"
e.yaml:14: spec.http[1].route[0]: unknown field "subset"`,
}, {
	name: "unknown proto field",
	text: vsHead + "  http:\n  - route:\n    - destination:\n        hostt: a\n",
	want: `e.yaml:9: spec.http[0].route[0].destination: unknown field "hostt"`,
}, {
	name: "mapping where a list is expected, and the reverse",
	text: vsHead + "  hosts: {a: b}\n  http:\n  - route: [{destination: [host, a]}]\n",
	want: "e.yaml:6: spec.hosts: must be a list, got object\n" +
		"e.yaml:8: spec.http[0].route[0].destination: must be an object, got list",
}, {
	name: "scalar where an object is expected",
	text: vsHead + "  http:\n  - route:\n    - destination: appb\n",
	want: `e.yaml:8: spec.http[0].route[0].destination: must be an object, got string "appb"`,
}, {
	name: "non-numeric number, negative unsigned",
	text: vsHead + "  http:\n  - route:\n    - destination: {host: a, port: {number: http}}\n      weight: 3000000000\n    - weight: 1.5\n",
	want: "e.yaml:8: spec.http[0].route[0].destination.port.number: must be an integer (uint32), got string \"http\"\n" +
		"e.yaml:9: spec.http[0].route[0].weight: number 3000000000 is out of range for int32\n" +
		"e.yaml:10: spec.http[0].route[1].weight: must be an integer (int32), got number 1.5",
}, {
	name: "bad enum",
	text: `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr}
spec:
  host: a
  trafficPolicy:
    loadBalancer: {simple: ROUNDROBIN}
`,
	want: `e.yaml:7: spec.trafficPolicy.loadBalancer.simple: invalid value "ROUNDROBIN" for enum SimpleLB (allowed: UNSPECIFIED, LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST)`,
}, {
	name: "oneof conflict",
	text: vsHead + "  http:\n  - match:\n    - uri:\n        exact: /a\n        prefix: /b\n",
	want: `e.yaml:10: spec.http[0].match[0].uri: "prefix" conflicts with "exact": only one of exact, prefix, regex may be set`,
}, {
	name: "field given by json and proto name",
	text: vsHead + "  exportTo: [a]\n  export_to: [b]\n",
	want: `e.yaml:7: spec: field "export_to" is given twice (also as "exportTo")`,
}, {
	name: "null map value",
	text: vsHead + "  http:\n  - match:\n    - sourceLabels: {app: }\n",
	want: `e.yaml:8: spec.http[0].match[0].sourceLabels.app: must not be null`,
}, {
	name: "bad duration",
	text: vsHead + "  http:\n  - timeout: 5 minutes\n",
	want: `e.yaml:7: spec.http[0].timeout: must be a duration such as "5s", "250ms", "3m" or "1h30m", got string "5 minutes"`,
}, {
	name: "duration without a unit",
	text: vsHead + "  http:\n  - timeout: 5\n",
	want: `e.yaml:7: spec.http[0].timeout: must be a duration such as "5s", "250ms", "3m" or "1h30m", got number 5`,
}, {
	name: "duration as an object",
	text: vsHead + "  http:\n  - timeout: {seconds: 5}\n",
	want: `e.yaml:7: spec.http[0].timeout: must be a duration such as "5s", "250ms", "3m" or "1h30m", got object`,
}, {
	name: "null spec of an istio object",
	text: vsHead,
	want: `e.yaml:5: spec: must be an object, got null`,
}, {
	name: "unknown container field",
	text: deployHead + "      - name: c\n        image: x\n        imagee: y\n        Ports: []\n",
	want: "e.yaml:11: spec.template.spec.containers[0]: unknown field \"imagee\"\n" +
		"e.yaml:12: spec.template.spec.containers[0]: unknown field \"Ports\" (did you mean \"ports\"?)",
}, {
	name: "k8s scalar types",
	text: deployHead + `      - name: c
        ports: {containerPort: 80}
        resources: {limits: {cpu: lots}}
        stdin: "yes"
  replicas: "3"
  strategy: {rollingUpdate: {maxSurge: [1]}}
`,
	want: "e.yaml:10: spec.template.spec.containers[0].ports: must be a list, got object\n" +
		"e.yaml:11: spec.template.spec.containers[0].resources.limits.cpu: invalid value string \"lots\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'\n" +
		"e.yaml:12: spec.template.spec.containers[0].stdin: must be a boolean, got string \"yes\"\n" +
		"e.yaml:13: spec.replicas: must be an integer, got string \"3\"\n" +
		"e.yaml:14: spec.strategy.rollingUpdate.maxSurge: must be a string or a number, got list",
}, {
	name: "duplicate key",
	text: "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n",
	want: `e.yaml:5: metadata: duplicate key "name" (first at line 4)`,
}, {
	name: "missing identity fields",
	text: "metadata: {namespace: x}\n---\nkind: List\napiVersion: v1\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: [a]}}\n- 7\n",
	want: "e.yaml:1: missing required field \"apiVersion\"\n" +
		"e.yaml:1: missing required field \"kind\"\n" +
		"e.yaml:1: missing required field \"metadata.name\"\n" +
		"e.yaml:6: metadata.name: must be a string, got list\n" +
		"e.yaml:7: items[1]: a List item must be an object, got number 7",
}, {
	name: "not an object",
	text: "- a\n- b\n---\njust text\n",
	want: "e.yaml:1: a document must be an object, got list\ne.yaml:4: a document must be an object, got string \"just text\"",
}, {
	name: "syntax error in a later document keeps an absolute line",
	text: "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n labels: {}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: c\n",
	want: "e.yaml:9: invalid YAML: did not find expected key (check the indentation)\n" +
		"e.yaml:13: invalid YAML: did not find expected ',' or '}' (check for a missing comma or closing bracket)",
}, {
	name: "tab indentation",
	text: "apiVersion: v1\nkind: Service\nmetadata:\n\tname: a\n",
	want: "e.yaml:4: invalid YAML: found character that cannot start any token (tabs cannot be used for indentation)",
}, {
	name: "recursive alias",
	text: "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: &s {selector: *s}\n",
	want: "e.yaml:4: spec.selector: alias *s refers to itself or to nothing",
}}

func TestErrors(t *testing.T) {
	for _, tt := range errorTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadBytes("e.yaml", []byte(tt.text))
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %v is not an ErrorList", err)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAccepted(t *testing.T) {
	// Plain scalars where strings are wanted, quoted numbers for protobuf
	// numbers, merge keys, anchors and null metadata fields all load.
	s := mustLoadBytes(t, "ok.yaml", deployHead+`      - name: c
        image: x
        env:
        - {name: PORT, value: 8000}
        - {name: DEBUG, value: true}
        resources: &r {limits: {cpu: 0.5, memory: 128Mi}}
      - name: d
        resources: *r
  selector:
    matchLabels: &labels {app: a, version: v1}
  strategy: {rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}}
---
`+vsHead+`  hosts: [a]
  http:
  - match:
    - headers: {x-canary: {exact: "true"}}
      uri: {prefix: /}
    route:
    - destination: {host: a, subset: v1}
      weight: "10"
      headers: {request: {set: {x-version: 2}}}
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: 5xx}
    corsPolicy: {allowCredentials: true}
`)
	d := s.Objects[0].Typed.(*appsv1.Deployment)
	env := d.Spec.Template.Spec.Containers[0].Env
	if got := []string{env[0].Value, env[1].Value}; !cmp.Equal(got, []string{"8000", "true"}) {
		t.Errorf("env values = %q", got)
	}
	if got := d.Spec.Template.Spec.Containers[1].Resources.Limits.Memory().String(); got != "128Mi" {
		t.Errorf("aliased memory limit = %q", got)
	}
	vs := s.Objects[1].Typed.(*clientnetworkingv1.VirtualService)
	r := vs.Spec.Http[0]
	got := []any{r.Route[0].Weight, r.Route[0].Headers.Request.Set["x-version"], r.Retries.PerTryTimeout.AsDuration().String(), r.CorsPolicy.AllowCredentials.GetValue()}
	want := []any{int32(10), "2", "2s", true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded values (-want +got):\n%s", diff)
	}
}

func TestOtherIstioKinds(t *testing.T) {
	s := mustLoadBytes(t, "k.yaml", `apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: nacos-only}
spec:
  hosts: [legacy.internal]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: 2
  location: MESH_INTERNAL
`)
	got := summarize(s.Objects)
	want := []summary{
		{"Gateway istio-system/gw", "k.yaml:1", 0, "Gateway"},
		{"ServiceEntry default/nacos-only", "k.yaml:10", 1, "ServiceEntry"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	se := s.Objects[1].Typed.(*clientnetworkingv1.ServiceEntry)
	if got, want := se.Spec.Resolution.String()+" "+se.Spec.Location.String(), "DNS MESH_INTERNAL"; got != want {
		t.Errorf("resolution, location = %q, want %q", got, want)
	}
}

package command

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/cli"
	routecmd "github.com/graylane/graylane/internal/route/command"
)

// TestSimulateInputErrors: options, manifests and Lanes that do not
// compile are input errors (exit code 2) with their message.
func TestSimulateInputErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const svc = `apiVersion: v1
kind: Service
metadata: {name: order, namespace: shop}
spec: {selector: {app: order}, ports: [{port: 80}]}
`
	ok := write("ok.yaml", svc)
	bad := write("lanes.yaml", svc+`---
apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members:
  - {service: cart, workload: cart-v2}
`)
	base := SimulateOptions{Files: []string{ok}, Request: routecmd.RequestOptions{URL: "http://order.shop/"}, Calls: "order->payment", Requests: 10}
	tests := []struct {
		name string
		edit func(*SimulateOptions)
		want string
	}{
		{"lane that does not compile", func(o *SimulateOptions) { o.Files = []string{bad} },
			bad + ":11: spec.members[0].service: no Service cart in namespace shop"},
		{"requests", func(o *SimulateOptions) { o.Requests = 0 }, "--requests 0: want 1..10000000"},
		{"output", func(o *SimulateOptions) { o.Output = "xml" }, `--output "xml": want text, json or yaml`},
		{"no manifests", func(o *SimulateOptions) { o.Files = nil }, "no manifests: give -f FILE or -f DIR"},
		{"url", func(o *SimulateOptions) { o.Request.URL = "" }, "--url is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.edit(&o)
			var stdout, stderr bytes.Buffer
			err := Simulate(context.Background(), o, &stdout, &stderr)
			var ie *cli.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v (%T), want an InputError", err, err)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

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
)

// badLane is a Lane whose member names a Service that is not there: it
// loads, and fails when the lanes are compiled.
const badLane = `apiVersion: v1
kind: Service
metadata: {name: order, namespace: shop}
spec: {selector: {app: order}, ports: [{port: 80}]}
---
apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members:
  - {service: cart, workload: cart-v2}
`

// TestRouteExpandError: a Lane or Release that does not compile is an
// input error (exit code 2), located at its file:line.
func TestRouteExpandError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lanes.yaml")
	if err := os.WriteFile(path, []byte(badLane), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := Route(context.Background(), RouteOptions{Files: []string{path}, Request: RequestOptions{URL: "http://order.shop/"}}, &stdout, &stderr)
	var ie *cli.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v (%T), want an InputError", err, err)
	}
	want := path + ":11: spec.members[0].service: no Service cart in namespace shop"
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}

package command

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/kubetest"
	"github.com/graylane/graylane/internal/nacosclient"
)

// TestFixApplyServiceEntries: fix --apply-service-entries against a real
// kube-apiserver with Istio's CRDs. Every Nacos service of startNacos is
// outside this empty cluster: the first run creates their ServiceEntries
// (server-side apply, field manager graylane), the second finds them
// unchanged (fix computes its own ServiceEntries again rather than taking
// them as covering), a dry run after a new instance says updated and
// stores nothing, the real run then updates.
func TestFixApplyServiceEntries(t *testing.T) {
	env := kubetest.Start(t)
	srv := startNacos(t)
	ctx := context.Background()
	o := FixOptions{Options: Options{Nacos: nacosclient.Options{Server: "http://" + srv.HTTPAddr()}, Kubeconfig: env.Kubeconfig},
		ApplyServiceEntries: true}
	actions := func(res *FixResult) []string {
		var out []string
		for _, a := range res.ServiceEntriesApplied {
			out = append(out, a.Namespace+"/"+a.Name+" "+a.Action)
		}
		return out
	}
	all := func(action string) []string {
		return []string{"default/nacos-legacy-db " + action, "default/nacos-order-service " + action, "default/nacos-web " + action}
	}

	res, text := fix(t, o)
	if diff := cmp.Diff(all("created"), actions(res)); diff != "" {
		t.Errorf("first run (-want +got):\n%s\n%s", diff, text)
	}
	endpoints := func() []string {
		t.Helper()
		var se networkingv1.ServiceEntry
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "nacos-legacy-db"}, &se); err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(se.ManagedFields, func(m metav1.ManagedFieldsEntry) bool { return m.Manager == "graylane" && m.Operation == "Apply" }) {
			t.Errorf("managed fields %+v: want an Apply by graylane", se.ManagedFields)
		}
		var out []string
		for _, e := range se.Spec.Endpoints {
			out = append(out, e.Address)
		}
		return out
	}
	if diff := cmp.Diff([]string{"192.168.1.9"}, endpoints()); diff != "" {
		t.Errorf("stored endpoints (-want +got):\n%s", diff)
	}

	res, _ = fix(t, o)
	if diff := cmp.Diff(all("unchanged"), actions(res)); diff != "" {
		t.Errorf("second run (-want +got):\n%s", diff)
	}

	register(t, srv, "legacy-db", "192.168.1.10", 3306)
	dry := o
	dry.DryRun = true
	res, _ = fix(t, dry)
	want := []string{"default/nacos-legacy-db updated", "default/nacos-order-service unchanged", "default/nacos-web unchanged"}
	if diff := cmp.Diff(want, actions(res)); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"192.168.1.9"}, endpoints()); diff != "" {
		t.Errorf("the dry run stored endpoints (-want +got):\n%s", diff)
	}
	var out, errOut bytes.Buffer
	o.Output = "text"
	if err := Fix(ctx, o, &out, &errOut); err != nil {
		t.Fatalf("Fix: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "ServiceEntry default/nacos-legacy-db: updated\n") {
		t.Errorf("text output lacks the update:\n%s", out.String())
	}
	if diff := cmp.Diff([]string{"192.168.1.10", "192.168.1.9"}, endpoints()); diff != "" {
		t.Errorf("stored endpoints after the update (-want +got):\n%s", diff)
	}
}

// TestFixApplyServiceEntriesWithFiles: manifests are no place to apply
// to: the flag is refused as bad input before anything is read.
func TestFixApplyServiceEntriesWithFiles(t *testing.T) {
	o := FixOptions{Options: Options{Files: []string{"testdata/shop.yaml"}, Nacos: nacosclient.Options{Server: "http://127.0.0.1:1"}}, ApplyServiceEntries: true}
	var out bytes.Buffer
	err := Fix(context.Background(), o, &out, &out)
	var ie *cli.InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "--apply-service-entries") {
		t.Errorf("Fix = %v, want an input error about --apply-service-entries", err)
	}
}

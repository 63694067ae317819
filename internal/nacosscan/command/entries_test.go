package command

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/kubetest"
	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosserver"
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

// TestFixDeletesStaleServiceEntries: against a real kube-apiserver, the
// ServiceEntries an earlier fix applied whose Nacos service is gone are
// reported stale (with the kubectl command when not applying), a dry run
// says deleted and the API server keeps them, the real run deletes them.
// One whose managed-by label someone removed is neither reported nor
// deleted; one taken over between fix's read and its delete is kept (the
// delete's preconditions); one in the namespace of an earlier
// --service-entry-namespace is stale too.
func TestFixDeletesStaleServiceEntries(t *testing.T) {
	env := kubetest.Start(t)
	srv := startNacos(t)
	ctx := context.Background()
	o := FixOptions{Options: Options{Nacos: nacosclient.Options{Server: "http://" + srv.HTTPAddr()}, Kubeconfig: env.Kubeconfig},
		ApplyServiceEntries: true}
	fix(t, o)
	get := func(name string) (*networkingv1.ServiceEntry, error) {
		var se networkingv1.ServiceEntry
		return &se, env.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, &se)
	}
	stale := func(res *FixResult) []string {
		var out []string
		for _, se := range res.StaleServiceEntries {
			out = append(out, se.Namespace+"/"+se.Name+" "+se.NacosService)
		}
		return out
	}
	// legacy-db leaves Nacos; web leaves it too, but its entry was taken
	// over first: no longer labelled as graylane's.
	deregister(t, srv, "legacy-db", "192.168.1.9", 3306)
	deregister(t, srv, "web", "10.1.0.7", 8080)
	web, err := get("nacos-web")
	if err != nil {
		t.Fatal(err)
	}
	web.Labels["app.kubernetes.io/managed-by"] = "platform-team"
	if err := env.Client.Update(ctx, web); err != nil {
		t.Fatal(err)
	}

	noApply := o
	noApply.ApplyServiceEntries, noApply.Output = false, "text"
	var out, errOut bytes.Buffer
	if err := Fix(ctx, noApply, &out, &errOut); err != nil {
		t.Fatalf("Fix: %v\n%s", err, errOut.String())
	}
	want := "stale: ServiceEntry default/nacos-legacy-db (Nacos public/DEFAULT_GROUP/legacy-db), which fix no longer makes: its host still resolves to the old addresses; " +
		"delete it with kubectl delete serviceentry -n default nacos-legacy-db, or run fix again with --apply-service-entries\n"
	if !strings.Contains(out.String(), want) || strings.Contains(out.String(), "nacos-web") {
		t.Errorf("text without --apply-service-entries: want %q and nothing of nacos-web:\n%s", want, out.String())
	}

	dry := o
	dry.DryRun = true
	res, text := fix(t, dry)
	if diff := cmp.Diff([]string{"default/nacos-legacy-db public/DEFAULT_GROUP/legacy-db"}, stale(res)); diff != "" {
		t.Errorf("stale, dry run (-want +got):\n%s", diff)
	}
	wantApplied := []EntryResult{{Namespace: "default", Name: "nacos-order-service", Action: EntryUnchanged},
		{Namespace: "default", Name: "nacos-legacy-db", Action: EntryDeleted}}
	if diff := cmp.Diff(wantApplied, res.ServiceEntriesApplied); diff != "" {
		t.Errorf("dry run's actions (-want +got):\n%s\n%s", diff, text)
	}
	if _, err := get("nacos-legacy-db"); err != nil {
		t.Errorf("after the dry run: %v, want nacos-legacy-db kept", err)
	}

	res, _ = fix(t, o)
	if diff := cmp.Diff(wantApplied, res.ServiceEntriesApplied); diff != "" {
		t.Errorf("real run's actions (-want +got):\n%s", diff)
	}
	if _, err := get("nacos-legacy-db"); !apierrors.IsNotFound(err) {
		t.Errorf("after the real run: %v, want nacos-legacy-db not found", err)
	}
	if web, err := get("nacos-web"); err != nil || web.Labels["app.kubernetes.io/managed-by"] != "platform-team" {
		t.Errorf("the taken-over nacos-web: %v %v, want it kept as it was", err, web.Labels)
	}
	if res, _ := fix(t, o); len(res.StaleServiceEntries) != 0 {
		t.Errorf("a run after the delete: stale %v, want none", stale(res))
	}
	staleTakenOver(t, env, srv, o)
}

// staleTakenOver: fix run with another --service-entry-namespace finds
// the entry of the namespace before stale; someone takes it over between
// fix's read and its delete: the delete's preconditions (UID and
// resourceVersion of the read) keep it, reported as kept.
func staleTakenOver(t *testing.T, env *kubetest.Env, srv *nacosserver.Server, o FixOptions) {
	t.Helper()
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	o.ServiceEntryNamespace = "shop"
	o.beforeDelete = func() {
		var se networkingv1.ServiceEntry
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "nacos-order-service"}, &se); err != nil {
			t.Fatal(err)
		}
		delete(se.Labels, "app.kubernetes.io/managed-by")
		if err := env.Client.Update(ctx, &se); err != nil {
			t.Fatal(err)
		}
	}
	res, text := fix(t, o)
	want := []EntryResult{{Namespace: "shop", Name: "nacos-order-service", Action: EntryCreated},
		{Namespace: "default", Name: "nacos-order-service", Action: EntryKept}}
	if diff := cmp.Diff(want, res.ServiceEntriesApplied, cmpopts.IgnoreFields(EntryResult{}, "Message")); diff != "" {
		t.Errorf("actions (-want +got):\n%s\n%s", diff, text)
	}
	if n := len(res.ServiceEntriesApplied); n == 2 && !strings.Contains(res.ServiceEntriesApplied[1].Message, "changed since fix read it") {
		t.Errorf("kept's message %q, want it to say the entry changed", res.ServiceEntriesApplied[1].Message)
	}
	var se networkingv1.ServiceEntry
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "nacos-order-service"}, &se); err != nil {
		t.Errorf("the entry taken over: %v, want it kept", err)
	}
}

package command

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/embedded"
	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosscan"
	"github.com/graylane/graylane/internal/nacosserver"
)

// startRuntime runs a real embedded runtime (what `graylane up` runs)
// with no manifests, on loopback; it answers its admin and client proxy
// addresses.
func startRuntime(t *testing.T) (admin, client string) {
	t.Helper()
	rt, err := embedded.New(embedded.Options{GatewayAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ClientAddr: "127.0.0.1:0", WatchInterval: -1},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc, ready := make(chan error, 1), make(chan struct{})
	go func() {
		errc <- rt.Run(ctx, func(_, a, c string) { admin, client = a, c; close(ready) })
	}()
	select {
	case <-ready:
	case err := <-errc:
		cancel()
		t.Fatalf("runtime stopped before ready: %v", err)
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatal("runtime not ready after 2m")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return admin, client
}

// TestFixApplyServiceEntriesLocal: fix --local --apply-service-entries
// against a real embedded runtime. A Nacos service outside it (a real
// HTTP server on loopback) gets a ServiceEntry, and the runtime's client
// proxy routes its host NAME.nacos to the server. Once the service leaves
// Nacos, its entry is stale: fix without --apply-service-entries says how
// to delete it, a dry run sends nothing (the runtime keeps the entry), the
// real run deletes it (DELETE /v1/serviceentries/default/nacos-pg): the
// runtime no longer lists it and its host no longer reaches the server.
func TestFixApplyServiceEntriesLocal(t *testing.T) {
	var hits atomic.Int64
	pg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "pg")
	}))
	t.Cleanup(pg.Close)
	_, port, _ := net.SplitHostPort(pg.Listener.Addr().String())
	portN, _ := strconv.Atoi(port)
	srv := startNacos(t)
	register(t, srv, "pg", "127.0.0.1", portN)
	admin, client := startRuntime(t)
	rt := adminapi.New(admin)
	ctx := context.Background()
	o := FixOptions{Options: Options{Nacos: nacosclient.Options{Server: "http://" + srv.HTTPAddr()}, Local: true, Admin: admin},
		ApplyServiceEntries: true}
	viaRuntime := func() (int, string) { return proxyGet(t, client, "http://pg.nacos:"+port+"/") }
	entries := func() []string { return runtimeEntries(t, rt) }

	res, text := fix(t, o)
	if !slices.Contains(res.ServiceEntriesApplied, EntryResult{Namespace: "default", Name: "nacos-pg", Action: EntryCreated}) {
		t.Fatalf("first run: want nacos-pg created:\n%s", text)
	}
	if code, body := viaRuntime(); code != http.StatusOK || body != "pg" {
		t.Fatalf("pg.nacos through the runtime: %d %q, want the server's 200 pg", code, body)
	}

	deregister(t, srv, "pg", "127.0.0.1", portN)
	noApply := o
	noApply.ApplyServiceEntries, noApply.Output = false, "text"
	var out, errOut bytes.Buffer
	if err := Fix(ctx, noApply, &out, &errOut); err != nil {
		t.Fatalf("Fix: %v\n%s", err, errOut.String())
	}
	if want := "stale: ServiceEntry default/nacos-pg (Nacos public/DEFAULT_GROUP/pg), which fix no longer makes: its host still resolves to the old addresses; delete it by running fix again with --apply-service-entries\n"; !strings.Contains(out.String(), want) {
		t.Errorf("text without --apply-service-entries: want %q:\n%s", want, out.String())
	}
	dry := o
	dry.DryRun = true
	res, text = fix(t, dry)
	if diff := cmp.Diff([]string{"default/nacos-pg"}, staleRefs(res)); diff != "" || len(res.ServiceEntriesApplied) != 0 {
		t.Errorf("dry run: stale (-want +got):\n%s\nsent %v, want nothing:\n%s", diff, res.ServiceEntriesApplied, text)
	}
	if !slices.Contains(entries(), "default/nacos-pg") {
		t.Errorf("the runtime lost nacos-pg in a dry run: %v", entries())
	}

	res, text = fix(t, o)
	if !slices.Contains(res.ServiceEntriesApplied, EntryResult{Namespace: "default", Name: "nacos-pg", Action: EntryDeleted}) {
		t.Errorf("real run: want nacos-pg deleted:\n%s", text)
	}
	if diff := cmp.Diff([]string{"default/nacos-legacy-db", "default/nacos-order-service", "default/nacos-web"}, entries()); diff != "" {
		t.Errorf("the runtime's ServiceEntries after the delete (-want +got):\n%s", diff)
	}
	before := hits.Load()
	if code, body := viaRuntime(); code == http.StatusOK || body == "pg" || hits.Load() != before {
		t.Errorf("pg.nacos after the delete: %d %q (server hits %d -> %d), want no route to the server", code, body, before, hits.Load())
	}
	if res, _ := fix(t, o); len(res.StaleServiceEntries) != 0 {
		t.Errorf("a run after the delete: stale %v, want none", staleRefs(res))
	}
	staleTakenOverLocal(t, srv, rt, o, portN)
}

// staleTakenOverLocal: pg comes back and leaves again; between fix's
// read and its delete its entry is applied again - the same entry, fix's
// label and annotation for the same Nacos service, only other addresses
// (as another fix run could). The runtime refuses the delete (409: the
// resourceVersion fix read is no longer the entry's), reported as kept,
// as the preconditions on a cluster keep it.
func staleTakenOverLocal(t *testing.T, srv *nacosserver.Server, rt *adminapi.Client, o FixOptions, port int) {
	t.Helper()
	register(t, srv, "pg", "127.0.0.1", port)
	fix(t, o)
	deregister(t, srv, "pg", "127.0.0.1", port)
	o.beforeDelete = func() {
		ses, err := rt.ServiceEntries(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(ses, func(se *networkingv1.ServiceEntry) bool { return se.Name == "nacos-pg" })
		if i < 0 {
			t.Fatalf("no nacos-pg in the runtime to apply again")
		}
		se := ses[i]
		se.ResourceVersion = ""
		se.Spec.Addresses = []string{"127.0.0.2"}
		for _, e := range se.Spec.Endpoints {
			e.Address = "127.0.0.2"
		}
		body, err := encodeEntries([]*networkingv1.ServiceEntry{se})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := rt.Apply(context.Background(), "another fix run", body); err != nil || len(res.Configured) != 1 {
			t.Fatalf("apply nacos-pg again with other addresses: %+v, %v; want it configured", res, err)
		}
	}
	res, text := fix(t, o)
	var kept []EntryResult
	for _, a := range res.ServiceEntriesApplied {
		if a.Name == "nacos-pg" {
			kept = append(kept, a)
		}
	}
	if len(kept) != 1 || kept[0].Action != EntryKept || !strings.HasPrefix(kept[0].Message, "changed since it was read (resourceVersion ") ||
		!strings.HasSuffix(kept[0].Message, "): not deleted") || strings.Contains(kept[0].Message, "nacos-pg") {
		t.Errorf("the entry applied again: %+v, want kept, its message saying it changed since its resourceVersion (without the entry's name again):\n%s", kept, text)
	}
	if !slices.Contains(runtimeEntries(t, rt), "default/nacos-pg") {
		t.Errorf("the runtime deleted the entry applied again: %v", runtimeEntries(t, rt))
	}
}

// proxyGet sends GET target through the runtime's client proxy (what a
// replica's HTTP_PROXY does).
func proxyGet(t *testing.T, client, target string) (int, string) {
	t.Helper()
	proxy, _ := url.Parse("http://" + client)
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// runtimeEntries lists the runtime's ServiceEntries as "namespace/name".
func runtimeEntries(t *testing.T, rt *adminapi.Client) []string {
	t.Helper()
	ses, err := rt.ServiceEntries(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, se := range ses {
		out = append(out, se.Namespace+"/"+se.Name)
	}
	return out
}

func staleRefs(res *FixResult) []string {
	var out []string
	for _, se := range res.StaleServiceEntries {
		out = append(out, se.Namespace+"/"+se.Name)
	}
	return out
}

// TestDeleteLocalGoesOn: a delete the runtime answers with an error does
// not stop the next ones (as on a cluster): the others are deleted or
// gone, the errors joined. An error that is not the runtime's answer - an
// older runtime without the route, or none listening - would be the same
// for each: deleteLocal stops at the first, one error. The runtime is an
// httptest server answering as the admin API does: no real runtime fails
// a delete on demand.
func TestDeleteLocalGoesOn(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "DELETE /v1/serviceentries/default/nacos-a":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"error":"save state: disk full"}`)
		case "DELETE /v1/serviceentries/default/nacos-b":
			_, _ = io.WriteString(w, `{"deleted":"ServiceEntry default/nacos-b"}`)
		case "DELETE /v1/serviceentries/default/nacos-c":
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"ServiceEntry default/nacos-c not found"}`)
		case "DELETE /v1/serviceentries/default/nacos-d":
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"error":"ServiceEntry default/nacos-d: changed since it was read (resourceVersion 3, now 4)"}`)
		default: // as an older runtime's mux: no such route
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "404 page not found\n")
		}
	}))
	t.Cleanup(srv.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there any more
	entries := func(names ...string) []nacosscan.StaleEntry {
		var out []nacosscan.StaleEntry
		for _, n := range names {
			out = append(out, nacosscan.StaleEntry{Namespace: "default", Name: n, ResourceVersion: "3"})
		}
		return out
	}
	tests := []struct {
		name     string
		admin    string
		stale    []nacosscan.StaleEntry
		want     []EntryResult
		requests int64
		wantErr  []string // each once in the error
	}{
		{"the runtime's errors: goes on", srv.Listener.Addr().String(), entries("nacos-a", "nacos-b", "nacos-c", "nacos-d"),
			[]EntryResult{{Namespace: "default", Name: "nacos-b", Action: EntryDeleted}, {Namespace: "default", Name: "nacos-c", Action: EntryGone},
				{Namespace: "default", Name: "nacos-d", Action: EntryKept, Message: "changed since it was read (resourceVersion 3, now 4): not deleted"}},
			4, []string{"delete ServiceEntry default/nacos-a", "disk full"}},
		{"an older runtime: stops", srv.Listener.Addr().String(), entries("nacos-b", "nacos-x", "nacos-y", "nacos-z"),
			[]EntryResult{{Namespace: "default", Name: "nacos-b", Action: EntryDeleted}},
			2, []string{"delete ServiceEntry default/nacos-x", "has no route DELETE /v1/serviceentries/default/nacos-x", "restart graylane up", "(stopped: 2 more not tried)"}},
		{"no runtime: stops", closed.Listener.Addr().String(), entries("nacos-x", "nacos-y"),
			[]EntryResult{}, 0, []string{"delete ServiceEntry default/nacos-x", "is `graylane up` running?", "(stopped: 1 more not tried)"}},
	}
	for _, tc := range tests {
		requests.Store(0)
		got, err := deleteLocal(context.Background(), adminapi.New(tc.admin), tc.stale, false)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: results (-want +got):\n%s", tc.name, diff)
		}
		if n := requests.Load(); n != tc.requests {
			t.Errorf("%s: %d requests, want %d", tc.name, n, tc.requests)
		}
		for _, w := range tc.wantErr {
			if err == nil || strings.Count(err.Error(), w) != 1 {
				t.Errorf("%s: err = %v, want %q in it once", tc.name, err, w)
			}
		}
	}
}

package gateclient_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/decide"
	"github.com/graylane/graylane/internal/gate"
	"github.com/graylane/graylane/internal/gateclient"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/manifest"
)

// edgeLane is a Lane whose entry is what the gate decides by: the gate's
// whitelist and a percentage; no anonymous clients (the gate's lanes admit
// none).
const edgeLane = `apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: shop}
spec:
  members:
  - service: order
    workload: order-v2
  - service: logistics
    workload: logistics-v2
  entry:
    whitelist: {gate: %q}
    percentage: {weight: 30, anonymousWeight: 0}
`

// TestGateAndEdgeAgree: for the same lanes, whitelist and callers, the
// gate's /v1/decide and ext_authz and the edge of `graylane up` (reading
// the gate's whitelist through a Follower) give the same lane, reason,
// source and bucket.
func TestGateAndEdgeAgree(t *testing.T) {
	g := startGate(t, "sqlite://"+filepath.Join(t.TempDir(), "gate.db"), "127.0.0.1:0",
		gate.HandlerOptions{Identity: gate.IdentityOptions{UserHeader: "x-user-id", TenantHeader: "x-tenant-id"}})
	ctx := context.Background()
	c := g.client()
	if _, err := c.SetLane(ctx, "gray", 30); err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(time.Second)
	for _, e := range []gateclient.EntryRequest{
		{Kind: "user", ID: "pinned-in", Lane: "gray"}, {Kind: "user", ID: "pinned-out", Lane: "base"},
		{Kind: "user", ID: "expired", Lane: "base", ExpiresAt: &expires},
		{Kind: "tenant", ID: "acme", Lane: "gray"}, {Kind: "tenant", ID: "zeta", Lane: "base"},
	} {
		if _, err := c.AddEntry(ctx, e); err != nil {
			t.Fatal(err)
		}
	}

	base := "http://" + g.addr
	f := follow(t, base, discardLog())
	want := g.g.Snapshots.Current().Version
	waitFor(t, "the follower at the gate's version", func() bool { return f.Status().Version == want })
	edge := edgeEntry(t, base)

	// The entry of "expired" has expired for both by now.
	waitFor(t, "the entry's expiry", func() bool { return time.Now().After(expires.Add(100 * time.Millisecond)) })
	users := []string{"", "pinned-in", "pinned-out", "expired"}
	for i := range 200 {
		users = append(users, fmt.Sprintf("user-%d", i))
	}
	checked := map[string]int{}
	for _, user := range users {
		for _, tenant := range []string{"", "acme", "zeta", "other"} {
			now := time.Now()
			h := http.Header{}
			if user != "" {
				h.Set("x-user-id", user)
			}
			if tenant != "" {
				h.Set("x-tenant-id", tenant)
			}
			ed := edge.Apply(h.Clone(), 0.5, func(name string) *decide.Whitelist {
				if name == base {
					return f.Whitelist()
				}
				return nil
			}, now)
			edgeLane := ed.Lane
			if edgeLane == "" {
				edgeLane = gateclient.BaseLane
			}
			gd, err := c.Decide(ctx, user, tenant)
			if err != nil {
				t.Fatal(err)
			}
			if got := (gateclient.Decision{Lane: edgeLane, Reason: ed.Reason, Source: ed.Source, Bucket: ed.Bucket}); got != gd {
				t.Errorf("user %q tenant %q: edge %+v, gate /v1/decide %+v", user, tenant, got, gd)
			}
			if authz := g.authz(t, h); authz != edgeLane {
				t.Errorf("user %q tenant %q: edge lane %q, gate ext_authz %q", user, tenant, edgeLane, authz)
			}
			checked[ed.Reason]++
		}
	}
	for _, reason := range []string{decide.ReasonWhitelist, decide.ReasonPercentage, decide.ReasonNone} {
		if checked[reason] == 0 {
			t.Errorf("no caller was decided by %s: %v", reason, checked)
		}
	}
	t.Logf("%d callers decided alike: %v", len(users)*4, checked)
}

// edgeEntry is the edge of `graylane up` for edgeLane with the gate at
// base.
func edgeEntry(t *testing.T, base string) *lane.Entry {
	t.Helper()
	shop, err := os.ReadFile("../../examples/lanes/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := manifest.LoadBytes("lanes.yaml", append(append(shop, "\n---\n"...), fmt.Sprintf(edgeLane, base)...))
	if err != nil {
		t.Fatal(err)
	}
	in := lane.Input{Objects: set.Objects}
	out, err := lane.Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	e, err := lane.NewEntry(&in, out.Lanes, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// authz sends the headers to the gate's ext_authz check and returns the
// lane header it sets.
func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func (s *gateServer) authz(t *testing.T, h http.Header) string {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+s.addr+"/authz/some/path", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("authz: %d", resp.StatusCode)
	}
	return resp.Header.Get("x-graylane")
}

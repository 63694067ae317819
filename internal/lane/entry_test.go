package lane_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/bucket"
	"github.com/graylane/graylane/internal/decide"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/manifest"
)

var key = []byte("entry-test-key-0123456789abcdef")

// entry compiles the example shop with the given Lane documents.
func entry(t *testing.T, lanes string, states map[string]lane.State) *lane.Entry {
	t.Helper()
	set := load(t, lanes)
	in := lane.Input{Objects: set.Objects, States: states}
	out, err := lane.Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	e, err := lane.NewEntry(&in, out.Lanes, key)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// userIn and userOut find user ids the example lane admits / refuses at
// weight 50.
func userAt(t *testing.T, in bool) string {
	t.Helper()
	for i := range 1000 {
		u := fmt.Sprintf("u%d", i)
		if (int32(bucket.LaneRanks("gray")[bucket.Of(u)]) < 50) == in {
			return u
		}
	}
	t.Fatal("no user found")
	return ""
}

func TestEntryDecisions(t *testing.T) {
	e := entry(t, exampleLane(t), nil)
	now := time.Now()
	in, out := userAt(t, true), userAt(t, false)
	none := func(user string) lane.Decision {
		return lane.Decision{Reason: decide.ReasonNone, Source: decide.SourceHash, Bucket: bucket.Of(user)}
	}
	rule := func(reason string) lane.Decision {
		return lane.Decision{Lane: "gray", Reason: reason, Source: decide.SourceRule, Bucket: -1}
	}
	signed := lane.Decision{Lane: "gray", Reason: decide.ReasonSigned, Source: decide.SourceHeader, Bucket: -1}
	tests := []struct {
		name string
		h    http.Header
		rnd  float64
		want lane.Decision
		// wantHeader / wantBaggage are the lane header and baggage after.
		wantHeader, wantBaggage string
	}{
		{"header rule", headers("X-Canary", "true"), 0.9, rule(decide.ReasonHeader), "gray", "x-graylane=gray"},
		{"header rule mismatch", headers("X-Canary", "false", "x-user-id", out), 0.9, none(out), "", ""},
		{"cookie rule", headers("Cookie", "a=b; tenantGray=1"), 0.9, rule(decide.ReasonCookie), "gray", "x-graylane=gray"},
		{"whitelist", headers("x-user-id", "alice"), 0.9, lane.Decision{Lane: "gray", Reason: decide.ReasonWhitelist, Source: decide.SourceUser, Bucket: bucket.Of("alice")}, "gray", "x-graylane=gray"},
		{"bucket in", headers("x-user-id", in), 0.9, lane.Decision{Lane: "gray", Reason: decide.ReasonPercentage, Source: decide.SourceHash, Bucket: bucket.Of(in)}, "gray", "x-graylane=gray"},
		{"bucket out", headers("x-user-id", out), 0.1, none(out), "", ""},
		{"spoofed header removed", headers("x-graylane", "gray", "x-user-id", out), 0.1, none(out), "", ""},
		{"spoofed baggage removed", headers("baggage", "k=v, x-graylane=gray;p=1,z=2", "x-user-id", out), 0.1, none(out), "", "k=v,z=2"},
		{"signed", headers("x-graylane", lane.Sign(key, "gray", now.Add(time.Minute)), "x-user-id", out), 0.9, signed, "gray", "x-graylane=gray"},
		{"signed among spoofed values", headers("x-graylane", "gray", "x-graylane", lane.Sign(key, "gray", now.Add(time.Minute))), 0.9, signed, "gray", "x-graylane=gray"},
		{"signed for an unknown lane", headers("x-graylane", lane.Sign(key, "blue", now.Add(time.Minute)), "x-user-id", out), 0.9, none(out), "", ""},
		{"existing baggage kept", headers("baggage", "k=v", "X-Canary", "true"), 0.9, rule(decide.ReasonHeader), "gray", "k=v,x-graylane=gray"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.Apply(tt.h, tt.rnd, nil, now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
			if h := tt.h.Get("x-graylane"); h != tt.wantHeader {
				t.Errorf("x-graylane %q, want %q", h, tt.wantHeader)
			}
			if b := strings.Join(tt.h.Values("Baggage"), ","); b != tt.wantBaggage {
				t.Errorf("baggage %q, want %q", b, tt.wantBaggage)
			}
		})
	}
}

// TestEntryAnonymous: without a lane key an anonymous request enters by a
// per-request draw; with one, an anonymous client gets a signed bucket
// cookie once and is decided by that bucket from then on.
func TestEntryAnonymous(t *testing.T) {
	set := load(t, exampleLane(t))
	in := lane.Input{Objects: set.Objects}
	out, err := lane.Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	noKey, err := lane.NewEntry(&in, out.Lanes, nil)
	if err != nil {
		t.Fatal(err)
	}
	for rnd, want := range map[float64]string{0.2: "gray", 0.7: ""} {
		if d := noKey.Apply(headers(), rnd, nil, now); d.Lane != want || d.SetCookie != "" {
			t.Errorf("no key, draw %v: %+v, want lane %q and no cookie", rnd, d, want)
		}
	}
	e, err := lane.NewEntry(&in, out.Lanes, key)
	if err != nil {
		t.Fatal(err)
	}
	ranks := bucket.LaneRanks("gray")
	for b := 0; b < bucket.N; b += 7 {
		first := e.Apply(headers(), float64(b)/bucket.N+0.001, nil, now)
		wantLane := ""
		if ranks[b] < 50 {
			wantLane = "gray"
		}
		if first.Bucket != b || first.Lane != wantLane || !strings.HasPrefix(first.SetCookie, lane.BucketCookie+"=") {
			t.Fatalf("bucket %d, first request: %+v, want lane %q and a bucket cookie", b, first, wantLane)
		}
		cookie := strings.SplitN(first.SetCookie, ";", 2)[0]
		for _, rnd := range []float64{0, 0.5, 0.99} {
			again := e.Apply(headers("Cookie", "a=1; "+cookie), rnd, nil, now)
			if again.Lane != wantLane || again.Bucket != b || again.SetCookie != "" {
				t.Fatalf("bucket %d, with its cookie, draw %v: %+v", b, rnd, again)
			}
		}
		tampered := strings.Replace(cookie, "=", "=1", 1)
		if d := e.Apply(headers("Cookie", tampered), 0.5, nil, now); d.SetCookie == "" || d.Bucket != 50 {
			t.Fatalf("tampered cookie %q was accepted: %+v", tampered, d)
		}
	}
}

// TestEntryClosedWhenNotActive: an aborted or promoted lane admits no one,
// but lane headers from outside are still removed.
func TestEntryClosedWhenNotActive(t *testing.T) {
	for _, phase := range []lane.Phase{lane.Aborted, lane.Promoted} {
		e := entry(t, exampleLane(t), map[string]lane.State{"shop/gray": {Phase: phase, Weight: 100}})
		h := headers("X-Canary", "true", "x-user-id", "alice", "x-graylane", "gray")
		if got := e.Apply(h, 0, nil, time.Now()); got.Lane != "" {
			t.Errorf("%s: entered %q", phase, got.Lane)
		}
		if h.Get("x-graylane") != "" {
			t.Errorf("%s: the outside lane header was kept", phase)
		}
	}
}

// TestEntryGateWhitelist: a lane with a gate reads the gate's whitelist
// snapshot (by the gate's URL): an entry for this lane admits, an entry
// for another lane or base keeps the caller out of this lane, even where
// its percentage would admit them; before a snapshot exists, nobody is
// admitted by it.
func TestEntryGateWhitelist(t *testing.T) {
	doc := strings.Replace(exampleLane(t), "users: [alice]", "users: [alice]\n      gate: http://gate.example", 1)
	e := entry(t, strings.Replace(doc, "weight: 50", "weight: 100", 1), nil)
	if diff := cmp.Diff([]string{"http://gate.example"}, e.Whitelists()); diff != "" {
		t.Errorf("whitelists (-want +got):\n%s", diff)
	}
	snap := &decide.Whitelist{Version: 1,
		Users:   map[string]decide.Pin{"bob": {Lane: "gray"}, "carol": {Lane: "blue"}, "erin": {Lane: "base"}},
		Tenants: map[string]decide.Pin{"acme": {Lane: "gray"}},
	}
	asked := map[string]int{}
	wl := func(name string) *decide.Whitelist {
		asked[name]++
		return snap
	}
	tests := []struct {
		user, tenant string
		wl           decide.Whitelists
		want         string
		reason       string
	}{
		{"bob", "", wl, "gray", decide.ReasonWhitelist},
		{"carol", "", wl, "", decide.ReasonWhitelist},
		{"erin", "", wl, "", decide.ReasonWhitelist},
		{"dave", "", wl, "gray", decide.ReasonPercentage},
		{"dave", "acme", wl, "gray", decide.ReasonWhitelist},
		{"bob", "", func(string) *decide.Whitelist { return nil }, "gray", decide.ReasonPercentage},
		{"carol", "", func(string) *decide.Whitelist { return nil }, "gray", decide.ReasonPercentage},
	}
	for _, tt := range tests {
		h := headers("x-user-id", tt.user)
		if tt.tenant != "" {
			h.Set("x-tenant-id", tt.tenant)
		}
		if got := e.Apply(h, 0.9, tt.wl, time.Now()); got.Lane != tt.want || got.Reason != tt.reason {
			t.Errorf("%s/%s: %+v, want lane %q reason %s", tt.user, tt.tenant, got, tt.want, tt.reason)
		}
	}
	if len(asked) != 1 || asked["http://gate.example"] == 0 {
		t.Errorf("whitelists asked for: %v", asked)
	}
}

// TestEntryMonotonic: raising the weight only adds users, and a user's
// decision never changes at one weight.
func TestEntryMonotonic(t *testing.T) {
	doc := strings.Replace(exampleLane(t), "users: [alice]", "users: []", 1)
	prev := map[string]bool{}
	for w := int32(0); w <= 100; w += 5 {
		e := entry(t, doc, map[string]lane.State{"shop/gray": {Phase: lane.Active, Weight: w}})
		in := map[string]bool{}
		for i := range 2000 {
			u := fmt.Sprintf("user-%d", i)
			d := e.Apply(headers("x-user-id", u), 0.5, nil, time.Now())
			if again := e.Apply(headers("x-user-id", u), 0.01, nil, time.Now()); again != d {
				t.Fatalf("weight %d: %s decided %v then %v", w, u, d, again)
			}
			if d.Lane == "gray" {
				in[u] = true
			}
		}
		for u := range prev {
			if !in[u] {
				t.Fatalf("raising the weight to %d removed %s", w, u)
			}
		}
		if n := len(in); n < int(w)*20-120 || n > int(w)*20+120 {
			t.Errorf("weight %d admitted %d of 2000", w, n)
		}
		prev = in
	}
}

func TestSignVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v := lane.Sign(key, "gray", now.Add(time.Hour))
	tests := []struct {
		name  string
		key   []byte
		value string
		ok    bool
	}{
		{"valid", key, v, true},
		{"other key", []byte("another-key-0123456789"), v, false},
		{"no key", nil, v, false},
		{"expired", key, lane.Sign(key, "gray", now.Add(-time.Second)), false},
		{"lane changed", key, strings.Replace(v, "gray", "blue", 1), false},
		{"expiry changed", key, strings.Replace(v, ".1800003600.", ".1900003600.", 1), false},
		{"plain", key, "gray", false},
		{"empty", key, "", false},
	}
	for _, tt := range tests {
		lane, ok := lane.Verify(tt.key, tt.value, now)
		if ok != tt.ok || (ok && lane != "gray") {
			t.Errorf("%s: Verify = %q, %v; want ok %v", tt.name, lane, ok, tt.ok)
		}
	}
}

// FuzzEntry: any headers give a decision without a panic, the lane header
// afterwards is the decision's, and a lane header or baggage member sent
// from outside changes nothing unless the header is validly signed: the
// same request without them is decided the same.
func FuzzEntry(f *testing.F) {
	now := time.Unix(1_900_000_000, 0)
	f.Add("gray", "k=v,x-graylane=gray", "tenantGray=1", "alice")
	f.Add("gray.1.x", ",,;=,x-graylane", "=;;", "")
	f.Add(lane.Sign(key, "gray", now.Add(time.Hour)), "x-graylane=gray", "a=b", "u1")
	f.Add("gray", "x-graylane=gray", "graylane-anon-bucket=3.1.x", "")
	f.Fuzz(func(t *testing.T, laneHdr, baggage, cookie, user string) {
		set, err := loadFuzz()
		if err != nil {
			t.Fatal(err)
		}
		in := lane.Input{Objects: set}
		out, err := lane.Compile(in)
		if err != nil {
			t.Fatal(err)
		}
		e, err := lane.NewEntry(&in, out.Lanes, key)
		if err != nil {
			t.Fatal(err)
		}
		h := headers("x-graylane", laneHdr, "baggage", baggage, "Cookie", cookie, "x-user-id", user)
		d := e.Apply(h, 0.99, nil, now)
		if v := h.Get("x-graylane"); v != d.Lane {
			t.Errorf("x-graylane %q after deciding %q", v, d.Lane)
		}
		for _, v := range h.Values("Baggage") {
			for m := range strings.SplitSeq(v, ",") {
				if k, val, _ := strings.Cut(m, "="); strings.TrimSpace(k) == "x-graylane" && val != d.Lane {
					t.Errorf("baggage %q kept a lane member after deciding %q", v, d.Lane)
				}
			}
		}
		if _, ok := lane.Verify(key, laneHdr, now); ok {
			return
		}
		clean := headers("Cookie", cookie, "x-user-id", user)
		if kept := withoutLaneMembers(baggage); kept != "" {
			clean.Set("baggage", kept)
		}
		if want := e.Apply(clean, 0.99, nil, now); d != want {
			t.Errorf("lane header %q and baggage %q changed the decision: %+v, without them %+v", laneHdr, baggage, d, want)
		}
	})
}

// withoutLaneMembers drops the x-graylane members of a baggage value.
func withoutLaneMembers(v string) string {
	var kept []string
	for m := range strings.SplitSeq(v, ",") {
		if k, _, _ := strings.Cut(m, "="); strings.TrimSpace(k) != "x-graylane" && strings.TrimSpace(m) != "" {
			kept = append(kept, m)
		}
	}
	return strings.Join(kept, ",")
}

var fuzzSet = sync.OnceValues(func() ([]*manifest.Object, error) {
	set, err := manifest.Load("../../examples/lanes")
	if err != nil {
		return nil, err
	}
	return set.Objects, nil
})

func loadFuzz() ([]*manifest.Object, error) { return fuzzSet() }

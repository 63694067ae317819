package decide

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/bucket"
)

var (
	t0      = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	laneKey = []byte("decide-test-lane-key-0123456789")
	ckKey   = []byte(strings.Repeat("c", 32))
)

func engine(t testing.TB, r Rules) *Engine {
	t.Helper()
	e, err := New(r)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// userWith finds a user id whose bucket is in (in=true) or out of the
// first weight buckets of lane.
func userWith(t testing.TB, lane string, weight int, in bool) string {
	t.Helper()
	ranks := bucket.LaneRanks(lane)
	for i := range 10000 {
		u := fmt.Sprintf("u%d", i)
		if (int(ranks[bucket.Of(u)]) < weight) == in {
			return u
		}
	}
	t.Fatal("no such user")
	return ""
}

// TestMatchers: exact, prefix, regex (whole value) and presence, on
// headers and cookies.
func TestMatchers(t *testing.T) {
	tests := []struct {
		name   string
		header bool // a header rule, else a cookie rule
		m      Match
		h      http.Header
		want   bool
	}{
		{"exact", true, Match{Name: "x-a", Exact: "yes"}, hdr("X-A", "yes"), true},
		{"exact longer", true, Match{Name: "x-a", Exact: "yes"}, hdr("X-A", "yes!"), false},
		{"exact empty value", true, Match{Name: "x-a", Exact: "yes"}, hdr("X-A", ""), false},
		{"exact absent", true, Match{Name: "x-a", Exact: "yes"}, hdr("X-B", "yes"), false},
		{"name case", true, Match{Name: "X-a", Exact: "yes"}, hdr("x-A", "yes"), true},
		{"prefix", true, Match{Name: "x-a", Prefix: "be"}, hdr("X-A", "beta"), true},
		{"prefix whole", true, Match{Name: "x-a", Prefix: "be"}, hdr("X-A", "be"), true},
		{"prefix inside", true, Match{Name: "x-a", Prefix: "be"}, hdr("X-A", "abe"), false},
		{"regex", true, Match{Name: "x-a", Regex: "v[0-9]+"}, hdr("X-A", "v12"), true},
		{"regex anchored start", true, Match{Name: "x-a", Regex: "v[0-9]+"}, hdr("X-A", "xv12"), false},
		{"regex anchored end", true, Match{Name: "x-a", Regex: "v[0-9]+"}, hdr("X-A", "v12x"), false},
		{"regex alternation anchored", true, Match{Name: "x-a", Regex: "a|b"}, hdr("X-A", "ab"), false},
		{"regex alternation", true, Match{Name: "x-a", Regex: "a|b"}, hdr("X-A", "b"), true},
		{"presence", true, Match{Name: "x-a"}, hdr("X-A", "anything"), true},
		{"presence empty value", true, Match{Name: "x-a"}, hdr("X-A", ""), true},
		{"presence absent", true, Match{Name: "x-a"}, hdr("X-B", "1"), false},
		{"values joined", true, Match{Name: "x-a", Exact: "a,b"}, hdr("X-A", "a", "X-A", "b"), true},
		{"first value alone", true, Match{Name: "x-a", Exact: "a"}, hdr("X-A", "a", "X-A", "b"), false},
		{"cookie exact", false, Match{Name: "c", Exact: "1"}, hdr("Cookie", "a=b; c=1"), true},
		{"cookie exact longer", false, Match{Name: "c", Exact: "1"}, hdr("Cookie", "c=10"), false},
		{"cookie name exact", false, Match{Name: "c", Exact: "1"}, hdr("Cookie", "cc=1"), false},
		{"cookie regex", false, Match{Name: "c", Regex: "g.*y"}, hdr("Cookie", "c=gray"), true},
		{"cookie regex anchored", false, Match{Name: "c", Regex: "g.*y"}, hdr("Cookie", "c=grays"), false},
		{"cookie presence", false, Match{Name: "c"}, hdr("Cookie", "c="), true},
		{"cookie quoted", false, Match{Name: "c", Exact: "1"}, hdr("Cookie", `c="1"`), true},
		{"cookie after a malformed pair", false, Match{Name: "c", Exact: "1"}, hdr("Cookie", "junk; =x; c=1"), true},
		{"cookie second line", false, Match{Name: "c", Exact: "1"}, hdr("Cookie", "a=1", "Cookie", "c=1"), true},
		{"cookie any of the same name", false, Match{Name: "c", Exact: "1"}, hdr("Cookie", "c=0; c=1"), true},
		{"cookie absent", false, Match{Name: "c", Exact: "1"}, hdr("X-C", "c=1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Lane{Name: "gray"}
			wantReason := ReasonHeader
			if tt.header {
				l.Headers = []Match{tt.m}
			} else {
				l.Cookies = []Match{tt.m}
				wantReason = ReasonCookie
			}
			got := engine(t, Rules{Lanes: []Lane{l}}).Decide(Request{Header: tt.h}, nil, t0)
			want := Decision{Reason: ReasonNone, Source: SourceAnonymous, Bucket: -1}
			if tt.want {
				want = Decision{Lane: "gray", Reason: wantReason, Source: SourceRule, Bucket: -1}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBadRegex(t *testing.T) {
	_, err := New(Rules{Lanes: []Lane{{Name: "gray", Cookies: []Match{{Name: "c", Regex: "a("}}}}})
	if err == nil || !strings.Contains(err.Error(), "lane gray: cookies[0]: regex \"a(\"") {
		t.Errorf("New = %v, want an error naming the lane and the rule", err)
	}
}

// TestOrder: signed, header, cookie, whitelist, percentage; lanes in rule
// order within a kind.
func TestOrder(t *testing.T) {
	in := userWith(t, "d", 50, true)
	e := engine(t, Rules{LaneKey: laneKey, Identity: Identity{UserHeader: "x-user-id"}, Lanes: []Lane{
		{Name: "a", Cookies: []Match{{Name: "c", Exact: "1"}}},
		{Name: "b", Headers: []Match{{Name: "x-h"}}},
		{Name: "c", Users: []string{"alice"}, Headers: []Match{{Name: "x-h"}}},
		{Name: "d", Percentage: &Percentage{Weight: 50}},
	}})
	signed := SignLane(laneKey, "d", t0.Add(time.Hour))
	tests := []struct {
		name string
		req  Request
		want Decision
	}{
		{"signed beats every rule", Request{Header: hdr("X-H", "1", "Cookie", "c=1", "X-User-Id", "alice"), LaneValues: []string{"junk", signed}},
			Decision{Lane: "d", Reason: ReasonSigned, Source: SourceHeader, Bucket: -1}},
		{"header beats cookie, first lane by order", Request{Header: hdr("X-H", "1", "Cookie", "c=1")},
			Decision{Lane: "b", Reason: ReasonHeader, Source: SourceRule, Bucket: -1}},
		{"cookie beats whitelist", Request{Header: hdr("Cookie", "c=1", "X-User-Id", "alice")},
			Decision{Lane: "a", Reason: ReasonCookie, Source: SourceRule, Bucket: -1}},
		{"whitelist beats percentage", Request{Header: hdr("X-User-Id", "alice")},
			Decision{Lane: "c", Reason: ReasonWhitelist, Source: SourceUser, Bucket: bucket.Of("alice")}},
		{"percentage", Request{Header: hdr("X-User-Id", in)},
			Decision{Lane: "d", Reason: ReasonPercentage, Source: SourceHash, Bucket: bucket.Of(in)}},
		{"unsigned lane value counts for nothing", Request{Header: hdr(), LaneValues: []string{"d"}},
			Decision{Reason: ReasonNone, Source: SourceAnonymous, Bucket: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, e.Decide(tt.req, nil, t0)); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSigned(t *testing.T) {
	rules := Rules{LaneKey: laneKey, Lanes: []Lane{{Name: "gray"}}}
	v := SignLane(laneKey, "gray", t0.Add(time.Hour))
	tests := []struct {
		name  string
		rules Rules
		value string
		want  string
	}{
		{"valid", rules, v, "gray"},
		{"other key", rules, SignLane([]byte("another-key-0123456789"), "gray", t0.Add(time.Hour)), ""},
		{"expired", rules, SignLane(laneKey, "gray", t0), ""},
		{"lane changed", rules, strings.Replace(v, "gray", "blue", 1), ""},
		{"not one of the lanes", rules, SignLane(laneKey, "blue", t0.Add(time.Hour)), ""},
		{"plain", rules, "gray", ""},
		{"no key", Rules{Lanes: rules.Lanes}, v, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := engine(t, tt.rules).Decide(Request{LaneValues: []string{tt.value}}, nil, t0)
			if got.Lane != tt.want || (tt.want != "") != (got.Reason == ReasonSigned) {
				t.Errorf("decision %+v, want lane %q", got, tt.want)
			}
		})
	}
}

// TestWhitelists: inline lists and snapshots, user before tenant, pins out
// of the lanes consulting a snapshot, expiry.
func TestWhitelists(t *testing.T) {
	past, future := t0.Add(-time.Minute), t0.Add(time.Minute)
	g := &Whitelist{Version: 3,
		Users: map[string]Pin{"bob": {Lane: "beta"}, "carl": {Lane: "base"}, "dan": {Lane: "beta", Until: past},
			"erin": {Lane: "gamma", Until: future}, "fay": {Lane: "elsewhere"}},
		Tenants: map[string]Pin{"acme": {Lane: "gamma"}, "zeta": {Lane: "base"}},
	}
	wl := func(name string) *Whitelist {
		if name == "g" {
			return g
		}
		return nil
	}
	id := Identity{UserHeader: "x-user-id", TenantHeader: "x-tenant-id"}
	lanes := []Lane{
		{Name: "beta", Whitelist: "g", Users: []string{"ivy"}, Percentage: &Percentage{Weight: 0}},
		{Name: "gamma", Whitelist: "g", Tenants: []string{"inline"}, Percentage: &Percentage{Weight: 100}},
	}
	e := engine(t, Rules{Identity: id, Lanes: lanes})
	withOther := engine(t, Rules{Identity: id, Lanes: append(lanes[:2:2], Lane{Name: "omega", Percentage: &Percentage{Weight: 100}})})
	b := bucket.Of
	tests := []struct {
		name string
		e    *Engine
		wl   Whitelists
		h    http.Header
		want Decision
	}{
		{"user entry", e, wl, hdr("X-User-Id", "bob"), Decision{Lane: "beta", Reason: ReasonWhitelist, Source: SourceUser, Bucket: b("bob")}},
		{"user entry of a later lane", e, wl, hdr("X-User-Id", "erin"), Decision{Lane: "gamma", Reason: ReasonWhitelist, Source: SourceUser, Bucket: b("erin")}},
		{"pinned to base: not by percentage", e, wl, hdr("X-User-Id", "carl"), Decision{Reason: ReasonWhitelist, Source: SourceUser, Bucket: b("carl")}},
		{"pinned to a lane not here", e, wl, hdr("X-User-Id", "fay"), Decision{Reason: ReasonWhitelist, Source: SourceUser, Bucket: b("fay")}},
		{"pin only for lanes consulting the snapshot", withOther, wl, hdr("X-User-Id", "carl"), Decision{Lane: "omega", Reason: ReasonPercentage, Source: SourceHash, Bucket: b("carl")}},
		{"expired entry", e, wl, hdr("X-User-Id", "dan"), Decision{Lane: "gamma", Reason: ReasonPercentage, Source: SourceHash, Bucket: b("dan")}},
		{"tenant entry", e, wl, hdr("X-User-Id", "gus", "X-Tenant-Id", "acme"), Decision{Lane: "gamma", Reason: ReasonWhitelist, Source: SourceTenant, Bucket: b("gus")}},
		{"tenant without user", e, wl, hdr("X-Tenant-Id", "acme"), Decision{Lane: "gamma", Reason: ReasonWhitelist, Source: SourceTenant, Bucket: -1}},
		{"user beats tenant", e, wl, hdr("X-User-Id", "bob", "X-Tenant-Id", "acme"), Decision{Lane: "beta", Reason: ReasonWhitelist, Source: SourceUser, Bucket: b("bob")}},
		{"user pin beats tenant entry", e, wl, hdr("X-User-Id", "carl", "X-Tenant-Id", "acme"), Decision{Reason: ReasonWhitelist, Source: SourceUser, Bucket: b("carl")}},
		{"user pin beats inline tenant", e, wl, hdr("X-User-Id", "carl", "X-Tenant-Id", "inline"), Decision{Reason: ReasonWhitelist, Source: SourceUser, Bucket: b("carl")}},
		{"tenant pinned to base", e, wl, hdr("X-User-Id", "gus", "X-Tenant-Id", "zeta"), Decision{Reason: ReasonWhitelist, Source: SourceTenant, Bucket: b("gus")}},
		{"inline user beats a snapshot pin", e, func(string) *Whitelist {
			return &Whitelist{Users: map[string]Pin{"ivy": {Lane: "base"}}}
		}, hdr("X-User-Id", "ivy"), Decision{Lane: "beta", Reason: ReasonWhitelist, Source: SourceUser, Bucket: b("ivy")}},
		{"inline tenant", e, wl, hdr("X-Tenant-Id", "inline"), Decision{Lane: "gamma", Reason: ReasonWhitelist, Source: SourceTenant, Bucket: -1}},
		{"no snapshot yet admits and pins nobody", e, func(string) *Whitelist { return nil }, hdr("X-User-Id", "bob"),
			Decision{Lane: "gamma", Reason: ReasonPercentage, Source: SourceHash, Bucket: b("bob")}},
		{"no whitelists at all", e, nil, hdr("X-User-Id", "carl"), Decision{Lane: "gamma", Reason: ReasonPercentage, Source: SourceHash, Bucket: b("carl")}},
		{"ids given directly", e, wl, nil, Decision{Lane: "beta", Reason: ReasonWhitelist, Source: SourceUser, Bucket: b("bob")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{Header: tt.h}
			if tt.h == nil {
				req.IDs = &IDs{User: "bob", Tenant: "acme"}
			}
			if diff := cmp.Diff(tt.want, tt.e.Decide(req, tt.wl, t0)); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPercentage: users by their bucket (the hash, or a signed bucket
// cookie bound to them), anonymous clients by their cookie or a draw.
func TestPercentage(t *testing.T) {
	in, out := userWith(t, "gray", 30, true), userWith(t, "gray", 30, false)
	id := Identity{UserHeader: "x-user-id"}
	lanes := []Lane{{Name: "gray", Percentage: &Percentage{Weight: 30, Anonymous: 40}}}
	plain := engine(t, Rules{Identity: id, Lanes: lanes})
	withCookies := engine(t, Rules{Identity: id, Lanes: lanes, UserBucket: BucketCookie{Name: "graylane-bucket", Key: ckKey}})
	anonKey := engine(t, Rules{Identity: id, Lanes: lanes, LaneKey: laneKey, AnonymousBuckets: true})
	ranks := bucket.LaneRanks("gray")
	var bIn, bOut int = -1, -1
	for b := range bucket.N {
		switch {
		case ranks[b] < 30 && bIn < 0:
			bIn = b
		case ranks[b] >= 40 && bOut < 0:
			bOut = b
		}
	}
	exp := t0.Add(time.Hour)
	anonIn := AnonymousSetCookie(laneKey, bIn, t0)
	anonCookie := strings.SplitN(anonIn, ";", 2)[0]
	tests := []struct {
		name string
		e    *Engine
		h    http.Header
		draw float64
		want Decision
	}{
		{"user in", plain, hdr("X-User-Id", in), 0.99, Decision{Lane: "gray", Reason: ReasonPercentage, Source: SourceHash, Bucket: bucket.Of(in)}},
		{"user out", plain, hdr("X-User-Id", out), 0, Decision{Reason: ReasonNone, Source: SourceHash, Bucket: bucket.Of(out)}},
		{"bucket cookie pins the bucket", withCookies, hdr("X-User-Id", out, "Cookie", "graylane-bucket="+UserBucketValue(ckKey, bIn, out, exp)), 0,
			Decision{Lane: "gray", Reason: ReasonPercentage, Source: SourceCookie, Bucket: bIn}},
		{"bucket cookie out", withCookies, hdr("X-User-Id", in, "Cookie", "graylane-bucket="+UserBucketValue(ckKey, bOut, in, exp)), 0,
			Decision{Reason: ReasonNone, Source: SourceCookie, Bucket: bOut}},
		{"bucket cookie of another user", withCookies, hdr("X-User-Id", out, "Cookie", "graylane-bucket="+UserBucketValue(ckKey, bIn, "x", exp)), 0,
			Decision{Reason: ReasonNone, Source: SourceHash, Bucket: bucket.Of(out)}},
		{"bucket cookie expired", withCookies, hdr("X-User-Id", out, "Cookie", "graylane-bucket="+UserBucketValue(ckKey, bIn, out, t0)), 0,
			Decision{Reason: ReasonNone, Source: SourceHash, Bucket: bucket.Of(out)}},
		{"bucket cookie not verified without a key", plain, hdr("X-User-Id", out, "Cookie", "graylane-bucket="+UserBucketValue(ckKey, bIn, out, exp)), 0,
			Decision{Reason: ReasonNone, Source: SourceHash, Bucket: bucket.Of(out)}},
		{"anonymous draw in", plain, hdr(), 0.39, Decision{Lane: "gray", Reason: ReasonAnonymous, Source: SourceDraw, Bucket: -1}},
		{"anonymous draw out", plain, hdr(), 0.40, Decision{Reason: ReasonNone, Source: SourceAnonymous, Bucket: -1}},
		{"anonymous new bucket", anonKey, hdr(), float64(bIn)/100 + 0.001, Decision{Lane: "gray", Reason: ReasonAnonymous, Source: SourceCookie, Bucket: bIn, SetCookie: anonIn}},
		{"anonymous new bucket out", anonKey, hdr(), float64(bOut)/100 + 0.001,
			Decision{Reason: ReasonNone, Source: SourceCookie, Bucket: bOut, SetCookie: AnonymousSetCookie(laneKey, bOut, t0)}},
		{"anonymous bucket cookie", anonKey, hdr("Cookie", anonCookie), float64(bOut) / 100, Decision{Lane: "gray", Reason: ReasonAnonymous, Source: SourceCookie, Bucket: bIn}},
		{"anonymous tampered cookie", anonKey, hdr("Cookie", strings.Replace(anonCookie, "=", "=1", 1)), float64(bOut)/100 + 0.001,
			Decision{Reason: ReasonNone, Source: SourceCookie, Bucket: bOut, SetCookie: AnonymousSetCookie(laneKey, bOut, t0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.e.Decide(Request{Header: tt.h, Draw: tt.draw}, nil, t0)); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

// TestIdentity: the user id from the header, else the JWT claim, else the
// cookie; ids that cannot be ids are absent.
func TestIdentity(t *testing.T) {
	e := engine(t, Rules{Identity: Identity{UserHeader: "x-user-id", JWTClaim: "sub", JWTPayloadHeader: "x-jwt-payload", UserCookie: "uid"},
		Lanes: []Lane{{Name: "gray", Percentage: &Percentage{}}}})
	jwt := func(payload string) string { return b64(payload) }
	long := strings.Repeat("x", MaxIDLen+1)
	tests := []struct {
		name string
		h    http.Header
		want string // the user id read, "" for none
	}{
		{"header", hdr("X-User-Id", "alice", "X-Jwt-Payload", jwt(`{"sub":"bob"}`), "Cookie", "uid=carol"), "alice"},
		{"jwt claim", hdr("X-Jwt-Payload", jwt(`{"sub":"bob"}`), "Cookie", "uid=carol"), "bob"},
		{"numeric claim", hdr("X-Jwt-Payload", jwt(`{"sub":42}`)), "42"},
		{"bad jwt, cookie", hdr("X-Jwt-Payload", "%%%", "Cookie", "uid=carol"), "carol"},
		{"cookie", hdr("Cookie", "uid=carol"), "carol"},
		{"trimmed", hdr("X-User-Id", " alice "), "alice"},
		{"unicode", hdr("X-User-Id", "用户7"), "用户7"},
		{"space inside", hdr("X-User-Id", "al ice"), ""},
		{"control character", hdr("X-User-Id", "al\x01ice"), ""},
		{"too long", hdr("X-User-Id", long), ""},
		{"not utf-8", hdr("X-User-Id", "al\xffice"), ""},
		{"none", hdr(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.Decide(Request{Header: tt.h}, nil, t0)
			want := Decision{Reason: ReasonNone, Source: SourceAnonymous, Bucket: -1}
			if tt.want != "" {
				want = Decision{Reason: ReasonNone, Source: SourceHash, Bucket: bucket.Of(tt.want)}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLaneOfBucket: the percentage rule as Decide applies it.
func TestLaneOfBucket(t *testing.T) {
	e := engine(t, Rules{Identity: Identity{UserHeader: "x-user-id"}, UserBucket: BucketCookie{Name: "b", Key: ckKey},
		Lanes: []Lane{{Name: "a", Percentage: &Percentage{Weight: 30}}, {Name: "b", Percentage: &Percentage{Weight: 60}}, {Name: "c"}}})
	seen := map[string]int{}
	for b := range bucket.N {
		h := hdr("X-User-Id", "u", "Cookie", "b="+UserBucketValue(ckKey, b, "u", t0.Add(time.Hour)))
		d := e.Decide(Request{Header: h}, nil, t0)
		if got := e.LaneOfBucket(b); got != d.Lane || d.Bucket != b {
			t.Fatalf("bucket %d: LaneOfBucket %q, Decide %+v", b, got, d)
		}
		seen[d.Lane]++
	}
	if seen["a"] != 30 || seen["a"]+seen["b"] < 60 || seen["c"] != 0 {
		t.Errorf("buckets per lane %v: want a=30, a+b>=60, c=0", seen)
	}
}

// FuzzDecide: any request gives a decision from the vocabulary, the same
// twice, for a lane of the rules, and signed only for a valid signature.
func FuzzDecide(f *testing.F) {
	f.Add("yes", "c=1; uid=alice", "alice", "acme", "gray", 0.5)
	f.Add("", "graylane-anon-bucket=7.1.x", "", "", SignLane(laneKey, "gray", t0.Add(time.Hour)), 0.0)
	f.Add("v1", `c="x"; =;;`, "al ice", "zeta", "gray.1.x", 0.99)
	e := engine(f, Rules{LaneKey: laneKey, AnonymousBuckets: true, Identity: Identity{UserHeader: "x-user-id", TenantHeader: "x-tenant-id", UserCookie: "uid"},
		UserBucket: BucketCookie{Name: "graylane-bucket", Key: ckKey},
		Lanes: []Lane{
			{Name: "blue", Headers: []Match{{Name: "x-a", Regex: "v[0-9]"}}, Cookies: []Match{{Name: "c", Exact: "1"}}},
			{Name: "gray", Whitelist: "g", Users: []string{"alice"}, Percentage: &Percentage{Weight: 50, Anonymous: 20}},
		}})
	wl := func(string) *Whitelist {
		return &Whitelist{Users: map[string]Pin{"bob": {Lane: "base"}}, Tenants: map[string]Pin{"acme": {Lane: "gray"}}}
	}
	reasons := map[string]bool{ReasonSigned: true, ReasonHeader: true, ReasonCookie: true, ReasonWhitelist: true, ReasonPercentage: true, ReasonAnonymous: true, ReasonNone: true}
	f.Fuzz(func(t *testing.T, xa, cookie, user, tenant, laneValue string, draw float64) {
		if draw < 0 || draw >= 1 || draw != draw {
			draw = 0.5
		}
		req := Request{Header: hdr("X-A", xa, "Cookie", cookie, "X-User-Id", user, "X-Tenant-Id", tenant), LaneValues: []string{laneValue}, Draw: draw}
		d := e.Decide(req, wl, t0)
		if again := e.Decide(req, wl, t0); again != d {
			t.Fatalf("decided %+v, then %+v", d, again)
		}
		if !reasons[d.Reason] || (d.Lane != "" && !e.Has(d.Lane)) || d.Bucket < -1 || d.Bucket >= bucket.N {
			t.Fatalf("decision %+v outside the vocabulary", d)
		}
		if _, ok := VerifyLane(laneKey, laneValue, t0); d.Reason == ReasonSigned && !ok {
			t.Fatalf("signed decision %+v for an unsigned value %q", d, laneValue)
		}
	})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// BenchmarkDecide: an edge request of a user through header, cookie and
// whitelist rules to the percentage rule, with a 10,000-entry whitelist.
func BenchmarkDecide(b *testing.B) {
	w := &Whitelist{Users: map[string]Pin{}, Tenants: map[string]Pin{}}
	for i := range 10000 {
		w.Users[fmt.Sprintf("w%d", i)] = Pin{Lane: "gray"}
	}
	e := engine(b, Rules{Identity: Identity{UserHeader: "x-user-id", TenantHeader: "x-tenant-id"}, Lanes: []Lane{{
		Name: "gray", Headers: []Match{{Name: "x-canary", Exact: "true"}}, Cookies: []Match{{Name: "tenantGray", Exact: "1"}},
		Whitelist: "g", Percentage: &Percentage{Weight: 50},
	}}})
	wl := func(string) *Whitelist { return w }
	h := hdr("X-User-Id", "user-42", "Cookie", "session=abc; theme=dark", "Accept", "*/*")
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(Request{Header: h}, wl, t0)
	}
}

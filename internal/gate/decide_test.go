package gate

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/bucket"
	"github.com/graylane/graylane/internal/decide"
	"github.com/graylane/graylane/internal/gate/store"
	"github.com/graylane/graylane/internal/gateclient"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// testRules are the gate's decision rules as the tests' handler sets them.
var testRules = decide.Rules{Identity: decide.Identity{UserHeader: "x-user-id", TenantHeader: "x-tenant-id"}}

func snapshot(t *testing.T, st store.State) *Snapshot {
	t.Helper()
	s, err := NewSnapshot(st, t0, testRules)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func dec(lane, reason, source string, bucket int) gateclient.Decision {
	return gateclient.Decision{Lane: lane, Reason: reason, Source: source, Bucket: bucket}
}

// TestDecide: the gate's decisions through the decision engine, in the
// engine's vocabulary; no lane is base.
func TestDecide(t *testing.T) {
	past, future := t0.Add(-time.Minute), t0.Add(time.Minute)
	s := snapshot(t, store.State{
		Version: 7,
		Lanes:   []store.Lane{{Name: "v2", Weight: 100}, {Name: "v3", Weight: 0}},
		Entries: []store.Entry{
			{Kind: store.KindTenant, ID: "acme", Lane: "v3"},
			{Kind: store.KindUser, ID: "alice", Lane: "v3"},
			{Kind: store.KindUser, ID: "bob", Lane: "base"},
			{Kind: store.KindUser, ID: "gone", Lane: "v3", ExpiresAt: &past},
			{Kind: store.KindUser, ID: "soon", Lane: "v3", ExpiresAt: &future},
		},
	})
	zero := snapshot(t, store.State{Lanes: []store.Lane{{Name: "v2", Weight: 0}}})
	empty := snapshot(t, store.State{})
	const (
		wl, pct, none = decide.ReasonWhitelist, decide.ReasonPercentage, decide.ReasonNone
	)
	tests := []struct {
		name         string
		s            *Snapshot
		user, tenant string
		want         gateclient.Decision
	}{
		{"user whitelist", s, "alice", "", dec("v3", wl, decide.SourceUser, 72)},
		{"user beats tenant", s, "bob", "acme", dec("base", wl, decide.SourceUser, 9)},
		{"tenant whitelist", s, "carol", "acme", dec("v3", wl, decide.SourceTenant, bucket.Of("carol"))},
		{"tenant without user", s, "", "acme", dec("v3", wl, decide.SourceTenant, -1)},
		{"expired entry", s, "gone", "", dec("v2", pct, decide.SourceHash, bucket.Of("gone"))},
		{"unexpired entry", s, "soon", "", dec("v3", wl, decide.SourceUser, bucket.Of("soon"))},
		{"bucket 100%", s, "dave", "", dec("v2", pct, decide.SourceHash, bucket.Of("dave"))},
		{"anonymous", s, "", "", dec("base", none, decide.SourceAnonymous, -1)},
		{"weight 0", zero, "dave", "", dec("base", none, decide.SourceHash, bucket.Of("dave"))},
		{"no lanes", empty, "dave", "", dec("base", none, decide.SourceHash, bucket.Of("dave"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.s.DecideIDs(tt.user, tt.tenant, t0)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCookies(t *testing.T) {
	sg, err := NewSigner(CookieOptions{Key: []byte(strings.Repeat("k", 32)), MaxAge: time.Hour, Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSigner(CookieOptions{Key: []byte(strings.Repeat("x", 32))})
	exp := t0.Add(time.Hour)
	lane := sg.LaneValue("v2", "alice", exp)
	bucket := sg.BucketValue(7, "alice", exp)
	tamper := func(v string, i int, c byte) string { b := []byte(v); b[i] = c; return string(b) }
	tests := []struct {
		name   string
		value  string
		user   string
		now    time.Time
		wantOK bool
	}{
		{"valid", bucket, "alice", t0, true},
		{"other user", bucket, "bob", t0, false},
		{"expired", bucket, "alice", exp, false},
		{"bucket changed", tamper(bucket, 0, '1'), "alice", t0, false},
		{"expiry extended", strings.Replace(bucket, ".", ".9", 1), "alice", t0, false},
		{"signature flipped", tamper(bucket, len(bucket)-1, 'A'), "alice", t0, false},
		{"lane cookie as bucket", lane, "alice", t0, false},
		{"other key", other.BucketValue(7, "alice", exp), "alice", t0, false},
		{"garbage", "..", "alice", t0, false},
		{"empty", "", "alice", t0, false},
		{"leading zero", sg.BucketValue(7, "alice", exp)[0:0] + "07." + strings.SplitN(bucket, ".", 2)[1], "alice", t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok := sg.VerifyBucket(tt.value, tt.user, tt.now)
			if ok != tt.wantOK || (ok && b != 7) {
				t.Errorf("VerifyBucket(%q) = %d, %v; want ok=%v", tt.value, b, ok, tt.wantOK)
			}
		})
	}
	if l, ok := sg.VerifyLane(lane, "alice", t0); !ok || l != "v2" {
		t.Errorf("VerifyLane = %q, %v; want v2, true", l, ok)
	}
	if _, ok := sg.VerifyLane(strings.Replace(lane, "v2", "v3", 1), "alice", t0); ok {
		t.Error("VerifyLane accepted a changed lane")
	}
	cs := sg.Cookies(gateclient.Decision{Lane: "v2", Bucket: 7}, "alice", t0)
	var got []string
	for _, c := range cs {
		got = append(got, c.String())
	}
	want := []string{
		"graylane-lane=" + sg.LaneValue("v2", "alice", exp) + "; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax",
		"graylane-bucket=" + sg.BucketValue(7, "alice", exp) + "; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Cookies (-want +got):\n%s", diff)
	}
	if _, err := NewSigner(CookieOptions{Key: []byte("short")}); err == nil {
		t.Error("NewSigner accepted a short key")
	}
}

func TestParseCSV(t *testing.T) {
	known := func(l string) bool { return l == "v2" || l == "base" }
	in := "kind,id,lane,note,expiresAt\n" +
		"# comment\n" +
		"user,alice,v2,qa,\n" +
		"tenant, acme ,base\n" +
		"\n" +
		"user,bob,v9\n" +
		"group,x,v2\n" +
		"user,bad id,v2\n" +
		"user,alice,v2\n" +
		"user,carol,v2,,yesterday\n" +
		"user,dan\n" +
		"erin\n"
	_, errs := ParseCSV(strings.NewReader(in), known, "ops", t0)
	want := []gateclient.LineError{
		{Line: 6, Message: `unknown lane "v9": create it first with PUT /v1/lanes/v9`},
		{Line: 7, Message: `kind "group": want user or tenant`},
		{Line: 8, Message: `id "bad id": character ' ' at offset 3 not allowed (letters, digits and . _ - @ : + = ~)`},
		{Line: 9, Message: `user "alice" already on line 3`},
		{Line: 10, Message: `expiresAt "yesterday": want RFC 3339, e.g. 2030-01-02T15:04:05Z`},
		{Line: 11, Message: `2 fields: want kind,id,lane[,note[,expiresAt]]`},
		{Line: 12, Message: `1 field: want kind,id,lane[,note[,expiresAt]]`},
	}
	if diff := cmp.Diff(want, errs); diff != "" {
		t.Errorf("line errors (-want +got):\n%s", diff)
	}
	got, errs := ParseCSV(strings.NewReader("user,alice,v2,qa,2031-01-01T00:00:00Z\ntenant,acme,base\n"), known, "ops", t0)
	exp := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	wantEntries := []store.Entry{
		{Kind: store.KindUser, ID: "alice", Lane: "v2", Note: "qa", CreatedBy: "ops", CreatedAt: t0, ExpiresAt: &exp},
		{Kind: store.KindTenant, ID: "acme", Lane: "base", CreatedBy: "ops", CreatedAt: t0},
	}
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if diff := cmp.Diff(wantEntries, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	_, errs = ParseCSV(strings.NewReader("user,alice,v2\nuser,\"bob,v2\n"), known, "ops", t0)
	if len(errs) != 1 || errs[0].Line != 2 {
		t.Errorf("malformed quote: errors = %v, want one on line 2", errs)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		id   string
		want bool
	}{{"alice", true}, {"a.b_c-d@e:f+g=h~i", true}, {strings.Repeat("a", 128), true}, {strings.Repeat("a", 129), false},
		{"", false}, {"a b", false}, {"a,b", false}, {"a;b", false}, {"a/b", false}, {"é", false}, {"a\x00", false}} {
		if got := ValidateID(tt.id) == nil; got != tt.want {
			t.Errorf("ValidateID(%q) ok = %v, want %v", tt.id, got, tt.want)
		}
	}
	for _, tt := range []struct {
		lane string
		want bool
	}{{"v2", true}, {"canary-1", true}, {"-a", false}, {"a-", false}, {"V2", false}, {"a.b", false}, {"", false}, {strings.Repeat("a", 64), false}} {
		if got := ValidateLane(tt.lane) == nil; got != tt.want {
			t.Errorf("ValidateLane(%q) ok = %v, want %v", tt.lane, got, tt.want)
		}
	}
}

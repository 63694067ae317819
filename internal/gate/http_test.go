package gate

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/bucket"
	"github.com/graylane/graylane/internal/decide"
	"github.com/graylane/graylane/internal/gate/store"
	"github.com/graylane/graylane/internal/gateclient"
)

const testToken = "test-admin-token-0123456789"

var testKey = []byte(strings.Repeat("k", 32))

// testGate is a gate over dsn behind an httptest server, polling every
// 200ms until the test ends.
type testGate struct {
	*Gate
	srv *httptest.Server
}

func newTestGate(t *testing.T, dsn string, o HandlerOptions) *testGate {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := store.Open(ctx, dsn, log)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	signer, err := NewSigner(CookieOptions{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	o.AdminToken = testToken
	if o.Identity.UserHeader == "" {
		o.Identity.UserHeader = "x-user-id"
	}
	if o.Identity.TenantHeader == "" {
		o.Identity.TenantHeader = "x-tenant-id"
	}
	g, err := New(ctx, st, signer, log, o)
	if err != nil {
		t.Fatalf("new gate: %v", err)
	}
	go g.Snapshots.Run(ctx, 200*time.Millisecond, time.Second)
	srv := httptest.NewServer(g.Handler)
	t.Cleanup(srv.Close)
	return &testGate{Gate: g, srv: srv}
}

func sqliteDSN(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "gate.db") }

// do sends a request and returns status and body.
func (g *testGate) do(t *testing.T, method, path, body string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := g.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (g *testGate) mustDo(t *testing.T, want int, method, path, body string) string {
	t.Helper()
	code, got := g.do(t, method, path, body)
	if code != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, code, got, want)
	}
	return got
}

func decision(t *testing.T, body string) gateclient.Decision {
	t.Helper()
	var d gateclient.Decision
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("decode decision %q: %v", body, err)
	}
	return d
}

// TestAPIBadInput: every bad request is a 4xx with a JSON error body.
func TestAPIBadInput(t *testing.T) {
	g := newTestGate(t, sqliteDSN(t), HandlerOptions{})
	g.mustDo(t, 201, "PUT", "/v1/lanes/v2", `{"weight":10}`)
	big := `{"kind":"user","id":"a","lane":"v2","note":"` + strings.Repeat("x", MaxJSONBody) + `"}`
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"bad id", "POST", "/v1/whitelist", `{"kind":"user","id":"a b","lane":"v2"}`, 400, "bad_request"},
		{"empty id", "POST", "/v1/whitelist", `{"kind":"user","id":"","lane":"v2"}`, 400, "bad_request"},
		{"bad kind", "POST", "/v1/whitelist", `{"kind":"group","id":"a","lane":"v2"}`, 400, "bad_request"},
		{"unknown lane", "POST", "/v1/whitelist", `{"kind":"user","id":"a","lane":"v9"}`, 400, "unknown_lane"},
		{"unknown field", "POST", "/v1/whitelist", `{"kind":"user","id":"a","lane":"v2","x":1}`, 400, "bad_request"},
		{"not json", "POST", "/v1/whitelist", `kind=user`, 400, "bad_request"},
		{"two objects", "POST", "/v1/whitelist", `{"kind":"user","id":"a","lane":"v2"}{}`, 400, "bad_request"},
		{"empty body", "POST", "/v1/whitelist", ``, 400, "bad_request"},
		{"past expiry", "POST", "/v1/whitelist", `{"kind":"user","id":"a","lane":"v2","expiresAt":"2001-01-01T00:00:00Z"}`, 400, "bad_request"},
		{"oversized", "POST", "/v1/whitelist", big, 413, "too_large"},
		{"weight 101", "PUT", "/v1/lanes/v2", `{"weight":101}`, 400, "bad_request"},
		{"weight missing", "PUT", "/v1/lanes/v2", `{}`, 400, "bad_request"},
		{"weight fraction", "PUT", "/v1/lanes/v2", `{"weight":1.5}`, 400, "bad_request"},
		{"lane name", "PUT", "/v1/lanes/V2", `{"weight":1}`, 400, "bad_request"},
		{"lane base", "PUT", "/v1/lanes/base", `{"weight":1}`, 400, "bad_request"},
		{"delete missing", "DELETE", "/v1/whitelist/user/nobody", ``, 404, "not_found"},
		{"delete bad kind", "DELETE", "/v1/whitelist/group/x", ``, 400, "bad_request"},
		{"decide bad user", "GET", "/v1/decide?user=a%20b", ``, 400, "bad_request"},
		{"login without user", "POST", "/v1/login-hook", `{}`, 400, "bad_request"},
		{"csv", "POST", "/v1/whitelist/import", "user,a,v2\nuser,b,v9\n", 400, "invalid_csv"},
		{"csv empty", "POST", "/v1/whitelist/import", "# nothing\n", 400, "bad_request"},
		{"csv oversized", "POST", "/v1/whitelist/import", strings.Repeat("user,a,v2\n", MaxCSVBody/10+1), 413, "too_large"},
		{"no endpoint", "GET", "/v2/nothing", ``, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := g.do(t, tt.method, tt.path, tt.body)
			var got struct{ Error gateclient.APIError }
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("body %q is not a JSON error: %v", body, err)
			}
			if status != tt.status || got.Error.Code != tt.code || got.Error.Message == "" {
				t.Errorf("%s %s = %d %s; want %d code %s", tt.method, tt.path, status, body, tt.status, tt.code)
			}
		})
	}
	// Nothing of the failed import was written.
	got := g.mustDo(t, 200, "GET", "/v1/whitelist", "")
	if !strings.Contains(got, `"items":[]`) {
		t.Errorf("whitelist after failed requests = %s, want empty", got)
	}
}

func TestAPIAuth(t *testing.T) {
	for _, open := range []bool{false, true} {
		g := newTestGate(t, sqliteDSN(t), HandlerOptions{OpenRead: open})
		for _, tt := range []struct {
			method, path string
			read         bool
		}{
			{"GET", "/v1/decide?user=a", true}, {"GET", "/v1/whitelist", true}, {"GET", "/v1/lanes", true},
			{"POST", "/v1/whitelist", false}, {"PUT", "/v1/lanes/v2", false}, {"POST", "/v1/login-hook", false},
			{"POST", "/v1/whitelist/import", false}, {"DELETE", "/v1/lanes/v2", false}, {"GET", "/v1/snapshot", true},
		} {
			for _, auth := range []string{"", "Bearer wrong", "Basic " + testToken} {
				req, _ := http.NewRequest(tt.method, g.srv.URL+tt.path, nil)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				want := http.StatusUnauthorized
				if open && tt.read {
					want = http.StatusOK
				}
				if resp.StatusCode != want {
					t.Errorf("open=%v %s %s auth %q = %d, want %d", open, tt.method, tt.path, auth, resp.StatusCode, want)
				}
			}
		}
	}
}

// TestAPIFlow: lanes, whitelist, import, decide, authz and login-hook
// working together.
func TestAPIFlow(t *testing.T) {
	g := newTestGate(t, sqliteDSN(t), HandlerOptions{Identity: IdentityOptions{JWTClaim: "sub", UserCookie: "uid"}})
	g.mustDo(t, 201, "PUT", "/v1/lanes/v2", `{"weight":0}`)
	g.mustDo(t, 200, "PUT", "/v1/lanes/v2", `{"weight":0}`)
	g.mustDo(t, 201, "POST", "/v1/whitelist", `{"kind":"user","id":"alice","lane":"v2","note":"qa"}`)
	g.mustDo(t, 200, "POST", "/v1/whitelist", `{"kind":"user","id":"alice","lane":"v2","note":"qa again"}`)
	g.mustDo(t, 200, "POST", "/v1/whitelist/import", "kind,id,lane\ntenant,acme,v2\nuser,bob,base\n")
	g.mustDo(t, 409, "DELETE", "/v1/lanes/v2", "")

	for _, tt := range []struct {
		query string
		want  gateclient.Decision
	}{
		{"user=alice", dec("v2", decide.ReasonWhitelist, decide.SourceUser, 72)},
		{"user=carol&tenant=acme", dec("v2", decide.ReasonWhitelist, decide.SourceTenant, bucket.Of("carol"))},
		{"user=bob&tenant=acme", dec("base", decide.ReasonWhitelist, decide.SourceUser, 9)},
		{"user=carol", dec("base", decide.ReasonNone, decide.SourceHash, bucket.Of("carol"))},
		{"", dec("base", decide.ReasonNone, decide.SourceAnonymous, -1)},
	} {
		got := decision(t, g.mustDo(t, 200, "GET", "/v1/decide?"+tt.query, ""))
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("decide?%s (-want +got):\n%s", tt.query, diff)
		}
	}

	checkAuthz(t, g)
	checkBucketCookies(t, g)
	g.mustDo(t, 200, "DELETE", "/v1/whitelist/user/alice", "")
	want := g.Snapshots.Current().DecideIDs("alice", "", time.Now())
	if got := g.authz(t, "x-user-id", "alice"); want.Reason != decide.ReasonPercentage && want.Reason != decide.ReasonNone || got != want.Lane {
		t.Errorf("after delete alice is in %q", got)
	}
	metrics := g.mustDo(t, 200, "GET", "/metrics", "")
	for _, m := range []string{`graylane_gate_decisions_total{lane="v2",reason="whitelist",source="user"}`,
		"graylane_gate_snapshot_age_seconds", `graylane_gate_store_duration_seconds_count{op="load"}`, "graylane_gate_degraded 0"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// authz sends an ext_authz check (GET and POST) and returns the lane header.
func (g *testGate) authz(t *testing.T, hdr ...string) string {
	t.Helper()
	code, _ := g.do(t, "GET", "/authz/some/path?q=1", "", hdr...)
	if code != 200 {
		t.Fatalf("authz = %d, want 200", code)
	}
	req, _ := http.NewRequest("POST", g.srv.URL+"/authz/x", nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("authz POST = %d, want 200", resp.StatusCode)
	}
	return resp.Header.Get("x-graylane")
}

func checkAuthz(t *testing.T, g *testGate) {
	jwt := func(sub string) string {
		return base64URL(`{"iss":"x","sub":"` + sub + `"}`)
	}
	for _, tt := range []struct {
		name string
		hdr  []string
		want string
	}{
		{"user header", []string{"x-user-id", "alice"}, "v2"},
		{"client lane header replaced", []string{"x-user-id", "carol", "x-graylane", "v2"}, "base"},
		{"anonymous", nil, "base"},
		{"jwt claim", []string{"x-jwt-payload", jwt("alice")}, "v2"},
		{"user cookie", []string{"Cookie", "uid=alice"}, "v2"},
		{"tenant header", []string{"x-user-id", "zed", "x-tenant-id", "acme"}, "v2"},
		{"invalid id is anonymous", []string{"x-user-id", "al ice"}, "base"},
		{"bad jwt", []string{"x-jwt-payload", "%%%"}, "base"},
	} {
		if got := g.authz(t, tt.hdr...); got != tt.want {
			t.Errorf("authz %s: x-graylane = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// checkBucketCookies: the login hook signs cookies; a valid bucket cookie
// pins the bucket, a tampered, expired or foreign one is ignored.
func checkBucketCookies(t *testing.T, g *testGate) {
	body := g.mustDo(t, 200, "POST", "/v1/login-hook", `{"user":"alice","tenant":"acme"}`)
	var login gateclient.LoginResponse
	if err := json.Unmarshal([]byte(body), &login); err != nil || len(login.SetCookie) != 2 || login.Lane != "v2" {
		t.Fatalf("login-hook = %s (%v)", body, err)
	}
	g.mustDo(t, 200, "PUT", "/v1/lanes/v2", `{"weight":50}`)
	s := g.Snapshots.Current()
	var in, out int = -1, -1
	for b := range bucket.N {
		lane := s.LaneOfBucket(b)
		if lane == "v2" && in < 0 {
			in = b
		}
		if lane == "base" && out < 0 {
			out = b
		}
	}
	signer, _ := NewSigner(CookieOptions{Key: testKey})
	exp := time.Now().Add(time.Hour)
	good := signer.BucketValue(in, "carol", exp)
	baseLane := s.DecideIDs("carol", "", time.Now()).Lane
	for _, tt := range []struct {
		name, cookie, want string
	}{
		{"valid cookie", good, "v2"},
		{"tampered", strings.Replace(good, ".", "0.", 1), baseLane},
		{"expired", signer.BucketValue(in, "carol", time.Now().Add(-time.Second)), baseLane},
		{"for another user", signer.BucketValue(in, "dave", exp), baseLane},
		{"valid cookie out", signer.BucketValue(out, "carol", exp), "base"},
	} {
		if got := g.authz(t, "x-user-id", "carol", "Cookie", "graylane-bucket="+tt.cookie); got != tt.want {
			t.Errorf("bucket cookie %s: lane %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestAuthzSignedLaneHeader: with a lane key, ext_authz lets a lane header
// signed for a known lane decide; unsigned, wrongly signed, expired or
// unknown-lane values are replaced by the gate's own decision.
func TestAuthzSignedLaneHeader(t *testing.T) {
	key := []byte("gate-lane-key-0123456789")
	g := newTestGate(t, sqliteDSN(t), HandlerOptions{LaneKey: key})
	g.mustDo(t, 201, "PUT", "/v1/lanes/v2", `{"weight":0}`)
	now := time.Now()
	tests := []struct {
		name, value, want string
	}{
		{"signed", decide.SignLane(key, "v2", now.Add(time.Hour)), "v2"},
		{"plain", "v2", "base"},
		{"other key", decide.SignLane([]byte("another-key-0123456789"), "v2", now.Add(time.Hour)), "base"},
		{"expired", decide.SignLane(key, "v2", now.Add(-time.Second)), "base"},
		{"unknown lane", decide.SignLane(key, "v9", now.Add(time.Hour)), "base"},
	}
	for _, tt := range tests {
		if got := g.authz(t, "x-user-id", "carol", "x-graylane", tt.value); got != tt.want {
			t.Errorf("%s: lane %q, want %q", tt.name, got, tt.want)
		}
	}
}

package gate

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/gateclient"
)

// snapshotGet sends GET /v1/snapshot with an optional If-None-Match.
func (g *testGate) snapshotGet(t *testing.T, query, ifNoneMatch string) (*http.Response, gateclient.Snapshot) {
	t.Helper()
	resp, s, err := g.fetchSnapshot(query, ifNoneMatch)
	if err != nil {
		t.Fatal(err)
	}
	return resp, s
}

// fetchSnapshot is snapshotGet for other goroutines than the test's.
func (g *testGate) fetchSnapshot(query, ifNoneMatch string) (*http.Response, gateclient.Snapshot, error) {
	var s gateclient.Snapshot
	req, err := http.NewRequest("GET", g.srv.URL+"/v1/snapshot"+query, nil)
	if err != nil {
		return nil, s, err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	resp, err := g.srv.Client().Do(req)
	if err != nil {
		return nil, s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			return nil, s, err
		}
	}
	return resp, s, nil
}

// TestSnapshotAPI: the whitelist as a versioned snapshot; the version is
// the ETag, a current If-None-Match is 304, and a long poll is answered
// as soon as a change lands.
func TestSnapshotAPI(t *testing.T) {
	g := newTestGate(t, sqliteDSN(t), HandlerOptions{})
	g.mustDo(t, 201, "PUT", "/v1/lanes/v2", `{"weight":10}`)
	g.mustDo(t, 201, "POST", "/v1/whitelist", `{"kind":"user","id":"alice","lane":"v2","note":"not in snapshots"}`)
	g.mustDo(t, 201, "POST", "/v1/whitelist", `{"kind":"tenant","id":"acme","lane":"base","expiresAt":"2099-01-01T00:00:00Z"}`)
	resp, s := g.snapshotGet(t, "", "")
	v := g.Snapshots.Current().Version
	exp := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	want := gateclient.Snapshot{Version: v, Entries: []gateclient.SnapshotEntry{
		{Kind: "tenant", ID: "acme", Lane: "base", ExpiresAt: &exp},
		{Kind: "user", ID: "alice", Lane: "v2"},
	}}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
	if got := resp.Header.Get("ETag"); got != gateclient.ETag(v) {
		t.Errorf("ETag %q, want %q", got, gateclient.ETag(v))
	}

	for _, tt := range []struct {
		name, query, inm string
		status           int
	}{
		{"current", "", gateclient.ETag(v), 304},
		{"weak current", "", "W/" + gateclient.ETag(v), 304},
		{"older", "", gateclient.ETag(v - 1), 200},
		{"not ours", "", `"abc"`, 200},
		{"current, zero wait", "?wait=0s", gateclient.ETag(v), 304},
	} {
		if resp, _ := g.snapshotGet(t, tt.query, tt.inm); resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
	}
	if code, body := g.do(t, "GET", "/v1/snapshot?wait=soon", ""); code != 400 || !strings.Contains(body, "bad_request") {
		t.Errorf("bad wait: %d %s", code, body)
	}

	// A long poll held at the current version returns the change.
	type answer struct {
		resp *http.Response
		s    gateclient.Snapshot
		err  error
		at   time.Time
	}
	got := make(chan answer, 1)
	go func() {
		resp, s, err := g.fetchSnapshot("?wait=20s", gateclient.ETag(v))
		got <- answer{resp, s, err, time.Now()}
	}()
	waitFor(t, "the long poll held", 20*time.Second, func() bool { return g.Snapshots.Held() == 1 })
	g.mustDo(t, 201, "POST", "/v1/whitelist", `{"kind":"user","id":"bob","lane":"v2"}`)
	changed := time.Now()
	select {
	case a := <-got:
		if a.err != nil {
			t.Fatal(a.err)
		}
		if a.resp.StatusCode != 200 || a.s.Version == v || len(a.s.Entries) != 3 {
			t.Errorf("long poll: %d, version %d (was %d), %d entries", a.resp.StatusCode, a.s.Version, v, len(a.s.Entries))
		}
		t.Logf("long poll answered %v after the change", a.at.Sub(changed).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("long poll not answered after a change")
	}
}

// TestSnapshotLongPollEnds: a held poll ends with 304 at its wait and when
// the gate shuts down.
func TestSnapshotLongPollEnds(t *testing.T) {
	g := newTestGate(t, sqliteDSN(t), HandlerOptions{})
	v := gateclient.ETag(g.Snapshots.Current().Version)
	if resp, _ := g.snapshotGet(t, "?wait=50ms", v); resp.StatusCode != 304 {
		t.Errorf("after its wait: %d, want 304", resp.StatusCode)
	}
	done := make(chan int, 1)
	go func() {
		resp, _, err := g.fetchSnapshot("?wait=25s", v)
		if err != nil {
			t.Error(err)
			done <- 0
			return
		}
		done <- resp.StatusCode
	}()
	waitFor(t, "the long poll held", 20*time.Second, func() bool { return g.Snapshots.Held() == 1 })
	g.Snapshots.Close()
	select {
	case code := <-done:
		if code != 304 {
			t.Errorf("at shutdown: %d, want 304", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the long poll outlived the gate's shutdown")
	}
}

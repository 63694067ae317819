package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/gate"
	"github.com/graylane/graylane/internal/gate/store"
)

const gateToken = "bench-admin-token-0123456789"

// newGate builds a gate on SQLite with two lanes and 10,000 whitelisted
// users; decisions come from the in-memory snapshot.
func newGate(b *testing.B) *gate.Gate {
	b.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "gate.db"), log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	for _, l := range []struct {
		name string
		w    int
	}{{"v2", 10}, {"v3", 20}} {
		if _, err := st.SetLane(ctx, l.name, l.w); err != nil {
			b.Fatal(err)
		}
	}
	var entries []store.Entry
	for i := range 10_000 {
		entries = append(entries, store.Entry{Kind: store.KindUser, ID: fmt.Sprintf("wl-%d", i), Lane: "v3", CreatedAt: time.Now()})
	}
	if err := st.ImportEntries(ctx, entries); err != nil {
		b.Fatal(err)
	}
	signer, err := gate.NewSigner(gate.CookieOptions{Key: []byte(strings.Repeat("k", 32))})
	if err != nil {
		b.Fatal(err)
	}
	g, err := gate.New(ctx, st, signer, log, gate.HandlerOptions{AdminToken: gateToken, OpenRead: true,
		Identity: gate.IdentityOptions{UserHeader: "x-user-id", TenantHeader: "x-tenant-id"}})
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// reportLatency adds p50/p99 (ns) of the recorded per-request latencies.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkGateDecideHandler: GET /v1/decide through the handler, no
// network, alternating a whitelisted and a bucket user.
func BenchmarkGateDecideHandler(b *testing.B) {
	g := newGate(b)
	reqs := []*http.Request{
		httptest.NewRequest("GET", "/v1/decide?user=wl-42", nil),
		httptest.NewRequest("GET", "/v1/decide?user=someone-else&tenant=acme", nil),
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w := httptest.NewRecorder()
		start := time.Now()
		g.Handler.ServeHTTP(w, reqs[i%2])
		lat = append(lat, time.Since(start))
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkGateAuthzHandler: the ext_authz check through the handler.
func BenchmarkGateAuthzHandler(b *testing.B) {
	g := newGate(b)
	req := httptest.NewRequest("GET", "/authz/api/orders", nil)
	req.Header.Set("x-user-id", "someone-else")
	req.Header.Set("x-graylane", "spoofed")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w := httptest.NewRecorder()
		g.Handler.ServeHTTP(w, req)
		if w.Code != 200 || w.Header().Get("x-graylane") == "spoofed" {
			b.Fatalf("status %d lane %q", w.Code, w.Header().Get("x-graylane"))
		}
	}
}

// BenchmarkGateDecideLoopback5k: GET /v1/decide over loopback HTTP at a
// paced 5,000 requests per second (8 connections); reports p50/p99 of the
// client-observed latency. b.N requests are sent, so use -benchtime=20000x
// for four seconds of load.
func BenchmarkGateDecideLoopback5k(b *testing.B) {
	g := newGate(b)
	srv := httptest.NewServer(g.Handler)
	defer srv.Close()
	const conns = 8
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	lat := make([]time.Duration, b.N)
	var next, failed atomic.Int64
	interval := time.Second / 5000
	b.ResetTimer()
	start := time.Now()
	done := make(chan struct{})
	for range conns {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
					time.Sleep(d)
				}
				t0 := time.Now()
				resp, err := client.Get(fmt.Sprintf("%s/v1/decide?user=u-%d", srv.URL, i%1000))
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
			}
		}()
	}
	for range conns {
		<-done
	}
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d requests failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	reportLatency(b, lat)
}

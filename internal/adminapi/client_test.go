package adminapi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/plan"
)

// TestDeleteServiceEntryOlderRuntime: a runtime of an older graylane has
// no DELETE /v1/serviceentries/{ns}/{name}; its mux answers Go's plain
// "404 page not found". That is no "not found" of the entry (nacos fix
// would call it gone while it stays routed) but an error saying to restart
// graylane up - and so for every method of the client (send, the streamed
// logs, the text endpoints): every 404 of a runtime is a JSON ErrorBody.
// The runtime's own 404, a JSON ErrorBody, stays an *APIError matching
// ErrNotFound.
func TestDeleteServiceEntryOlderRuntime(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("DELETE /v1/serviceentries/default/nacos-known-gone", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"ServiceEntry default/nacos-known-gone not found"}`))
	})
	srv := httptest.NewServer(mux) // any other path: the mux's plain-text 404
	t.Cleanup(srv.Close)
	c := adminapi.New(srv.URL)
	ctx := context.Background()

	tests := []struct {
		route string
		call  func() error
	}{
		{"DELETE /v1/serviceentries/default/nacos-pg", func() error {
			_, err := c.DeleteServiceEntry(ctx, "default", "nacos-pg", "7")
			return err
		}},
		{"GET /v1/gates", func() error { _, err := c.Gates(ctx); return err }},
		{"POST /v1/lanes/shop/gray/promote", func() error { _, err := c.LaneCommand(ctx, "shop", "gray", plan.Promote); return err }},
		{"GET /v1/logs", func() error {
			rc, err := c.Logs(ctx, adminapi.LogsRequest{Workload: "web", Replica: -1, Tail: -1})
			if err == nil {
				_, _ = io.Copy(io.Discard, rc)
				rc.Close()
			}
			return err
		}},
		{"GET /readyz", func() error { _, err := c.Ready(ctx); return err }},
		{"GET /metrics", func() error { _, err := c.Metrics(ctx); return err }},
	}
	for _, tc := range tests {
		err := tc.call()
		want := "the runtime at " + srv.URL + " has no route " + tc.route + " "
		var api *adminapi.APIError
		switch {
		case err == nil:
			t.Errorf("%s against a runtime without the route: no error", tc.route)
		case errors.As(err, &api) || errors.Is(err, adminapi.ErrNotFound):
			t.Errorf("%s: %v: an *APIError (ErrNotFound %v), want a plain error (nothing named is known gone)", tc.route, err, errors.Is(err, adminapi.ErrNotFound))
		case !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), ": restart graylane up with this version"):
			t.Errorf("%s: %v\nwant it to start %q and say to restart graylane up", tc.route, err, want)
		}
	}

	_, err := c.DeleteServiceEntry(ctx, "default", "nacos-known-gone", "")
	var api *adminapi.APIError
	if !errors.Is(err, adminapi.ErrNotFound) || !errors.As(err, &api) || api.Message != "ServiceEntry default/nacos-known-gone not found" {
		t.Errorf("the runtime's JSON 404: %v (%+v), want ErrNotFound with its message", err, api)
	}
}

package adminapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/graylane/graylane/internal/adminapi"
)

// TestDeleteServiceEntryOlderRuntime: a runtime of an older graylane has
// no DELETE /v1/serviceentries/{ns}/{name}; its mux answers Go's plain
// "404 page not found". That is no "not found" of the entry (nacos fix
// would call it gone while it stays routed) but an error saying to restart
// graylane up. The runtime's own 404, a JSON ErrorBody, stays ErrNotFound.
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

	_, err := c.DeleteServiceEntry(ctx, "default", "nacos-pg", "7")
	switch {
	case err == nil:
		t.Fatal("DeleteServiceEntry against a runtime without the route: no error")
	case errors.Is(err, adminapi.ErrNotFound):
		t.Errorf("%v: matches ErrNotFound, want an error that is not (the entry is not known gone)", err)
	case !strings.Contains(err.Error(), "cannot delete ServiceEntries") || !strings.Contains(err.Error(), "restart graylane up"):
		t.Errorf("%v: want it to say the runtime cannot delete ServiceEntries and to restart graylane up", err)
	}

	_, err = c.DeleteServiceEntry(ctx, "default", "nacos-known-gone", "")
	var api *adminapi.APIError
	if !errors.Is(err, adminapi.ErrNotFound) || !errors.As(err, &api) || !api.JSON || api.Message != "ServiceEntry default/nacos-known-gone not found" {
		t.Errorf("the runtime's JSON 404: %v (%+v), want ErrNotFound with its message", err, api)
	}
}

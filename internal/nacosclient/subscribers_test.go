package nacosclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosserver"
)

// listAsReceiver is a 1.x client's instance list with a push receiver
// (udpPort): the server records clientIP:udpPort as a subscriber.
func listAsReceiver(t *testing.T, srv *nacosserver.Server, q url.Values) {
	t.Helper()
	resp, err := http.Get("http://" + srv.HTTPAddr() + "/nacos/v1/ns/instance/list?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("instance list %v: HTTP %d", q, resp.StatusCode)
	}
}

func TestSubscribers(t *testing.T) { protocols(t, testSubscribers) }

// testSubscribers: over either protocol Subscribers reads the v1 Open
// API, every page (1,001 receivers: two pages of Nacos' 1,000), and keeps
// only the service asked for (Nacos matches names as substrings).
func testSubscribers(t *testing.T, protocol string) {
	ctx := context.Background()
	srv := start(t, "", "")
	for i := range 1001 {
		listAsReceiver(t, srv, url.Values{"serviceName": {"orders"}, "clientIP": {"10.9.0.1"}, "udpPort": {strconv.Itoa(1000 + i)}})
	}
	listAsReceiver(t, srv, url.Values{"serviceName": {"orders-v2"}, "clientIP": {"10.9.0.2"}, "udpPort": {"7000"}, "app": {"batch"}})
	listAsReceiver(t, srv, url.Values{"serviceName": {"orders"}, "groupName": {"G"}, "clientIP": {"10.9.0.3"}, "udpPort": {"7000"}})
	c := newClient(t, nacosclient.Options{Server: srv.HTTPAddr(), Protocol: protocol})

	got, err := c.Subscribers(ctx, "orders", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1001 {
		t.Fatalf("Subscribers(orders): %d, want 1001", len(got))
	}
	want := nacosclient.Subscriber{Service: "orders", Group: "DEFAULT_GROUP", Address: "10.9.0.1:1000", IP: "10.9.0.1", Port: 1000, Agent: "Go-http-client/1.1"}
	if d := cmp.Diff(want, got[0]); d != "" {
		t.Errorf("first subscriber (-want +got):\n%s", d)
	}
	got, err = c.Subscribers(ctx, "orders-v2", "")
	want = nacosclient.Subscriber{Service: "orders-v2", Group: "DEFAULT_GROUP", Address: "10.9.0.2:7000", IP: "10.9.0.2", Port: 7000, Agent: "Go-http-client/1.1", App: "batch"}
	if err != nil || len(got) != 1 || !cmp.Equal(want, got[0]) {
		t.Errorf("Subscribers(orders-v2) = %+v, %v; want [%+v]", got, err, want)
	}
	got, err = c.Subscribers(ctx, "orders", "G")
	if err != nil || len(got) != 1 || got[0].IP != "10.9.0.3" {
		t.Errorf("Subscribers(orders, G) = %+v, %v; want 10.9.0.3's", got, err)
	}
}

// TestSubscribersUnsupported: a server without the endpoint (HTTP 404)
// is ErrUnsupported.
func TestSubscribersUnsupported(t *testing.T) {
	old := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(old.Close)
	c := newClient(t, nacosclient.Options{Server: old.URL, Protocol: nacosclient.ProtocolHTTP})
	if _, err := c.Subscribers(context.Background(), "orders", ""); !errors.Is(err, nacosclient.ErrUnsupported) {
		t.Errorf("Subscribers on a 404 server: %v, want ErrUnsupported", err)
	}
}

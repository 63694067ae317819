package nacosclient_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/nacosclient"
)

// TestRegisterBeatDeregister: an application's registration over the v1
// API (HTTP and HTTPS) - registered with its metadata, kept alive by
// beats, removed - and a beat for an instance the server lost asks for a
// new registration.
func TestRegisterBeatDeregister(t *testing.T) {
	t.Run("http", testRegisterBeatDeregister)
	t.Run("https", func(t *testing.T) {
		useTLS(t)
		testRegisterBeatDeregister(t)
	})
}

func testRegisterBeatDeregister(t *testing.T) {
	ctx := context.Background()
	srv := start(t, "nacos", "secret")
	c := newClient(t, nacosclient.Options{Server: srv.HTTPAddr(), Namespace: "dev", Group: "shop", Username: "nacos", Password: "secret", Protocol: nacosclient.ProtocolHTTP})
	r := nacosclient.Registration{Service: "order-service", IP: "127.0.0.1", Port: 8082, Ephemeral: true, Metadata: map[string]string{"version": "v2"}}
	if err := c.Register(ctx, r); err != nil {
		t.Fatal(err)
	}
	want := []nacosclient.Instance{{Service: "order-service", Group: "shop", Cluster: "DEFAULT", IP: "127.0.0.1", Port: 8082, Weight: 1,
		Healthy: true, Enabled: true, Ephemeral: true, Metadata: map[string]string{"version": "v2"}}}
	got, err := c.Instances(ctx, "order-service", "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
	if d, err := c.Beat(ctx, r); err != nil || d != 5*time.Second {
		t.Errorf("Beat = %v, %v; want 5s, nil", d, err)
	}
	if err := c.Deregister(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Instances(ctx, "order-service", ""); err != nil || len(got) != 0 {
		t.Errorf("after Deregister: %+v, %v; want none", got, err)
	}
	if _, err := c.Beat(ctx, r); !errors.Is(err, nacosclient.ErrNotRegistered) {
		t.Errorf("Beat after Deregister = %v, want ErrNotRegistered", err)
	}
}

// TestListen: the long poll answers at once for a configuration whose md5
// differs, and wakes up when a watched one is published.
func TestListen(t *testing.T) {
	ctx := context.Background()
	srv := start(t, "", "")
	c := newClient(t, nacosclient.Options{Server: srv.HTTPAddr(), Namespace: "dev", HTTPClient: &http.Client{}, Protocol: nacosclient.ProtocolHTTP})
	if err := c.PublishConfig(ctx, "a.yaml", "", "x: 1\n", "yaml", ""); err != nil {
		t.Fatal(err)
	}
	got, err := c.Listen(ctx, []nacosclient.Watched{{DataID: "a.yaml"}, {DataID: "b.yaml", Group: "g"}}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]nacosclient.Watched{{DataID: "a.yaml", Group: "DEFAULT_GROUP"}}, got); diff != "" {
		t.Errorf("changed (-want +got):\n%s", diff)
	}
	type result struct {
		w   []nacosclient.Watched
		err error
	}
	done := make(chan result, 1)
	go func() {
		w, err := c.Listen(ctx, []nacosclient.Watched{{DataID: "a.yaml", MD5: nacosclient.MD5("x: 1\n")}, {DataID: "b.yaml", Group: "g"}}, 30*time.Second)
		done <- result{w, err}
	}()
	// Published until the poll answers: the poll may not be held yet.
	for {
		if err := c.PublishConfig(ctx, "b.yaml", "g", "y: "+time.Now().String()+"\n", "yaml", ""); err != nil {
			t.Fatal(err)
		}
		select {
		case res := <-done:
			if res.err != nil {
				t.Fatal(res.err)
			}
			if diff := cmp.Diff([]nacosclient.Watched{{DataID: "b.yaml", Group: "g"}}, res.w); diff != "" {
				t.Errorf("changed (-want +got):\n%s", diff)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

package embedded

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graylane/graylane/internal/dataplane"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Istio's mirroring task in miniature: every request to b is also copied
// to m, with "-shadow" on its Host; the caller gets b's answer only, the
// copy is counted by the destination reporter only, and a request whose
// body was not buffered is not copied (graylane_mirror_skipped_total).
func TestMirror(t *testing.T) {
	type seen struct{ host, target, body string }
	serve := func(name string, got chan<- seen) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got <- seen{r.Host, r.RequestURI, string(b)}
			_, _ = io.WriteString(w, name)
		})}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { srv.Close() })
		return ln.Addr().String()
	}
	mainSeen, mirrorSeen := make(chan seen, 10), make(chan seen, 10)
	bAddr, mAddr := serve("b", mainSeen), serve("m", mirrorSeen)
	rt, l := serveRouted(t, dataplane.EdgeOptions{}, `apiVersion: v1
kind: Service
metadata: {name: b}
spec: {selector: {app: b}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: m}
spec: {selector: {app: m}, ports: [{port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b}
spec:
  hosts: [b]
  http:
  - route: [{destination: {host: b}}]
    mirror: {host: m}
    headers: {request: {set: {x-route: main}}}
`, readyPod("b", "v1", bAddr), readyPod("m", "v2", mAddr))
	proxy, _ := url.Parse("http://" + l.addr)
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}

	resp, err := client.Get("http://b/items?x=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "b" {
		t.Errorf("answer %q, want b's", body)
	}
	if got, want := <-mainSeen, (seen{"b", "/items?x=1", ""}); got != want {
		t.Errorf("b saw %+v, want %+v", got, want)
	}
	if got, want := <-mirrorSeen, (seen{"b-shadow", "/items?x=1", ""}); got != want {
		t.Errorf("m saw %+v, want %+v", got, want)
	}

	// A streamed body (chunked, unknown length) is not buffered by the
	// proxy: the request goes to b, no copy to m.
	resp, err = client.Post("http://b/upload", "text/plain", io.MultiReader(strings.NewReader("payload")))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := <-mainSeen; got.body != "payload" {
		t.Errorf("b saw body %q", got.body)
	}
	if got := testutil.ToFloat64(rt.metrics.mirrorSkipped.WithLabelValues("t")); got != 1 {
		t.Errorf("graylane_mirror_skipped_total = %v, want 1", got)
	}

	want := []string{
		"destination t 200 - b b = 2",
		"destination t 200 - m m = 1",
		"source t 200 - b b = 2",
	}
	deadline := time.Now().Add(2 * time.Minute) // bounds a hang, not speed
	var got []string
	for {
		got = requestSeries(t, rt.metrics)
		if slices.Equal(got, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !slices.Equal(got, want) {
		t.Errorf("series:\n got %q\nwant %q", got, want)
	}
	select {
	case s := <-mirrorSeen:
		t.Errorf("m got a copy of a request whose body was not buffered: %+v", s)
	default:
	}
}

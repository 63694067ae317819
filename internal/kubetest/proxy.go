package kubetest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
)

// APIProxy stands between an out-of-process component (a controller) and
// the API server: plain HTTP on loopback in front, the admin's TLS client
// behind. A test uses it to make the component miss chosen watch events,
// the state a component ends in when its cache goes stale.
type APIProxy struct {
	// Kubeconfig is a kubeconfig that reaches the API server through the
	// proxy, for the component.
	Kubeconfig string

	mu      sync.Mutex
	drop    func(WatchEvent) bool
	dropped []WatchEvent
}

// WatchEvent is one event of a watch stream the proxy passes on.
type WatchEvent struct {
	// Path is the watch request's URL path, e.g.
	// /apis/argoproj.io/v1alpha1/rollouts.
	Path string
	// Data is the event as sent: {"type":...,"object":{...}}.
	Data []byte
}

// StartAPIProxy starts a proxy to env's API server; it stops in t.Cleanup.
func StartAPIProxy(t testing.TB, env *Env) *APIProxy {
	t.Helper()
	target, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatalf("api proxy: parse %q: %v", env.Config.Host, err)
	}
	transport, err := rest.TransportFor(env.Config)
	if err != nil {
		t.Fatalf("api proxy: transport: %v", err)
	}
	p := &APIProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = transport
	rp.FlushInterval = -1 // watch events go out as they come
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Query().Get("watch") == "true" || resp.Request.URL.Query().Get("watch") == "1" {
			resp.Body = p.filter(resp.Request.URL.Path, resp.Body)
		}
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("api proxy: listen: %v", err)
	}
	srv := &http.Server{Handler: rp}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	p.Kubeconfig = filepath.Join(t.TempDir(), "proxy-kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: proxy
  cluster:
    server: http://%s
contexts:
- name: proxy
  context:
    cluster: proxy
    user: proxy
current-context: proxy
users:
- name: proxy
  user: {}
`, ln.Addr())
	if err := os.WriteFile(p.Kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatalf("api proxy: write kubeconfig: %v", err)
	}
	return p
}

// DropNext makes the proxy withhold the next watch event for which match
// is true from every watch stream, once.
func (p *APIProxy) DropNext(match func(WatchEvent) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop = match
}

// Dropped returns the events withheld so far.
func (p *APIProxy) Dropped() []WatchEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]WatchEvent(nil), p.dropped...)
}

// take reports whether ev is to be withheld, and disarms the match if so.
func (p *APIProxy) take(ev WatchEvent) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drop == nil || !p.drop(ev) {
		return false
	}
	p.drop = nil
	p.dropped = append(p.dropped, ev)
	return true
}

// filter passes a JSON watch stream (one event per line, as the API
// server writes it for custom resources) through take.
func (p *APIProxy) filter(path string, body io.ReadCloser) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		defer body.Close()
		br := bufio.NewReaderSize(body, 64<<10)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				ev := WatchEvent{Path: path, Data: bytes.TrimSpace(line)}
				if !p.take(ev) {
					if _, werr := pw.Write(line); werr != nil {
						return
					}
				}
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return readCloser{pr, func() error { pr.Close(); return body.Close() }}
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// Package adminapi is the admin API of a running `graylane up` (the
// embedded runtime): the types that cross it and the client the CLI (and
// the coming console) use. It imports no server package: the runtime
// (internal/embedded) serves these types, this package only names them.
//
// Every JSON endpoint answers 200 with its JSON answer, or an error status
// with an ErrorBody; the client returns such an answer as an *APIError.
// Every 404 of the runtime is such an ErrorBody: a 404 that is not (Go's
// mux's plain "404 page not found") comes from a runtime of an older
// graylane without the route, and is a plain error saying to restart
// graylane up, never an *APIError (ErrNotFound would call the object gone).
// The endpoints (see each Client method for its request and answer):
//
//	GET  /readyz                                   Client.Ready
//	GET  /v1/addresses                             Client.Addresses
//	GET  /metrics                                  Client.Metrics
//	POST /apply?name=NAME                          Client.Apply
//	GET  /v1/workloads                             Client.Workloads
//	POST /v1/workloads/{ns}/{name}/kill            Client.Kill
//	GET  /v1/logs?workload=NAME&...                Client.Logs
//	GET  /v1/serviceentries                        Client.ServiceEntries
//	DELETE /v1/serviceentries/{ns}/{name}?resourceVersion=N   Client.DeleteServiceEntry
//	GET  /v1/services                              Client.Services
//	GET  /v1/routes                                Client.Routes
//	GET  /v1/rollouts                              Client.Rollouts
//	POST /v1/rollouts/{ns}/{name}/{command}        Client.RolloutCommand
//	POST /v1/rollouts/{ns}/{name}/set-image?container=C&image=I   Client.SetImage
//	GET  /v1/lanes                                 Client.Lanes
//	POST /v1/lanes/{ns}/{name}/{command}           Client.LaneCommand
//	GET  /v1/gates                                 Client.Gates
//
// The runtime also serves the Prometheus query API (/api/v1/query,
// /api/v1/query_range) and Go's pprof profiles (/debug/pprof/) in their
// standard forms, for the standard tools; this client does not wrap them.
package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/graylane/graylane/internal/plan"
	"github.com/graylane/graylane/internal/route"
)

// DefaultAdmin is the admin address `graylane up` listens on by default.
const DefaultAdmin = "127.0.0.1:15000"

// Admin returns the admin address to use: the flag, else $GRAYLANE_ADMIN,
// else DefaultAdmin.
func Admin(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("GRAYLANE_ADMIN"); env != "" {
		return env
	}
	return DefaultAdmin
}

// Client talks to one runtime. Its zero value is not usable: use New.
type Client struct {
	base string
	http *http.Client
	// stream sends the requests whose answers stream (a followed log): no
	// overall timeout.
	stream *http.Client
}

// New returns a client for the admin address (host:port or a URL). A
// request other than Logs gives up after 60 s.
func New(admin string) *Client {
	base := admin
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 60 * time.Second}, stream: &http.Client{}}
}

// Base is the admin API's base URL, e.g. http://127.0.0.1:15000.
func (c *Client) Base() string { return c.base }

// Ready is GET /readyz: 200 "ready" when every replica is ready; 503 and
// one line per replica that is not (Readiness.NotReady). Another status
// is an *APIError.
func (c *Client) Ready(ctx context.Context) (Readiness, error) {
	status, body, err := c.text(ctx, "/readyz")
	if err != nil {
		return Readiness{}, err
	}
	switch status {
	case http.StatusOK:
		return Readiness{Ready: true}, nil
	case http.StatusServiceUnavailable:
		rd := Readiness{NotReady: []string{}}
		for _, line := range strings.Split(body, "\n") {
			if line = strings.TrimSpace(line); line != "" && line != "not ready:" {
				rd.NotReady = append(rd.NotReady, line)
			}
		}
		return rd, nil
	}
	return Readiness{}, c.statusError(http.MethodGet, "/readyz", status, []byte(body))
}

// Addresses is GET /v1/addresses: where the runtime serves (the gateway on
// port 80, the admin API, the client proxy) and the workloads not ready yet.
func (c *Client) Addresses(ctx context.Context) (Addresses, error) {
	var out Addresses
	return out, c.send(ctx, http.MethodGet, "/v1/addresses", "", nil, &out)
}

// Metrics is GET /metrics: the runtime's Istio standard metrics in the
// Prometheus text format.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	status, body, err := c.text(ctx, "/metrics")
	if err == nil && status != http.StatusOK {
		err = c.statusError(http.MethodGet, "/metrics", status, []byte(body))
	}
	return body, err
}

// Apply is POST /apply?name=NAME with one file's manifests (YAML or JSON,
// several documents) as the body; name is used in error positions.
// Answers what changed; 400 when a manifest is bad (nothing is applied).
func (c *Client) Apply(ctx context.Context, name string, manifests []byte) (ApplyResult, error) {
	var res ApplyResult
	err := c.send(ctx, http.MethodPost, "/apply?name="+url.QueryEscape(name), "application/yaml", manifests, &res)
	return res, err
}

// Workloads is GET /v1/workloads: every replica.
func (c *Client) Workloads(ctx context.Context) ([]PodStatus, error) {
	var out []PodStatus
	return out, c.send(ctx, http.MethodGet, "/v1/workloads", "", nil, &out)
}

// Kill is POST /v1/workloads/{ns}/{name}/kill: it ends replica name (a
// pod name of Workloads) at once, as SIGKILL would; the runtime restarts
// it as after a crash. Answers the replica as it was; 404 for an unknown
// replica, 409 when it is not running.
func (c *Client) Kill(ctx context.Context, ns, name string) (PodStatus, error) {
	var out PodStatus
	return out, c.send(ctx, http.MethodPost, "/v1/workloads/"+url.PathEscape(ns)+"/"+url.PathEscape(name)+"/kill", "", nil, &out)
}

// ServiceEntries is GET /v1/serviceentries: the ServiceEntries the
// runtime routes by, sorted by namespace/name.
func (c *Client) ServiceEntries(ctx context.Context) ([]*networkingv1.ServiceEntry, error) {
	var out []*networkingv1.ServiceEntry
	return out, c.send(ctx, http.MethodGet, "/v1/serviceentries", "", nil, &out)
}

// DeleteServiceEntry is DELETE
// /v1/serviceentries/{ns}/{name}?resourceVersion=N: the runtime forgets
// that ServiceEntry and compiles its routing again, so its hosts and
// addresses no longer resolve through it. With resourceVersion (not "",
// the metadata.resourceVersion ServiceEntries answered) only while the
// entry is as it was read: one created or changed since is kept, 409
// (ErrConflict) "changed since it was read (resourceVersion N, now M)".
// 404 (ErrNotFound) when it has no such ServiceEntry (a runtime of an
// older graylane, without the route, is a plain error: see the package
// documentation).
func (c *Client) DeleteServiceEntry(ctx context.Context, ns, name, resourceVersion string) (DeleteResult, error) {
	var out DeleteResult
	path := "/v1/serviceentries/" + url.PathEscape(ns) + "/" + url.PathEscape(name)
	query := ""
	if resourceVersion != "" {
		query = "?" + url.Values{"resourceVersion": {resourceVersion}}.Encode()
	}
	return out, c.send(ctx, http.MethodDelete, path+query, "", nil, &out)
}

// Services is GET /v1/services: every Service with its ready endpoints.
func (c *Client) Services(ctx context.Context) ([]ServiceStatus, error) {
	var out []ServiceStatus
	return out, c.send(ctx, http.MethodGet, "/v1/services", "", nil, &out)
}

// Routes is GET /v1/routes: the virtual hosts per source (the mesh and
// each gateway), as `graylane route` summarises them.
func (c *Client) Routes(ctx context.Context) ([]route.HostSummary, error) {
	var out []route.HostSummary
	return out, c.send(ctx, http.MethodGet, "/v1/routes", "", nil, &out)
}

// Rollouts is GET /v1/rollouts: every Rollout, sorted by namespace/name.
func (c *Client) Rollouts(ctx context.Context) ([]RolloutStatus, error) {
	var out []RolloutStatus
	return out, c.send(ctx, http.MethodGet, "/v1/rollouts", "", nil, &out)
}

// RolloutCommand is POST /v1/rollouts/{ns}/{name}/{cmd} (promote,
// promote-full, abort, retry, pause, resume): it carries out the command
// now, as Argo Rollouts would, and answers what it did. 400 for an unknown
// command, 404 for an unknown Rollout, 409 when the command would change
// nothing (the message says why).
func (c *Client) RolloutCommand(ctx context.Context, ns, name string, cmd plan.Command) (CommandResult, error) {
	return c.command(ctx, "rollouts", ns, name, cmd)
}

// SetImage is POST /v1/rollouts/{ns}/{name}/set-image?container=C&image=I:
// it changes a container's image in the Rollout's pod template, which
// starts a canary. 400 for a missing container or image or an image
// without a command, 404 for an unknown Rollout or container.
func (c *Client) SetImage(ctx context.Context, ns, name, container, image string) (SetImageResult, error) {
	q := url.Values{"container": {container}, "image": {image}}
	var out SetImageResult
	err := c.send(ctx, http.MethodPost, "/v1/rollouts/"+url.PathEscape(ns)+"/"+url.PathEscape(name)+"/set-image?"+q.Encode(), "", nil, &out)
	return out, err
}

// Lanes is GET /v1/lanes: every lane, sorted by namespace/name.
func (c *Client) Lanes(ctx context.Context) ([]LaneStatus, error) {
	var out []LaneStatus
	return out, c.send(ctx, http.MethodGet, "/v1/lanes", "", nil, &out)
}

// LaneCommand is POST /v1/lanes/{ns}/{name}/{cmd}, as RolloutCommand for
// a lane's plan: 409 also for a lane without a plan or one Promoted.
func (c *Client) LaneCommand(ctx context.Context, ns, name string, cmd plan.Command) (CommandResult, error) {
	return c.command(ctx, "lanes", ns, name, cmd)
}

// Gates is GET /v1/gates: every gate that a lane's whitelist names, with
// how current the runtime's copy of its whitelist is, sorted by URL.
func (c *Client) Gates(ctx context.Context) ([]GateStatus, error) {
	var out []GateStatus
	return out, c.send(ctx, http.MethodGet, "/v1/gates", "", nil, &out)
}

func (c *Client) command(ctx context.Context, collection, ns, name string, cmd plan.Command) (CommandResult, error) {
	var out CommandResult
	err := c.send(ctx, http.MethodPost, "/v1/"+collection+"/"+url.PathEscape(ns)+"/"+url.PathEscape(name)+"/"+url.PathEscape(string(cmd)), "", nil, &out)
	return out, err
}

// Logs is GET /v1/logs?workload=NAME&... (see LogsRequest.Query): the
// selected replicas' log lines as text/plain; with Follow the answer
// streams until ctx ends or the replicas stop (no timeout). The caller
// closes the answer. 400 for a bad, ambiguous or out-of-range request,
// 404 when no workload or pod has the name.
func (c *Client) Logs(ctx context.Context, lr LogsRequest) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/logs?"+lr.Query().Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.stream.Do(req)
	if err != nil {
		return nil, c.unreachable(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, c.statusError(req.Method, req.URL.Path, resp.StatusCode, body)
	}
	return resp.Body, nil
}

// send makes a request with body (of type ctype, when not "") and decodes
// the JSON answer into v.
func (c *Client) send(ctx context.Context, method, path, ctype string, body []byte, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.unreachable(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return c.statusError(method, req.URL.Path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode answer of %s: %w", req.URL.Path, err)
	}
	return nil
}

// text makes a GET and returns the status and the body as text.
func (c *Client) text(ctx context.Context, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", c.unreachable(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, string(b), nil
}

func (c *Client) unreachable(err error) error {
	return fmt.Errorf("reach the runtime at %s (is `graylane up` running? set --admin or GRAYLANE_ADMIN): %w", c.base, err)
}

// statusError reads an answer to method path that is not 200: an
// *APIError with its ErrorBody's message, else with the body as text.
// A 404 without an ErrorBody is no answer of the runtime's (each of its
// 404s is one) but Go's mux's for a route it does not have: a runtime of
// an older graylane, a plain error saying so.
func (c *Client) statusError(method, path string, status int, body []byte) error {
	var e ErrorBody
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return &APIError{Status: status, Message: e.Error}
	}
	text := strings.TrimSpace(string(body))
	if status == http.StatusNotFound {
		return fmt.Errorf("the runtime at %s has no route %s %s (it answered 404 %q: a graylane up older than this graylane): restart graylane up with this version", c.base, method, path, text)
	}
	return &APIError{Status: status, Message: text}
}

// APIError is an answer of the runtime that is not 200: a 4xx says the
// request was bad (an unknown name, a bad image), a 5xx that the runtime
// failed. errors.Is matches it against ErrBadRequest, ErrNotFound and
// ErrConflict by its status.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("runtime answered %d: %s", e.Status, e.Message) }

// BadInput reports whether the runtime refused the request itself (4xx):
// the CLI exits 2 for it, as for any bad input.
func (e *APIError) BadInput() bool { return e.Status >= 400 && e.Status < 500 }

// Is matches the sentinel of the answer's status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	}
	return false
}

// The statuses a caller branches on, for errors.Is on an *APIError.
var (
	// ErrBadRequest (400): the request itself is bad (a malformed
	// manifest, an unknown command, a missing parameter).
	ErrBadRequest = errors.New("bad request")
	// ErrNotFound (404): the Rollout, lane, replica, container or
	// workload named does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict (409): the command would change nothing, the replica
	// is not running, or the ServiceEntry to delete changed; the message
	// says why.
	ErrConflict = errors.New("refused")
)

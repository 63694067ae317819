package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/graylane/graylane/internal/cli"
)

// LogsOptions are the options of `graylane logs WORKLOAD --local`.
type LogsOptions struct {
	Workload  string
	Namespace string // "": any namespace
	Replica   int    // < 0: every replica
	Tail      int    // < 0: all lines
	Follow    bool
	Admin     string
}

// Logs copies a workload's replica logs from the runtime to w; with Follow
// it streams until ctx ends or the replicas stop.
func Logs(ctx context.Context, o LogsOptions, w io.Writer) error {
	if o.Workload == "" {
		return &cli.InputError{Err: errors.New("give a workload: graylane logs WORKLOAD --local")}
	}
	q := url.Values{"workload": {o.Workload}}
	if o.Namespace != "" {
		q.Set("namespace", o.Namespace)
	}
	if o.Replica >= 0 {
		q.Set("replica", strconv.Itoa(o.Replica))
	}
	if o.Tail >= 0 {
		q.Set("tail", strconv.Itoa(o.Tail))
	}
	if o.Follow {
		q.Set("follow", "true")
	}
	c := New(Admin(o.Admin))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	// No overall timeout: a followed log streams as long as it runs.
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("reach the runtime at %s (is `graylane up` running? set --admin or GRAYLANE_ADMIN): %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct{ Error string }
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		err := &APIError{Status: resp.StatusCode, Message: msg}
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return &cli.InputError{Err: err}
		}
		return err
	}
	if _, err := io.Copy(w, resp.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read logs: %w", err)
	}
	return nil
}

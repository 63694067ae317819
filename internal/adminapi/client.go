// Package adminapi is the client for the admin API of a running
// `graylane up` (the embedded runtime): apply manifests, list workloads,
// services and routes.
package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
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

// Client talks to one runtime.
type Client struct {
	base string
	http *http.Client
}

// New returns a client for the admin address (host:port or a URL).
func New(admin string) *Client {
	base := admin
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 60 * time.Second}}
}

// Get decodes the JSON answer of GET path into v.
func (c *Client) Get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	return c.do(req, v)
}

// Apply sends one file's manifests; name is used in error positions.
func (c *Client) Apply(ctx context.Context, name string, body []byte, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/apply?name="+url.QueryEscape(name), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/yaml")
	return c.do(req, v)
}

// Base is the admin API's base URL.
func (c *Client) Base() string { return c.base }

// Do sends req and decodes the JSON answer into v.
func (c *Client) Do(req *http.Request, v any) error { return c.do(req, v) }

func (c *Client) do(req *http.Request, v any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach the runtime at %s (is `graylane up` running? set --admin or GRAYLANE_ADMIN): %w", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return &APIError{Status: resp.StatusCode, Message: e.Error}
		}
		return &APIError{Status: resp.StatusCode, Message: strings.TrimSpace(string(body))}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode answer of %s: %w", req.URL.Path, err)
	}
	return nil
}

// APIError is an answer of the runtime that is not 200: a 4xx says the
// request was bad (an unknown name, a bad image), a 5xx that the runtime
// failed.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("runtime answered %d: %s", e.Status, e.Message) }

// BadInput reports whether the runtime refused the request itself (4xx):
// the CLI exits 2 for it, as for any bad input.
func (e *APIError) BadInput() bool { return e.Status >= 400 && e.Status < 500 }

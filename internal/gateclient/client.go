package gateclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to a running gate's HTTP API.
type Client struct {
	Base  string // e.g. http://127.0.0.1:8470
	Token string
	HTTP  *http.Client
}

// maxAnswer bounds an answer's body.
const maxAnswer = 64 << 20

func (c *Client) request(ctx context.Context, method, path string, body io.Reader, ctype string) (*http.Request, error) {
	u, err := url.Parse(c.Base)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://HOST:PORT", c.Base)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Base, "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req, nil
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// statusError reads a non-2xx answer.
func statusError(resp *http.Response, b []byte) error {
	var e struct{ Error APIError }
	if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
		e.Error = APIError{Code: "http", Message: strings.TrimSpace(string(b))}
	}
	return &StatusError{Status: resp.StatusCode, APIError: e.Error}
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, ctype string, out any) error {
	req, err := c.request(ctx, method, path, body, ctype)
	if err != nil {
		return err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return statusError(resp, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = strings.NewReader(string(b))
	}
	return c.do(ctx, method, path, body, "application/json", out)
}

// AddEntry creates or replaces a whitelist entry.
func (c *Client) AddEntry(ctx context.Context, req EntryRequest) (Entry, error) {
	var e Entry
	return e, c.doJSON(ctx, http.MethodPost, "/v1/whitelist", req, &e)
}

// DeleteEntry removes a whitelist entry.
func (c *Client) DeleteEntry(ctx context.Context, kind, id string) error {
	return c.doJSON(ctx, http.MethodDelete, "/v1/whitelist/"+url.PathEscape(kind)+"/"+url.PathEscape(id), nil, nil)
}

// ListEntries lists the whitelist, optionally filtered.
func (c *Client) ListEntries(ctx context.Context, kind, lane string) (EntryList, error) {
	q := url.Values{}
	if kind != "" {
		q.Set("kind", kind)
	}
	if lane != "" {
		q.Set("lane", lane)
	}
	var out EntryList
	return out, c.doJSON(ctx, http.MethodGet, "/v1/whitelist?"+q.Encode(), nil, &out)
}

// Import uploads a CSV file in one transaction.
func (c *Client) Import(ctx context.Context, csv io.Reader, createdBy string) (ImportResult, error) {
	path := "/v1/whitelist/import"
	if createdBy != "" {
		path += "?createdBy=" + url.QueryEscape(createdBy)
	}
	var out ImportResult
	return out, c.do(ctx, http.MethodPost, path, csv, "text/csv", &out)
}

// Decide asks for a caller's lane.
func (c *Client) Decide(ctx context.Context, user, tenant string) (Decision, error) {
	q := url.Values{}
	if user != "" {
		q.Set("user", user)
	}
	if tenant != "" {
		q.Set("tenant", tenant)
	}
	var d Decision
	return d, c.doJSON(ctx, http.MethodGet, "/v1/decide?"+q.Encode(), nil, &d)
}

// SetLane creates a lane or sets its weight.
func (c *Client) SetLane(ctx context.Context, lane string, weight int) (LaneInfo, error) {
	var out LaneInfo
	return out, c.doJSON(ctx, http.MethodPut, "/v1/lanes/"+url.PathEscape(lane), LaneRequest{Weight: &weight}, &out)
}

// DeleteLane removes a lane.
func (c *Client) DeleteLane(ctx context.Context, lane string) error {
	return c.doJSON(ctx, http.MethodDelete, "/v1/lanes/"+url.PathEscape(lane), nil, nil)
}

// ListLanes lists the lanes with their weights and shares.
func (c *Client) ListLanes(ctx context.Context) (LaneList, error) {
	var out LaneList
	return out, c.doJSON(ctx, http.MethodGet, "/v1/lanes", nil, &out)
}

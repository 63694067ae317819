// Package nacosclient is Graylane's client of a Nacos server: configuration
// (read, publish with compare-and-swap), services, their instances and
// subscribers, and namespaces, with login (POST /nacos/v1/auth/login) when a username is
// given. It speaks the Nacos 2.x/3.x gRPC protocol, on the message
// definitions of the official Go client (github.com/nacos-group/nacos-sdk-go/v2
// api/grpc), when the server's gRPC port answers, and the v1 HTTP Open API
// (nacos.io/docs/latest/guide/user/open-api/) otherwise (Nacos 1.x) or
// when asked. An https:// server means TLS on both (tls.go).
// `graylane nacos scan` and `fix`, and the publishing of canary
// configuration after a promotion, use it; tests run both protocols
// against internal/nacosserver.
package nacosclient

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultServer = "http://127.0.0.1:8848"
	DefaultGroup  = "DEFAULT_GROUP"
	// publicNamespace is the name of the namespace whose id is "".
	publicNamespace = "public"
)

// Environment variables OptionsFromEnv reads.
const (
	EnvServer    = "GRAYLANE_NACOS_SERVER"
	EnvNamespace = "GRAYLANE_NACOS_NAMESPACE"
	EnvGroup     = "GRAYLANE_NACOS_GROUP"
	EnvUsername  = "GRAYLANE_NACOS_USERNAME"
	EnvPassword  = "GRAYLANE_NACOS_PASSWORD"
	EnvProtocol  = "GRAYLANE_NACOS_PROTOCOL"
)

// Typed errors callers branch on (errors.Is).
var (
	// ErrNotFound: the configuration does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a compare-and-swap publish found another md5 stored.
	ErrConflict = errors.New("the configuration changed since it was read")
	// ErrAuth: the server refused the credentials or the token.
	ErrAuth = errors.New("nacos refused the credentials")
)

// Options say which server, namespace and group, and who logs in.
type Options struct {
	// Server is the server's URL (default DefaultServer); a bare HOST:PORT
	// means http://HOST:PORT. A path ("/nacos" is added when absent) is the
	// context path.
	Server string
	// Namespace is the namespace id; "" and "public" are the public one.
	Namespace string
	// Group is the group of services and configurations (default DefaultGroup).
	Group string
	// Username and Password log in; no username: no login.
	Username, Password string
	// HTTPClient is the client (nil: one with a 30 s timeout per call and
	// no proxy, as a Nacos server is reached directly); its timeout is also
	// the gRPC calls' timeout.
	HTTPClient *http.Client
	// Protocol is ProtocolAuto (default), ProtocolGRPC or ProtocolHTTP.
	Protocol string
	// GRPCPort is the server's gRPC port when it is not the HTTP port +
	// 1000 (a port mapped otherwise; as the official clients' GrpcPort).
	GRPCPort int
	// TLS is the trust of an https:// server, on the HTTP API and the
	// gRPC port alike (tls.go); a given HTTPClient keeps its own. TLS
	// settings with an http:// server are refused.
	TLS TLSOptions
}

// OptionsFromEnv is Options from the GRAYLANE_NACOS_* environment (lookup
// as os.LookupEnv); unset values keep their defaults. The error is a
// value that does not parse (GRAYLANE_NACOS_INSECURE_SKIP_VERIFY).
func OptionsFromEnv(lookup func(string) (string, bool)) (Options, error) {
	get := func(k string) string { v, _ := lookup(k); return v }
	tls, err := tlsFromEnv(get)
	return Options{Server: get(EnvServer), Namespace: get(EnvNamespace), Group: get(EnvGroup),
		Username: get(EnvUsername), Password: get(EnvPassword), Protocol: get(EnvProtocol), TLS: tls}, err
}

// OptionsError is Options that New refuses without contacting any server
// (a server URL, port, protocol or TLS file): callers report it as bad
// input.
type OptionsError struct{ Err error }

func (e *OptionsError) Error() string { return e.Err.Error() }

func (e *OptionsError) Unwrap() error { return e.Err }

// Client talks to one Nacos server. It is safe for concurrent use.
type Client struct {
	base      *url.URL // ends in /nacos
	namespace string   // "" for public
	group     string
	user, pw  string
	http      *http.Client
	grpc      *grpcTransport // nil: HTTP
	tls       *tls.Config    // nil: plain text (an http:// server)
	ownHTTP   bool           // http is this client's: Close closes its idle connections

	mu      sync.Mutex
	token   string
	expires time.Time
}

// New checks the options, picks the protocol and, with a username, logs in
// (over HTTP, as the official clients do). Close releases it.
func New(ctx context.Context, o Options) (*Client, error) {
	base, tlsConfig, err := checkOptions(o)
	if err != nil {
		return nil, &OptionsError{Err: err}
	}
	c := &Client{base: base, namespace: o.Namespace, group: o.Group, user: o.Username, pw: o.Password, http: o.HTTPClient, tls: tlsConfig}
	if c.namespace == publicNamespace {
		c.namespace = ""
	}
	if c.group == "" {
		c.group = DefaultGroup
	}
	if c.http == nil {
		c.ownHTTP = true
		c.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			Proxy: nil, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second, TLSClientConfig: tlsConfig,
		}}
	}
	if c.user != "" {
		if _, err := c.accessToken(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	addr := grpcAddr(c.base, o.GRPCPort)
	grpc, err := useGRPC(ctx, o.Protocol, addr)
	if err != nil {
		c.Close()
		return nil, err
	}
	if grpc {
		t, err := newGRPCTransport(ctx, c, addr)
		switch {
		case err == nil:
			c.grpc = t
		case o.Protocol == ProtocolGRPC || ctx.Err() != nil:
			c.Close()
			return nil, err
		}
		// auto: what answers on the port is not Nacos' gRPC as this
		// client speaks it (plain text for an http:// server, TLS for an
		// https:// one; another service; a certificate not trusted):
		// HTTP, as for a server without gRPC.
	}
	return c, nil
}

// checkOptions checks what New can check without contacting the server:
// the server's URL, the gRPC port, and the TLS settings, read into the
// TLS configuration of an https:// server.
func checkOptions(o Options) (*url.URL, *tls.Config, error) {
	base, err := serverURL(o.Server)
	if err != nil {
		return nil, nil, err
	}
	if o.GRPCPort < 0 || o.GRPCPort > 65535 {
		return nil, nil, fmt.Errorf("nacos gRPC port %d: want 1..65535", o.GRPCPort)
	}
	if err := CheckProtocol(o.Protocol); err != nil {
		return nil, nil, err
	}
	if base.Scheme != "https" {
		if o.TLS.IsSet() {
			return nil, nil, fmt.Errorf("nacos server %s: TLS settings (CA file, client certificate, server name, insecure skip verify) need an https:// server", strings.TrimSuffix(base.String(), "/nacos"))
		}
		return base, nil, nil
	}
	tlsConfig, err := o.TLS.config()
	return base, tlsConfig, err
}

// Protocol is the protocol in use: ProtocolGRPC or ProtocolHTTP.
func (c *Client) Protocol() string {
	if c.grpc != nil {
		return ProtocolGRPC
	}
	return ProtocolHTTP
}

// Close releases the gRPC connection, and the idle HTTP connections of a
// client New made.
func (c *Client) Close() error {
	if c.grpc != nil {
		c.grpc.close()
	}
	if c.ownHTTP {
		c.http.CloseIdleConnections()
	}
	return nil
}

// Server is the server's base URL, for messages.
func (c *Client) Server() string { return strings.TrimSuffix(c.base.String(), "/nacos") }

// Group is the default group of the client.
func (c *Client) Group() string { return c.group }

// Namespace is the namespace id ("" for public).
func (c *Client) Namespace() string { return c.namespace }

func serverURL(s string) (*url.URL, error) {
	if s == "" {
		s = DefaultServer
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("nacos server %q: want http://HOST:PORT or https://HOST:PORT", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/nacos") {
		u.Path += "/nacos"
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// accessToken logs in when there is no token or it expires within a
// minute (the token lives tokenTtl seconds, 18,000 by default).
func (c *Client) accessToken(ctx context.Context) (string, error) {
	if c.user == "" {
		return "", nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && time.Until(c.expires) > time.Minute {
		return c.token, nil
	}
	form := url.Values{"username": {c.user}, "password": {c.pw}}
	body, status, _, err := c.do(ctx, http.MethodPost, "/v1/auth/login", nil, form, nil)
	if err != nil {
		return "", err
	}
	if status == http.StatusForbidden || status == http.StatusUnauthorized {
		return "", fmt.Errorf("login as %q at %s: %w: %s", c.user, c.Server(), ErrAuth, firstLine(body))
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("login at %s: HTTP %d: %s", c.Server(), status, firstLine(body))
	}
	var ans struct {
		AccessToken string `json:"accessToken"`
		TokenTTL    int64  `json:"tokenTtl"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || ans.AccessToken == "" {
		return "", fmt.Errorf("login at %s: an answer without accessToken: %s", c.Server(), firstLine(body))
	}
	c.token = ans.AccessToken
	c.expires = time.Now().Add(time.Duration(ans.TokenTTL) * time.Second)
	return c.token, nil
}

// call sends one authenticated request: query parameters in q, a form body
// in form (POST/PUT/DELETE), extra headers in h.
func (c *Client) call(ctx context.Context, method, path string, q, form url.Values, h http.Header) ([]byte, int, http.Header, error) {
	token, err := c.accessToken(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	if token != "" {
		if q == nil {
			q = url.Values{}
		}
		q.Set("accessToken", token)
	}
	body, status, hdr, err := c.do(ctx, method, path, q, form, h)
	if err == nil && status == http.StatusForbidden && token != "" {
		return body, status, hdr, fmt.Errorf("%s %s: %w: %s", method, path, ErrAuth, firstLine(body))
	}
	return body, status, hdr, err
}

// maxAnswer bounds what is read of one answer (configuration content is
// at most 10 MiB in Nacos by default).
const maxAnswer = 16 << 20

func (c *Client) do(ctx context.Context, method, path string, q, form url.Values, h http.Header) ([]byte, int, http.Header, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("nacos request: %w", err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("nacos at %s: %w", c.Server(), c.explainHTTPS(ctx, err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, 0, nil, fmt.Errorf("nacos at %s: reading the answer: %w", c.Server(), err)
	}
	if len(b) > maxAnswer {
		return nil, 0, nil, fmt.Errorf("nacos at %s: an answer over %d bytes", c.Server(), maxAnswer)
	}
	return b, resp.StatusCode, resp.Header, nil
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// MD5 is the md5 Nacos keeps of a configuration's content (hex, lower
// case), the value a compare-and-swap publish compares.
func MD5(content string) string {
	sum := md5.Sum([]byte(content))
	return hex.EncodeToString(sum[:])
}

func itoa(n int) string { return strconv.Itoa(n) }

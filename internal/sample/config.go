// Package sample is Graylane's built-in sample app, the stand-in for the
// go-http-sample demo image of the seed documents: an HTTP server that answers
// "<app>(<version>)", optionally followed by what its upstreams answered, so a
// request's path through versions is visible in its response ("appa(v2) ->
// appb(v2)"). The embedded runtime starts it as a local process for every
// replica whose image maps to builtin:sample; docs/sample.md is the contract.
package sample

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/graylane/graylane/internal/cli"
)

// DefaultPropagateHeaders is the default of propagate_headers: the headers an
// OpenTelemetry or Zipkin agent would carry from inbound to outbound requests,
// plus Graylane's lane header. A trailing '*' is a prefix match.
const DefaultPropagateHeaders = "x-graylane,baggage,x-request-id,traceparent,tracestate,x-b3-*"

// Options configures the sample app. Build it with [DefaultOptions] or [Load];
// [Options.Validate] checks one built by hand.
type Options struct {
	// App is the application name shown in responses (env app).
	App string
	// Version is the version shown in responses (env version).
	Version string
	// Upstreams are the URLs called, in order, for every request (env upstream_url,
	// comma-separated). Each is http:// or https:// with a host.
	Upstreams []string
	// Host is the listen address (env HOST); empty means every interface.
	Host string
	// Port is the listen port (env PORT), 0..65535; 0 picks a free port.
	Port int
	// ErrorRate is the fraction of requests answered with 500, 0..1 (env error_rate).
	ErrorRate float64
	// Latency is the delay added to every request (env latency_ms), >= 0.
	Latency time.Duration
	// PropagateHeaders are the inbound header names copied onto outbound calls
	// (env propagate_headers), case-insensitive; a trailing '*' matches a prefix.
	PropagateHeaders []string
	// Inherited: the process was started with its listening socket as file
	// descriptor 3 (socket activation: LISTEN_FDS=1, LISTEN_PID unset or this
	// process), so [Run] serves on it instead of listening on Host:Port.
	// graylane up starts replicas this way: their ports are never free for
	// another process to take.
	Inherited bool
	// PodName and PodUID (env POD_NAME, POD_UID, set by graylane up) are
	// answered on [HealthPath] as X-Pod-Name and X-Pod-Uid, so a readiness
	// probe can tell which replica answered.
	PodName, PodUID string
	// Ready, if set, is called with the listening address once serving.
	Ready func(addr string) `json:"-"`
	// Nacos, when set, is the Nacos discovery mode (see [NacosOptions]);
	// Load sets it when SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR is set.
	// Upstreams named lb://SERVICE/path need it.
	Nacos *NacosOptions
	// Proxy, if set, chooses the proxy of the upstream calls (as
	// http.Transport.Proxy does, by URL); nil reads HTTP_PROXY, HTTPS_PROXY
	// and NO_PROXY from the process environment. A sample host sets it from
	// each replica's own environment.
	Proxy func(*url.URL) (*url.URL, error) `json:"-"`
}

// A Setting is one configuration value: its environment variable, the CLI flag
// of the same meaning, its default (as a flag value) and a help text.
type Setting struct {
	Env     string
	Flag    string
	Default string
	Usage   string
	// emptyIsValue: an environment variable set to "" means an empty list rather
	// than "not set".
	emptyIsValue bool
	set          func(o *Options, v string) error
}

var settings = []Setting{
	{Env: "app", Flag: "app", Default: "sample", Usage: "application name shown in responses",
		set: func(o *Options, v string) error { o.App = v; return nil }},
	{Env: "version", Flag: "version-name", Default: "v1", Usage: "version shown in responses",
		set: func(o *Options, v string) error { o.Version = v; return nil }},
	{Env: "upstream_url", Flag: "upstream-url", Usage: "upstream URLs to call for every request, comma-separated, in order",
		emptyIsValue: true, set: setUpstreams},
	{Env: "HOST", Flag: "host", Default: "127.0.0.1", Usage: "listen address (empty: every interface)",
		set: func(o *Options, v string) error { o.Host = v; return nil }},
	{Env: "PORT", Flag: "port", Default: "8000", Usage: "listen port", set: setPort},
	{Env: "error_rate", Flag: "error-rate", Default: "0", Usage: "fraction of requests answered with 500, 0..1", set: setErrorRate},
	{Env: "latency_ms", Flag: "latency-ms", Default: "0", Usage: "delay added to every request, in milliseconds", set: setLatency},
	{Env: "propagate_headers", Flag: "propagate-headers", Default: DefaultPropagateHeaders,
		Usage:        "inbound headers copied onto upstream calls, comma-separated ('x-b3-*' is a prefix)",
		emptyIsValue: true, set: setPropagate},
}

// Settings lists the configuration values in the order the CLI shows them.
func Settings() []Setting { return slices.Clone(settings) }

// DefaultOptions returns the options used when neither environment nor flags
// say otherwise: app "sample", version "v1", 127.0.0.1:8000, no upstreams, no
// injected errors or latency, [DefaultPropagateHeaders].
func DefaultOptions() Options {
	var o Options
	for _, s := range settings {
		if err := s.set(&o, s.Default); err != nil {
			panic("sample: bad default for " + s.Env + ": " + err.Error())
		}
	}
	return o
}

// Load builds Options from the defaults, then the environment (read through
// lookupEnv, e.g. os.LookupEnv), then flags, which win. flags maps a Setting's
// Flag to the value given on the command line; only flags the user set belong
// in it. An environment variable set to "" counts as unset, except
// upstream_url and propagate_headers where it means "none". Invalid values are
// an *cli.InputError naming the variable or flag.
func Load(lookupEnv func(string) (string, bool), flags map[string]string) (Options, error) {
	o := DefaultOptions()
	// Run by `graylane up`, the default version is the image tag, so a
	// canary made by changing the image shows which one answered.
	if img, ok := lookupEnv("GRAYLANE_IMAGE"); ok {
		if tag := imageTag(img); tag != "" {
			o.Version = tag
		}
	}
	for _, s := range settings {
		var val, src string
		if v, ok := flags[s.Flag]; ok {
			val, src = v, "--"+s.Flag
		} else if v, ok := lookupEnv(s.Env); ok && (v != "" || s.emptyIsValue) {
			val, src = v, s.Env
		} else {
			continue
		}
		if err := s.set(&o, val); err != nil {
			return Options{}, &cli.InputError{Err: fmt.Errorf("invalid %s %q: %w", src, val, err)}
		}
	}
	o.PodName, _ = lookupEnv("POD_NAME")
	o.PodUID, _ = lookupEnv("POD_UID")
	inherited, err := inheritedSocket(lookupEnv, os.Getpid())
	if err != nil {
		return Options{}, &cli.InputError{Err: err}
	}
	o.Inherited = inherited
	if o.Nacos, err = loadNacos(lookupEnv, o.App); err != nil {
		return Options{}, &cli.InputError{Err: err}
	}
	return o, nil
}

// inheritedSocket reads the socket activation variables: LISTEN_FDS=1 passes
// one listening socket as fd 3. LISTEN_PID, when set, must be this process
// (otherwise the variables were meant for another process and are ignored).
func inheritedSocket(lookupEnv func(string) (string, bool), pid int) (bool, error) {
	fds, ok := lookupEnv("LISTEN_FDS")
	if !ok || fds == "" {
		return false, nil
	}
	if p, ok := lookupEnv("LISTEN_PID"); ok && p != "" && p != strconv.Itoa(pid) {
		return false, nil
	}
	switch n, err := strconv.Atoi(fds); {
	case err != nil || n < 0:
		return false, fmt.Errorf("invalid LISTEN_FDS %q: must be a number of sockets", fds)
	case n == 0:
		return false, nil
	case n > 1:
		return false, fmt.Errorf("invalid LISTEN_FDS %q: the sample app serves one socket", fds)
	}
	return true, nil
}

// Validate checks options built by hand; errors are *cli.InputError naming
// the environment variable of the bad field.
func (o Options) Validate() error {
	var errs []error
	add := func(name string, val any, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("invalid %s %v: %w", name, val, err))
		}
	}
	for _, u := range o.Upstreams {
		pu, err := parseUpstream(u)
		if err == nil && lbService(pu) != "" && o.Nacos == nil {
			err = errors.New("lb:// upstreams resolve through Nacos: set SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR")
		}
		add("upstream_url", strconv.Quote(u), err)
	}
	add("PORT", o.Port, checkPort(o.Port))
	add("error_rate", o.ErrorRate, checkErrorRate(o.ErrorRate))
	if o.Latency < 0 {
		add("latency_ms", o.Latency.Milliseconds(), errors.New("must not be negative"))
	}
	for _, p := range o.PropagateHeaders {
		add("propagate_headers", strconv.Quote(p), checkHeaderPattern(p))
	}
	if len(errs) > 0 {
		return &cli.InputError{Err: errors.Join(errs...)}
	}
	return nil
}

func setUpstreams(o *Options, v string) error {
	o.Upstreams = nil
	for _, u := range splitList(v) {
		if _, err := parseUpstream(u); err != nil {
			return err
		}
		o.Upstreams = append(o.Upstreams, u)
	}
	return nil
}

func setPort(o *Options, v string) error {
	p, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return errors.New("must be a port number, 0..65535")
	}
	if err := checkPort(p); err != nil {
		return err
	}
	o.Port = p
	return nil
}

func setErrorRate(o *Options, v string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return errors.New("must be a number between 0 and 1")
	}
	if err := checkErrorRate(f); err != nil {
		return err
	}
	o.ErrorRate = f
	return nil
}

func setLatency(o *Options, v string) error {
	ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return errors.New("must be a whole number of milliseconds")
	}
	if ms < 0 {
		return errors.New("must not be negative")
	}
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return errors.New("too large")
	}
	o.Latency = time.Duration(ms) * time.Millisecond
	return nil
}

func setPropagate(o *Options, v string) error {
	o.PropagateHeaders = nil
	for _, p := range splitList(v) {
		if err := checkHeaderPattern(p); err != nil {
			return err
		}
		o.PropagateHeaders = append(o.PropagateHeaders, p)
	}
	return nil
}

// splitList splits a comma-separated list, trimming spaces and dropping empty
// items.
func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func checkPort(p int) error {
	if p < 0 || p > 65535 {
		return errors.New("must be a port number, 0..65535")
	}
	return nil
}

func checkErrorRate(f float64) error {
	if math.IsNaN(f) || f < 0 || f > 1 {
		return errors.New("must be a number between 0 and 1")
	}
	return nil
}

func parseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "lb" {
		return nil, errors.New("must be an http://, https:// or lb:// URL")
	}
	if u.Host == "" {
		return nil, errors.New("must name a host")
	}
	return u, nil
}

// checkHeaderPattern accepts a header name, or a prefix followed by '*'.
func checkHeaderPattern(p string) error {
	name, _ := strings.CutSuffix(p, "*")
	if name == "" && p != "*" {
		return errors.New("empty header name")
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return fmt.Errorf("%q is not allowed in a header name ('*' only at the end)", name[i])
		}
	}
	return nil
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'+-.^_`|~", c) >= 0
}

// imageTag is the tag of an image reference ("" when it has none).
func imageTag(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	i := strings.LastIndexByte(image, ':')
	if i < 0 || i < strings.LastIndexByte(image, '/') {
		return ""
	}
	return image[i+1:]
}

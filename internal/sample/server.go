package sample

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"golang.org/x/net/http/httpproxy"
)

const shutdownTimeout = 5 * time.Second

// Run listens on o.Host:o.Port, or takes the inherited socket (fd 3) when
// o.Inherited, and serves until ctx ends (see [Serve]). Invalid options are
// an *cli.InputError; a listen failure is a plain error.
func Run(ctx context.Context, o Options, logger *slog.Logger) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Inherited {
		ln, err := inheritedListener()
		if err != nil {
			return err
		}
		return Serve(ctx, ln, o, logger)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(o.Host, strconv.Itoa(o.Port)))
	if err != nil {
		return fmt.Errorf("sample: %w", err)
	}
	return Serve(ctx, ln, o, logger)
}

// inheritedListener takes the listening socket passed as fd 3 (socket
// activation) and removes the activation variables from the environment,
// so that a process started from here does not take them as its own.
func inheritedListener() (net.Listener, error) {
	for _, k := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		_ = os.Unsetenv(k)
	}
	f := os.NewFile(3, "listen-fd-3")
	if f == nil {
		return nil, errors.New("sample: LISTEN_FDS=1 but file descriptor 3 is not open")
	}
	defer f.Close() // FileListener works on a duplicate
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("sample: LISTEN_FDS=1 but file descriptor 3 is not a listening socket: %w", err)
	}
	return ln, nil
}

// Serve serves the sample app on ln until ctx ends, then shuts down
// gracefully: in-flight requests get up to 5 seconds to finish. It takes
// ownership of ln and closes it. It returns nil after a shutdown caused by
// ctx, and an error when serving fails. A nil logger discards the logs.
func Serve(ctx context.Context, ln net.Listener, o Options, logger *slog.Logger) error {
	return serve(ctx, ln, o, logger, nil)
}

// errKilled ends a replica whose kill channel closed.
var errKilled = errors.New("killed")

// serve is Serve, and when kill closes it stops at once, as a killed
// process would: the listener and every connection are closed, in-flight
// requests get no answer, and it returns errKilled.
//
// In the Nacos mode it first reads the imported configurations, registers
// once it serves, and deregisters before it shuts down (a killed app does
// not: its connection to Nacos closes, which drops its instance).
func serve(ctx context.Context, ln net.Listener, o Options, logger *slog.Logger, kill <-chan struct{}) error {
	h, err := NewHandler(o)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer h.CloseIdleConnections()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var d *discovery
	if o.Nacos != nil {
		if d, err = startDiscovery(o.Nacos, h.lbServices(), logger); err != nil {
			_ = ln.Close()
			return fmt.Errorf("sample: %w", err)
		}
		h.resolver = d
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ConnState:         connStateHook, // memory back after a burst (relief.go)
	}
	upstreams := o.Upstreams
	if upstreams == nil {
		upstreams = []string{}
	}
	logger.Info("sample listening", "addr", ln.Addr().String(), "app", o.App, "version", o.Version, "upstreams", upstreams)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if d != nil {
		if err := d.register(ln.Addr().(*net.TCPAddr).Port, o.Version); err != nil {
			_ = srv.Close()
			<-served
			d.close(false)
			return fmt.Errorf("sample: %w", err)
		}
		logger.Info("nacos: registered", "service", o.Nacos.Service, "group", o.Nacos.Group, "ip", o.Nacos.IP, "port", ln.Addr().(*net.TCPAddr).Port)
	}
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	select {
	case err := <-served:
		d.closeIf(true)
		return fmt.Errorf("sample: serve: %w", err)
	case <-kill:
		d.closeIf(false)
		_ = srv.Close()
		<-served
		return errKilled
	case <-ctx.Done():
	}
	d.closeIf(true) // deregistered first: no new calls come by Nacos
	return shutdown(ctx, srv, served, ln.Addr().String(), logger)
}

// shutdown stops srv gracefully: requests in flight get up to 5 seconds.
func shutdown(ctx context.Context, srv *http.Server, served <-chan error, addr string, logger *slog.Logger) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("sample: requests still running after the shutdown timeout; closing them", "timeout", shutdownTimeout, "err", err)
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sample: serve: %w", err)
	}
	logger.Info("sample stopped", "addr", addr)
	return nil
}

// newTransport clones http.DefaultTransport with keep-alive pools sized for a
// benchmark and proxy, or when that is nil a proxy read from the environment
// at this call. Unlike http.ProxyFromEnvironment, which reads the
// environment once per process, a new handler sees the current HTTP_PROXY /
// HTTPS_PROXY / NO_PROXY (and their lowercase forms). As with
// ProxyFromEnvironment, requests to localhost and loopback addresses never
// use the proxy.
func newTransport(proxy func(*url.URL) (*url.URL, error)) *http.Transport {
	if proxy == nil {
		proxy = httpproxy.FromEnvironment().ProxyFunc()
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = func(req *http.Request) (*url.URL, error) { return proxy(req.URL) }
	t.DisableKeepAlives = false
	t.MaxIdleConns = 0 // no overall limit; per host below
	t.MaxIdleConnsPerHost = 64
	t.DialContext = hostConns.dial(t.DialContext) // memory back after a burst (relief.go)
	return t
}

// proxyFunc is httpproxy.FromEnvironment over a replica's environment.
func proxyFunc(lookup func(string) (string, bool)) func(*url.URL) (*url.URL, error) {
	get := func(names ...string) string {
		for _, n := range names {
			if v, ok := lookup(n); ok && v != "" {
				return v
			}
		}
		return ""
	}
	cfg := &httpproxy.Config{
		HTTPProxy:  get("HTTP_PROXY", "http_proxy"),
		HTTPSProxy: get("HTTPS_PROXY", "https_proxy"),
		NoProxy:    get("NO_PROXY", "no_proxy"),
	}
	return cfg.ProxyFunc()
}

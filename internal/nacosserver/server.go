package nacosserver

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
)

// GRPCPortOffset is what Nacos 2.x adds to the HTTP port for its client
// gRPC port (Constants.SDK_GRPC_PORT_DEFAULT_OFFSET; the SDK's
// constant.RpcPortOffset).
const GRPCPortOffset = 1000

// Defaults of Options.
const (
	DefaultAddr        = "127.0.0.1:8848"
	DefaultTokenTTL    = 18000 * time.Second // nacos.core.auth.plugin.nacos.token.expire.seconds
	DefaultBeatCheck   = 5 * time.Second     // ClientBeatCheckTaskV2 period
	DefaultMaxContent  = 10 * 1024 * 1024    // nacos.config.max-content default (10 MiB)
	defaultPushBacklog = 256
)

// Options configures a Server. The zero value serves on DefaultAddr without
// authentication.
type Options struct {
	// Addr is the HTTP listen address (host:port, port 0 picks a free one).
	// gRPC listens on the same host at port + GRPCPortOffset; with port 0
	// the gRPC port is picked separately (see Server.GRPCAddr).
	Addr string
	// Username and Password turn authentication on when Username is set:
	// every call but login then needs the accessToken login returned.
	Username, Password string
	// TokenTTL is how long an access token lives (default DefaultTokenTTL).
	TokenTTL time.Duration
	// BeatCheckInterval is how often instances registered over HTTP are
	// checked for missed beats (default DefaultBeatCheck).
	BeatCheckInterval time.Duration
	// MaxContent bounds a configuration's content in bytes (default DefaultMaxContent).
	MaxContent int
	// Logger receives connection and push events (default: discard).
	Logger *slog.Logger
	// TLS, when set, serves both listeners over TLS with this
	// configuration (its Certificates; ClientAuth and ClientCAs for mutual
	// TLS), as Nacos does with TLS on its SDK gRPC port and an HTTPS
	// web server (see tls.go).
	TLS *tls.Config

	// keepAlive and detectTimeout override the connection ejector's times
	// in tests (default keepAlive and detectTimeout); clientExpired the
	// push receivers' life (default DefaultClientExpired).
	keepAlive, detectTimeout, clientExpired time.Duration
}

// Server is a running registry and config center. Close stops it.
type Server struct {
	opts    Options
	log     *slog.Logger
	naming  *registry
	configs *configStore
	auth    *authenticator
	httpSrv *http.Server
	httpLn  net.Listener
	grpcSrv *grpc.Server
	grpcLn  net.Listener
	rpc     *rpcServer
	// receivers are the v1 clients that asked for pushes (subscribers).
	receivers *pushReceivers
	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeErr  error
	once      sync.Once
	// fresh are the HTTP connections with no request yet (http.StateNew):
	// http.Server.Shutdown waits 5 s for those, a client's spare dial
	// among them, so shutdown closes them itself.
	freshMu sync.Mutex
	fresh   map[net.Conn]struct{}
}

// Start listens on opts.Addr (HTTP) and its port + 1000 (gRPC) and serves
// until Close or until ctx ends.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.BeatCheckInterval <= 0 {
		opts.BeatCheckInterval = DefaultBeatCheck
	}
	if opts.MaxContent <= 0 {
		opts.MaxContent = DefaultMaxContent
	}
	if opts.keepAlive <= 0 {
		opts.keepAlive = keepAlive
	}
	if opts.detectTimeout <= 0 {
		opts.detectTimeout = detectTimeout
	}
	if opts.clientExpired <= 0 {
		opts.clientExpired = DefaultClientExpired
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	httpLn, grpcLn, err := listen(opts.Addr)
	if err != nil {
		return nil, err
	}

	ctx, stop := context.WithCancel(ctx)
	s := &Server{opts: opts, log: log, httpLn: httpLn, grpcLn: grpcLn, stop: stop}
	s.auth = newAuthenticator(opts.Username, opts.Password, opts.TokenTTL)
	s.rpc = newRPCServer(s)
	s.receivers = newPushReceivers(opts.clientExpired)
	s.naming = newRegistry(s.rpc.pushService)
	s.configs = newConfigStore(s.rpc.pushConfigChange)
	s.httpSrv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second, ConnState: s.trackFresh}
	s.httpTLS()
	s.grpcSrv = grpc.NewServer(append(opts.grpcTLS(), grpc.StatsHandler(s.rpc), grpc.MaxRecvMsgSize(opts.MaxContent*2+64*1024))...)
	s.rpc.register(s.grpcSrv)

	s.wg.Add(5)
	go func() {
		defer s.wg.Done()
		s.rpc.ejectIdle(ctx)
	}()
	go func() {
		defer s.wg.Done()
		if err := s.serveHTTP(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("nacos http server", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := s.grpcSrv.Serve(grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			log.Error("nacos grpc server", "err", err)
		}
	}()
	go s.expireLoop(ctx, opts.BeatCheckInterval)
	go func() {
		defer s.wg.Done()
		<-ctx.Done()
		s.shutdown()
	}()
	log.Info("nacos server listening", "http", httpLn.Addr().String(), "grpc", grpcLn.Addr().String(), "auth", opts.Username != "", "tls", opts.TLS != nil)
	return s, nil
}

// expireLoop runs the beat check and the push receivers' expiry on one
// ticker until ctx ends (one of Start's goroutines: s.wg counts it).
func (s *Server) expireLoop(ctx context.Context, every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.naming.expire()
			s.receivers.expire()
		}
	}
}

// listen opens the HTTP listener on addr and the gRPC one on its port +
// GRPCPortOffset. With port 0 the HTTP port is picked until one whose
// port + 1000 is free too comes up (so clients that derive the gRPC port,
// as the official ones do, connect); only after pairPicks tries does gRPC
// fall back to any free port.
func listen(addr string) (httpLn, grpcLn net.Listener, err error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("nacos address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535-GRPCPortOffset {
		return nil, nil, fmt.Errorf("nacos address %q: port must be 0..%d (gRPC listens on port + %d)", addr, 65535-GRPCPortOffset, GRPCPortOffset)
	}
	const pairPicks = 64
	for try := 1; ; try++ {
		httpLn, err = net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen nacos http: %w", err)
		}
		grpcPort := httpLn.Addr().(*net.TCPAddr).Port + GRPCPortOffset
		if grpcPort <= 65535 {
			grpcLn, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(grpcPort)))
		} else {
			err = fmt.Errorf("port %d is over 65535", grpcPort)
		}
		if err == nil {
			return httpLn, grpcLn, nil
		}
		if port != 0 {
			httpLn.Close()
			return nil, nil, fmt.Errorf("listen nacos grpc: %w", err)
		}
		if try == pairPicks {
			if grpcLn, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
				httpLn.Close()
				return nil, nil, fmt.Errorf("listen nacos grpc: %w", err)
			}
			return httpLn, grpcLn, nil
		}
		httpLn.Close()
	}
}

// HTTPAddr is the address the v1 HTTP API listens on.
func (s *Server) HTTPAddr() string { return s.httpLn.Addr().String() }

// GRPCAddr is the address the 2.x gRPC protocol listens on.
func (s *Server) GRPCAddr() string { return s.grpcLn.Addr().String() }

// Close stops both listeners, ends open long polls and gRPC streams, and
// waits for the server's goroutines.
func (s *Server) Close() error {
	s.stop()
	s.wg.Wait()
	return s.closeErr
}

func (s *Server) shutdown() {
	s.once.Do(func() {
		s.configs.close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done := make(chan struct{})
		go s.closeFresh(done)
		err := s.httpSrv.Shutdown(ctx)
		close(done)
		if err != nil {
			s.closeErr = fmt.Errorf("stop nacos http server: %w", err)
			s.httpSrv.Close()
		}
		s.grpcSrv.Stop()
	})
}

// trackFresh is the HTTP server's ConnState hook: it keeps the
// connections that have not sent a request yet.
func (s *Server) trackFresh(c net.Conn, st http.ConnState) {
	s.freshMu.Lock()
	defer s.freshMu.Unlock()
	if st == http.StateNew {
		if s.fresh == nil {
			s.fresh = map[net.Conn]struct{}{}
		}
		s.fresh[c] = struct{}{}
		return
	}
	delete(s.fresh, c)
}

// closeFresh closes the connections without a request while Shutdown
// waits (one accepted just before the listener closed included), until
// done: every long poll has ended, so these are all that could hold it.
func (s *Server) closeFresh(done <-chan struct{}) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		s.freshMu.Lock()
		for c := range s.fresh {
			_ = c.Close()
		}
		s.freshMu.Unlock()
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// randomToken is 52 random base32 characters (crypto/rand.Text twice).
func randomToken() string { return rand.Text() + rand.Text() }

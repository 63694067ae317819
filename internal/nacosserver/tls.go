package nacosserver

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// TLS mode. Nacos serves its SDK gRPC port over TLS when its TlsConfig says
// enableTls (nacos.remote.server.rpc.tls.* in RpcServerTlsConfig,
// com.alibaba.nacos.core.remote.tls, Nacos 2.2; the SDK port's own
// RpcSdkServerTlsConfig in later versions), with mutualAuthEnable asking
// clients for a certificate signed by trustCollectionCertFile, and
// its HTTP port over HTTPS through Spring Boot's server.ssl.*. The official
// Go client then dials the gRPC port with TLS credentials (nacos-sdk-go/v2
// common/remote/rpc/grpc_client.go getTLSCredentials) and the HTTP API
// with an https:// scheme (common/http_agent). Options.TLS turns both on
// at once, with one configuration.

// grpcTLS is the gRPC server's transport credentials in TLS mode.
func (o Options) grpcTLS() []grpc.ServerOption {
	if o.TLS == nil {
		return nil
	}
	// credentials.NewTLS clones the configuration and adds "h2" to its
	// NextProtos, as gRPC needs.
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(o.TLS))}
}

// httpTLS sets the HTTP server up for TLS mode: its configuration, and
// its log (failed handshakes: a client that does not trust the server or
// shows no certificate) into the server's logger.
func (s *Server) httpTLS() {
	if s.opts.TLS == nil {
		return
	}
	s.httpSrv.TLSConfig = s.opts.TLS.Clone()
	s.httpSrv.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelInfo)
}

// serveHTTP serves the HTTP API on ln: HTTPS (HTTP/2 and HTTP/1.1) in TLS
// mode.
func (s *Server) serveHTTP(ln net.Listener) error {
	if s.opts.TLS == nil {
		return s.httpSrv.Serve(ln)
	}
	return s.httpSrv.ServeTLS(ln, "", "") // the certificates are in TLSConfig
}

// TLS says whether the server serves TLS (Options.TLS).
func (s *Server) TLS() bool { return s.opts.TLS != nil }

// URL is the base URL of the HTTP API: http://ADDR, or https://ADDR in
// TLS mode.
func (s *Server) URL() string {
	if s.TLS() {
		return "https://" + s.HTTPAddr()
	}
	return "http://" + s.HTTPAddr()
}

// LoadTLS is the TLS configuration of a server from PEM files: its
// certificate (chain) and key, and, when clientCAFile is set, the CAs a
// client's certificate must be signed by (mutual TLS: a client without
// one is refused). An error names the file.
func LoadTLS(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, fmt.Errorf("nacos TLS: a client CA file (%s) needs the server's certificate and key files", clientCAFile)
	}
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("nacos TLS: a certificate file needs its key file and the other way round (certificate %q, key %q)", certFile, keyFile)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("nacos TLS certificate %s with key %s: %w", certFile, keyFile, err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if clientCAFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(clientCAFile)
	if err != nil {
		return nil, fmt.Errorf("nacos TLS client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("nacos TLS client CA file %s: no PEM certificate in it", clientCAFile)
	}
	c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, pool
	return c, nil
}

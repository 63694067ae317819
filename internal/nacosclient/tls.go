package nacosclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// TLS. An https:// server means TLS on both the HTTP API and the gRPC port
// (the port + 1000), as the official Go client does with its TLSConfig
// enabled (nacos-sdk-go/v2 v2.3.2: common/remote/rpc/grpc_client.go
// createNewConnection and getTLSCredentials for gRPC, common/http_agent
// and common/tls for HTTP). TLSOptions are the SDK's TLSConfig fields:
// CaFile, CertFile and KeyFile (mutual TLS), ServerNameOverride,
// TrustAll. Where the SDK is lax this client is not:
//   - the SDK's HTTP agent trusts any certificate when no CA file is given
//     (common/tls NewTLS); here, as in its gRPC client, the system roots
//     are trusted plus the CA file, and only InsecureSkipVerify trusts all;
//   - the SDK's gRPC client ignores a CA file it cannot read or parse,
//     both its clients a certificate without its key, and a key pair that
//     does not load ends the SDK's process (log.Fatalf); here each is an
//     error naming the file;
//   - the SDK's gRPC client ignores ServerNameOverride; here it is the name
//     both the HTTP and the gRPC connection verify.

// TLSOptions say whom an https:// server is trusted as, and who this
// client is to a server that asks for a client certificate.
type TLSOptions struct {
	// CAFile is a PEM file of CA certificates trusted besides the system's
	// (the SDK's CaFile).
	CAFile string
	// CertFile and KeyFile are the client's certificate (chain) and key,
	// PEM, for a server that requires mutual TLS; both or neither.
	CertFile, KeyFile string
	// ServerName is the name the server's certificate must carry when it
	// is not the URL's host (the SDK's ServerNameOverride).
	ServerName string
	// InsecureSkipVerify trusts any certificate (the SDK's TrustAll): for
	// tests only, it gives away what TLS protects.
	InsecureSkipVerify bool
}

// Environment variables OptionsFromEnv reads TLSOptions from.
const (
	EnvCAFile             = "GRAYLANE_NACOS_CA_FILE"
	EnvCertFile           = "GRAYLANE_NACOS_CERT_FILE"
	EnvKeyFile            = "GRAYLANE_NACOS_KEY_FILE"
	EnvServerName         = "GRAYLANE_NACOS_SERVER_NAME"
	EnvInsecureSkipVerify = "GRAYLANE_NACOS_INSECURE_SKIP_VERIFY"
)

func tlsFromEnv(get func(string) string) (TLSOptions, error) {
	o := TLSOptions{CAFile: get(EnvCAFile), CertFile: get(EnvCertFile), KeyFile: get(EnvKeyFile), ServerName: get(EnvServerName)}
	if v := get(EnvInsecureSkipVerify); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("%s=%q: want true or false", EnvInsecureSkipVerify, v)
		}
		o.InsecureSkipVerify = b
	}
	return o, nil
}

// IsSet says whether any TLS option is given.
func (o TLSOptions) IsSet() bool { return o != TLSOptions{} }

// TLSFileError is a CA, certificate or key file that cannot be used; Path
// names it.
type TLSFileError struct {
	What, Path string
	Err        error
}

func (e *TLSFileError) Error() string {
	return fmt.Sprintf("nacos TLS %s %s: %v", e.What, e.Path, e.Err)
}

func (e *TLSFileError) Unwrap() error { return e.Err }

// Check reads the files the options name, without contacting any server:
// an error is a *TLSFileError naming the file, or a certificate without
// its key.
func (o TLSOptions) Check() error {
	_, err := o.config()
	return err
}

// config is the client's TLS configuration (getTLSCredentials): the system
// roots plus CAFile, the client certificate, the server name.
func (o TLSOptions) config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName, InsecureSkipVerify: o.InsecureSkipVerify}
	if o.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		b, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, &TLSFileError{What: "CA file", Path: o.CAFile, Err: unwrapPath(err)}
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, &TLSFileError{What: "CA file", Path: o.CAFile, Err: errors.New("no PEM certificate in it")}
		}
		c.RootCAs = pool
	}
	switch {
	case o.CertFile == "" && o.KeyFile == "":
		return c, nil
	case o.CertFile == "":
		return nil, fmt.Errorf("nacos TLS key file %s: it needs its certificate file", o.KeyFile)
	case o.KeyFile == "":
		return nil, fmt.Errorf("nacos TLS certificate file %s: it needs its key file", o.CertFile)
	}
	certPEM, err := os.ReadFile(o.CertFile)
	if err != nil {
		return nil, &TLSFileError{What: "certificate file", Path: o.CertFile, Err: unwrapPath(err)}
	}
	keyPEM, err := os.ReadFile(o.KeyFile)
	if err != nil {
		return nil, &TLSFileError{What: "key file", Path: o.KeyFile, Err: unwrapPath(err)}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &TLSFileError{What: "certificate and key files", Path: o.CertFile + ", " + o.KeyFile, Err: err}
	}
	c.Certificates = []tls.Certificate{pair}
	return c, nil
}

// unwrapPath drops the path an *os.PathError repeats ("open PATH: no such
// file or directory" becomes "open: no such file or directory").
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// explainTLS adds what to do to an error of a TLS connection (tlsHint).
func explainTLS(err error) error {
	if hint := tlsHint(err); hint != "" {
		return fmt.Errorf("%w (%s)", err, hint)
	}
	return err
}

// tlsHint says what to do about an error of a TLS connection: an
// untrusted certificate, one for another name, a server that wants a
// client certificate, or no TLS at the other end; "" for other errors.
// gRPC reports these as text in a status, so the text is matched as well
// as the x509 error types.
func tlsHint(err error) string {
	if err == nil {
		return ""
	}
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	msg := err.Error()
	switch {
	case errors.As(err, &unknown) || strings.Contains(msg, "certificate signed by unknown authority"):
		return "the server's certificate is signed by an unknown authority: trust its CA with a CA file"
	case errors.As(err, &host) || strings.Contains(msg, "certificate is valid for") || strings.Contains(msg, "doesn't contain any IP SANs"):
		return "the server's certificate is for another name: connect by a name it carries, or set the server name to one"
	case strings.Contains(msg, "certificate required") || strings.Contains(msg, "bad certificate") || strings.Contains(msg, "unknown certificate authority"):
		return "the server requires a client certificate it trusts (mutual TLS): give a certificate and key file"
	case strings.Contains(msg, "server gave HTTP response to HTTPS client") || strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "the server does not speak TLS there: use an http:// server"
	}
	return ""
}

// probeWait is how long probeTLS waits for the server to send something
// after the handshake.
const probeWait = 2 * time.Second

// probeTLS makes a TLS connection to addr, offering protocol (ALPN), and
// reads what the server sends first, to learn why connections fail: in
// TLS 1.3 a server refuses a client certificate (or its absence) only
// after the client's handshake is done, with an alert that a client
// writing its first request at that moment can miss (it sees a broken
// pipe or a reset instead). A gRPC server sends its HTTP/2 settings at
// once; an HTTP/1.1 server waits for a request, and a read that times out
// is no error.
func probeTLS(ctx context.Context, addr string, cfg *tls.Config, protocol string) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	c := cfg.Clone()
	c.NextProtos = []string{protocol}
	if c.ServerName == "" {
		c.ServerName, _, _ = net.SplitHostPort(addr)
	}
	tc := tls.Client(conn, c)
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	_ = tc.SetReadDeadline(time.Now().Add(probeWait))
	_, err = tc.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	return err
}

// explainHTTPS adds what to do to a failed HTTPS call: from the error
// itself, or, when it says nothing of TLS (a broken pipe, a reset), from
// a probe of the server.
func (c *Client) explainHTTPS(ctx context.Context, err error) error {
	if c.tls == nil || ctx.Err() != nil {
		return err
	}
	if hint := tlsHint(err); hint != "" {
		return fmt.Errorf("%w (%s)", err, hint)
	}
	if hint := tlsHint(probeTLS(ctx, net.JoinHostPort(c.base.Hostname(), strconv.Itoa(httpPort(c.base))), c.tls, "http/1.1")); hint != "" {
		return fmt.Errorf("%w (%s)", err, hint)
	}
	return err
}
